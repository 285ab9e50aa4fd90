"""What one grpcio round trip costs on this machine (docs/scaling.md, docs/decisions.md): a
peer call's floor. An echo server (grpc.aio, one process) and a client (another), unary
calls of a few bytes over TLS with the tests' certificates, as replicas make them:
back to back, and after 1 ms and 10 ms idle between calls.

    python -m benchmarks.grpc_roundtrip [--calls 300]

Writes benchmarks/results/grpc-roundtrip-*.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "python"))

from saeta import certs  # noqa: E402

METHOD = "/bench.Echo/Echo"


async def serve(port: int, ca: Path) -> None:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(echo)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
    credentials = grpc.ssl_server_credentials(
        [((ca / "server.key").read_bytes(), (ca / "server.crt").read_bytes())],
        root_certificates=(ca / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    await server.start()
    await server.wait_for_termination()


async def measure(port: int, ca: Path, calls: int) -> dict[str, Any]:
    replica = ca / "replicas" / "bench"
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(ca / "ca.crt").read_bytes(),
        private_key=(replica / "replica.key").read_bytes(),
        certificate_chain=(replica / "replica.crt").read_bytes(),
    )
    async with grpc.aio.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as channel:
        call = channel.unary_unary(METHOD)
        await channel.channel_ready()
        for _ in range(50):
            await call(b"warm")
        out: dict[str, Any] = {}
        for gap_ms in (0, 1, 10):
            took = []
            for _ in range(calls):
                started = time.perf_counter()
                await call(b"x" * 16)
                took.append((time.perf_counter() - started) * 1000)
                if gap_ms:
                    await asyncio.sleep(gap_ms / 1000)
            took.sort()
            out[f"idle_{gap_ms}ms"] = {
                "median_ms": round(statistics.median(took), 3),
                "p90_ms": round(took[int(len(took) * 0.9)], 3),
            }
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(int(args.serve[0]), Path(args.serve[1])))
        return 0
    from tests.system.harness import free_port

    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp)
        certs.init_ca(ca)
        certs.issue_replica(ca, "bench")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.grpc_roundtrip", "--serve", str(port), str(ca)], cwd=ROOT
        )
        try:
            time.sleep(1.5)
            point = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv), "calls": args.calls}
            point.update(asyncio.run(measure(port, ca, args.calls)))
        finally:
            server.kill()
            server.wait()
    print(json.dumps(point))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"grpc-roundtrip-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(point, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
