"""The Flight DoGet's saeta-compression header (docs/flight.md, "Compression"), bounded."""

from __future__ import annotations

from saeta.core import browser_protocol as bp
from saeta.gateway.flight_get import client_codecs


def test_the_header_names_the_codecs_a_flight_client_decodes() -> None:
    assert client_codecs([("authorization", "Bearer x"), ("saeta-compression", "zstd, lz4")]) == ("zstd", "lz4")
    assert client_codecs([("authorization", "Bearer x")]) == ()
    assert client_codecs(None) == ()
    assert client_codecs([("saeta-compression", b"zstd")]) == ()  # a binary header is not a list of names


def test_the_header_is_bounded() -> None:
    many = ",".join(["lz4"] * 100)
    assert len(client_codecs([("saeta-compression", many)])) == bp.MAX_CODECS
    long_name = "z" * (bp.MAX_CODEC_CHARS + 1)
    assert client_codecs([("saeta-compression", f"{long_name},zstd,,")]) == ("zstd",)
