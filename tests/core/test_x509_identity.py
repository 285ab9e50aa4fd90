"""A peer certificate's identity, read without files or sockets."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from saeta import certs
from saeta.core.x509_identity import certificate_serial, der_identity


def test_the_cn_and_serial_of_a_client_certificate(tmp_path: Path) -> None:
    certs.init_ca(tmp_path)
    pem = certs.issue_client(tmp_path, "acme").cert.read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert der_identity(der) == ("acme", certificate_serial(pem))


def test_garbage_names_nobody() -> None:
    assert der_identity(b"") == (None, None)
    assert der_identity(b"\x30\x03\x02\x01\x01") == (None, None)
    assert certificate_serial(b"not a pem") is None
