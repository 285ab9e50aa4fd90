"""Compression on the tunnel (docs/tunnel.md, "Compression") with real connectors: each
codec, off, and auto on both sides of its round-trip threshold (one of them across a real
toxiproxy link with 5 ms each way), serving the same file to one gateway. What a client
receives is the same frames, byte for byte, whatever the tunnel carried; the connectors'
own logs show what they sent."""

from __future__ import annotations

import json
import re
import struct
from typing import Any

import grpc
import httpx
import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
from saeta import certs
from saeta.client import Client
from saeta.flight import flight_pb2 as fpb
from saeta.relay import EOS

from tests.system.flight import bearer, connect
from tests.system.harness import Deployment, big_dataset
from tests.system.test_http_query import frames
from tests.system.toxiproxy import Link, Toxiproxy

pytestmark = pytest.mark.system

# tenant -> its connector's performance section
TENANTS: dict[str, dict[str, Any]] = {
    "zstd": {"compression": "zstd"},
    "lz4": {"compression": "lz4"},
    "off": {"compression": "off"},
    "auto-near": {},  # auto, loopback: its round trip is under 5 ms, nothing compressed
    "auto-far": {"compression_rtt_ms": 0},  # auto, whatever the round trip: compressed
}
WAN = "auto-wan"  # auto across a link with a 10 ms round trip (over the 5 ms threshold)


# DoGet on grpcio (the shipped default: one port) and on the Rust data plane (data_port).
@pytest.fixture(scope="module", params=["grpcio", "data-plane"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    dep = Deployment(tmp_path_factory.mktemp("compression"))
    certs.init_ca(dep.certs)
    proxy = Toxiproxy(dep.root / "toxiproxy.log", Link(0, 5))
    try:
        dep.start_control_plane()
        plane = {"data_port": None} if request.param == "grpcio" else {}
        dep.start_gateway(flight={"port": dep.flight_port}, **plane)
        dataset = big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}
        for tenant, perf in TENANTS.items():
            dep.start_connector(tenant, {"ventas": dataset}, max_chunk_size=16384, **perf)
        # Its round trip is measured on the tunnel's heartbeats (the data plane's port is
        # dialled directly, not through the proxy: the decision is the tunnel's).
        via = proxy.proxy("wan", dep.grpc_port)
        dep.start_connector(WAN, {"ventas": dataset}, via_port=via, max_chunk_size=16384)
        yield dep
    finally:
        dep.stop()
        proxy.stop()


def body_frames(dep: Deployment, tenant: str, codecs: list[str] | None = None) -> list[tuple[int, bytes]]:
    """A query's frames over HTTP; ``codecs``: the query's "compression" (none: not sent)."""
    body: dict[str, Any] = {"action": "query", "id": "q", "dataset": "ventas"}
    if codecs is not None:
        body["compression"] = codecs
    headers = {"authorization": f"Bearer {dep.session(tenant)}"}
    with httpx.stream("POST", f"{dep.web_url()}/query", content=json.dumps(body), headers=headers, timeout=60) as resp:
        assert resp.status_code == 200
        return list(frames(resp.iter_bytes()))


def bytes_sent(dep: Deployment, tenant: str) -> int:
    """What ``tenant``'s connector logged it sent for its queries' partitions."""
    log = next(p for p in dep.procs if p.name == f"connector-{tenant}").text()
    return sum(int(n) for n in re.findall(r"partition \d+: \d+ rows, (\d+) bytes", log))


def test_every_codec_gives_a_client_the_same_frames(site: Deployment) -> None:
    got = {tenant: body_frames(site, tenant) for tenant in [*TENANTS, WAN]}
    want = pq.read_table(site.root / "data" / "v.parquet")
    for tenant, answer in got.items():
        binary = [f for k, f in answer if k == 2]
        assert pa.ipc.open_stream(b"".join(f[8:] for f in binary)).read_all().equals(want), tenant
        # The same frames (the 8-byte header names the query, the same in each) and the same end.
        assert binary == [f for k, f in got["off"] if k == 2], tenant
        assert [f for k, f in answer if k == 1] == [f for k, f in got["off"] if k == 1], tenant
    sent = {tenant: bytes_sent(site, tenant) for tenant in [*TENANTS, WAN]}
    # What crossed the tunnel: less with each codec, as much as off with auto on loopback.
    assert sent["zstd"] < sent["lz4"] < 0.9 * sent["off"], sent
    assert sent["auto-near"] == sent["off"], sent
    assert sent["auto-far"] == sent["zstd"], sent  # auto prefers zstd
    assert sent[WAN] == sent["zstd"], sent  # a measured round trip over the threshold


def test_the_python_client_reads_a_compressed_tunnel(site: Deployment) -> None:
    with Client.connect(site.ws_url, site.session("lz4")) as client:
        table = client.query("ventas", columns=["id", "total"], limit=100_000)
    want = pq.read_table(site.root / "data" / "v.parquet", columns=["id", "total"]).slice(0, 100_000)
    assert table.equals(want)


def binary(answer: list[tuple[int, bytes]]) -> list[bytes]:
    return [f for k, f in answer if k == 2]


def test_a_client_that_decodes_the_codec_gets_the_batches_compressed(site: Deployment) -> None:
    want = pq.read_table(site.root / "data" / "v.parquet")
    off = binary(body_frames(site, "off"))
    passed = binary(body_frames(site, "zstd", ["zstd", "lz4"]))
    assert pa.ipc.open_stream(b"".join(f[8:] for f in passed)).read_all().equals(want)
    # As the connector sent them: a third of the bytes, not decompressed at the gateway.
    assert sum(map(len, passed)) < 0.5 * sum(map(len, off)), (sum(map(len, passed)), sum(map(len, off)))
    # A codec the client did not name, or a client that names none: decompressed, as ever.
    assert binary(body_frames(site, "lz4", ["zstd"])) == off
    assert binary(body_frames(site, "zstd", [])) == off


def flight_read(dep: Deployment, tenant: str, header: str | None) -> tuple[pa.Table, int]:
    """The dataset through the Flight endpoint with a raw gRPC DoGet (to see the bodies as
    sent): the table decoded from its FlightData, and the bytes of their bodies."""
    token = dep.session(tenant)
    command = fl.FlightDescriptor.for_command(json.dumps({"dataset": "ventas", "ordered": True}))
    info = connect(dep).get_flight_info(command, bearer(token))
    metadata = [("authorization", f"Bearer {token}"), *([("saeta-compression", header)] if header else [])]
    ca = grpc.ssl_channel_credentials((dep.certs / "ca.crt").read_bytes())
    options = [("grpc.ssl_target_name_override", "localhost"), ("grpc.max_receive_message_length", -1)]
    stream, body_bytes = [], 0
    with grpc.secure_channel(f"127.0.0.1:{dep.flight_port}", ca, options=options) as channel:
        doget = channel.unary_stream(
            "/arrow.flight.protocol.FlightService/DoGet",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=fpb.FlightData.FromString,
        )
        for endpoint in info.endpoints:
            for data in doget(fpb.Ticket(ticket=endpoint.ticket.ticket), metadata=metadata, timeout=60):
                head = data.data_header + b"\0" * (-len(data.data_header) % 8)
                stream.append(b"\xff\xff\xff\xff" + struct.pack("<i", len(head)) + head + data.data_body)
                body_bytes += len(data.data_body)
    return pa.ipc.open_stream(b"".join(stream) + EOS).read_all(), body_bytes


def test_flight_passes_compressed_batches_to_a_client_that_asks(site: Deployment) -> None:
    want = pq.read_table(site.root / "data" / "v.parquet")
    plain, plain_bytes = flight_read(site, "zstd", None)
    asked, asked_bytes = flight_read(site, "zstd", "zstd, lz4")
    other, other_bytes = flight_read(site, "zstd", "lz4")
    assert plain.equals(want) and asked.equals(want) and other.equals(want)
    assert asked_bytes < 0.5 * plain_bytes, (asked_bytes, plain_bytes)
    assert other_bytes == plain_bytes  # lz4 named, zstd sent: decompressed
