"""Compression on the tunnel (docs/tunnel.md, "Compression") with real connectors: each
codec, off, and auto on both sides of its round-trip threshold (one of them across a real
toxiproxy link with 5 ms each way), serving the same file to one gateway. What a client
receives is the same frames, byte for byte, whatever the tunnel carried; the connectors'
own logs show what they sent."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta import certs
from saeta.client import Client

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
        dep.start_gateway(**({"data_port": None} if request.param == "grpcio" else {}))
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


def body_frames(dep: Deployment, tenant: str) -> list[tuple[int, bytes]]:
    body = {"action": "query", "id": "q", "dataset": "ventas"}
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
