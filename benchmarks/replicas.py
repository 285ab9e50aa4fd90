"""Several gateway replicas (docs/scaling.md), with real processes on this machine:

1. forwarded against local: the same query (2M x 7 Parquet, read whole, not decoded) on
   the replica holding the connector's tunnel, on one that forwards it with direct data
   (replica.data_address: the connector sends to it), and on one that forwards it
   relayed through the holder (no data_address), runs interleaved: throughput ratios
   and time to the first binary frame. Every replica serves DoGet from Rust
   (data_port), the local one's best configuration.
2. failover: 3 replicas behind HAProxy, a connector holding tunnels to two; a resumable
   query read until it is mid-stream, then the replica its socket is on is SIGKILLed:
   the time from the kill to the first batch the client gets after resuming; p50 and
   max over ``--failovers`` runs (the replica is started again between runs).
3. 600 sessions at once behind HAProxy, spread over the 3 replicas, each reading a
   10,000-row dataset: all complete; p50 / p99 completion.
4. Redis costs: the bytes one tenant's presence takes in Redis and the commands one
   refresh round sends, for the figures on paper in docs/scaling.md.

    python -m benchmarks.replicas [--runs 30] [--failovers 20] [--sessions 600]

Writes benchmarks/results/replicas-*.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402
import redis  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.client import AsyncClient  # noqa: E402
from saeta.core.session_token import fingerprint  # noqa: E402
from saeta.demo_data import ventas  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from benchmarks.procstat import cpu_seconds  # noqa: E402
from tests.system.harness import Deployment, free_port, wait_for  # noqa: E402
from tests.system.redis_server import RedisServer  # noqa: E402
from tests.system.replicas import HAProxy, Replica, start_connector_on, start_replica  # noqa: E402

ROWS = 2_000_000


async def read_raw(url: str) -> tuple[float, float, int]:
    """(seconds to the first binary data frame after the schema, seconds in all, bytes)."""
    started = time.perf_counter()
    first = None
    nbytes = frames = 0
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"action": "query", "id": "q", "dataset": "ventas"}))
        while True:
            frame = await asyncio.wait_for(ws.recv(), 300)
            if isinstance(frame, bytes):
                frames += 1
                nbytes += len(frame)
                if frames == 2 and first is None:
                    first = time.perf_counter() - started
                continue
            message = json.loads(frame)
            if message["type"] == "error":
                raise RuntimeError(message)
            if message["type"] == "end":
                return first or 0.0, time.perf_counter() - started, nbytes


def forwarded_vs_local(root: Path, runs: int) -> dict[str, Any]:
    dep = Deployment(root)
    certs.init_ca(dep.certs)
    server = RedisServer(root / "redis")
    server.start()
    try:
        data = root / "data"
        data.mkdir()
        pq.write_table(ventas(ROWS, seed=1), data / "ventas.parquet", row_group_size=131072)
        dep.start_control_plane(redis_url=server.url)
        replicas = []
        for name, direct in (("local", None), ("direct", "direct"), ("relaying", None)):
            cert_dir = dep.certs / "replicas" / name
            if not cert_dir.exists():
                certs.issue_replica(dep.certs, name)
            # presence_seconds at its default (the tests' 3 s would expire every kept lookup
            # between two runs): a forwarded query as in production.
            replica = start_replica(
                dep, name, server.url, data_port=free_port(), data_address=direct, presence_seconds=15
            )
            replicas.append(replica)
        local, direct_replica, relaying = replicas
        start_connector_on(
            dep, "acme", {"ventas": {"type": "parquet", "path": "data/ventas.parquet"}}, local.grpc_port, connections=1
        )
        wait_for(lambda: local.connectors() == 1, 30, "the connector")
        wait_for(lambda: server.client().zcard("saeta:holders:acme") == 1, 30, "presence")
        session = dep.session("acme")
        kinds = (("local", local), ("forwarded_direct", direct_replica), ("forwarded_relayed", relaying))
        samples: dict[str, list[tuple[float, float, int]]] = {kind: [] for kind, _ in kinds}
        pids = {"connector": dep.procs[-1].popen.pid, **{r.name: r.proc.popen.pid for r in replicas}}
        cpu: dict[str, dict[str, float]] = {kind: dict.fromkeys(pids, 0.0) for kind, _ in kinds}
        for _, replica in kinds:  # warm every path once
            asyncio.run(read_raw(f"{replica.ws_url}/stream/{session}"))
        for _ in range(runs):
            for kind, replica in kinds:
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                samples[kind].append(asyncio.run(read_raw(f"{replica.ws_url}/stream/{session}")))
                for name, pid in pids.items():
                    cpu[kind][name] += cpu_seconds(pid) - before[name]
        out: dict[str, Any] = {}
        for kind, rows in samples.items():
            mbps = [b / s / 1e6 for _, s, b in rows]
            gigabytes = sum(b for _, _, b in rows) / 1e9
            out[kind] = {
                "mb_per_s_median": round(statistics.median(mbps), 1),
                "first_frame_ms_median": round(statistics.median(f for f, _, _ in rows) * 1000, 2),
                "cpu_seconds_per_gb": {name: round(v / gigabytes, 2) for name, v in cpu[kind].items()},
                "runs": [{"first_ms": round(f * 1000, 2), "seconds": round(s, 3), "bytes": b} for f, s, b in rows],
            }
        for kind in ("forwarded_direct", "forwarded_relayed"):
            name = kind.removeprefix("forwarded_")
            out[f"{name}_throughput_ratio"] = round(out[kind]["mb_per_s_median"] / out["local"]["mb_per_s_median"], 3)
            out[f"{name}_first_frame_extra_ms"] = round(
                out[kind]["first_frame_ms_median"] - out["local"]["first_frame_ms_median"], 2
            )
            # Each forwarded run follows a local one: the median of the runs' own differences
            # (the drift of a noisy machine cancels out in each pair).
            pairs = zip(samples["local"], samples[kind], strict=True)
            out[f"{name}_first_frame_extra_ms_paired"] = round(
                statistics.median((there - here) for (here, _, _), (there, _, _) in pairs) * 1000, 2
            )
        return out
    finally:
        dep.stop()
        server.stop()


def _cluster(root: Path, datasets: dict[str, Any]) -> tuple[Deployment, RedisServer, list[Replica], HAProxy]:
    dep = Deployment(root)
    certs.init_ca(dep.certs)
    server = RedisServer(root / "redis")
    server.start()
    dep.start_control_plane(redis_url=server.url)
    replicas = [start_replica(dep, name, server.url) for name in ("r1", "r2", "r3")]
    proxy = HAProxy(root / "haproxy", replicas)
    proxy.start()
    start_connector_on(dep, "acme", datasets, proxy.tunnel_port, connections=2)
    wait_for(lambda: sum(r.connectors() for r in replicas) == 2, 60, "two tunnels")
    return dep, server, replicas, proxy


def failover(root: Path, runs: int) -> dict[str, Any]:
    data = root / "data"
    data.mkdir(parents=True)
    pq.write_table(ventas(400_000, seed=2), data / "big.parquet", row_group_size=16384)
    dep, server, replicas, proxy = _cluster(root, {"big": {"type": "parquet", "path": ["data/big.parquet"] * 16}})
    seconds: list[float] = []
    try:
        for run in range(runs):
            session = dep.session("acme", f"u{run}")
            fp = fingerprint(session)

            async def once(session: str = session, fp: str = fp) -> float:
                async with await AsyncClient.connect(proxy.ws_url, session, resume=True) as client:
                    rows, killed_at, first_after = 0, 0.0, 0.0
                    async for batch in client.stream("big", ["id"]):
                        rows += batch.num_rows
                        if killed_at and not first_after and client.resumes:  # a batch of the resumed stream
                            first_after = time.perf_counter() - killed_at
                        if not killed_at and rows >= 400_000:
                            victim = next(r for r in replicas if f"session={fp}" in r.proc.text())
                            victim.proc.popen.send_signal(signal.SIGKILL)
                            victim.proc.popen.wait(10)
                            killed_at = time.perf_counter()
                    assert rows == 6_400_000, rows
                    return first_after

            seconds.append(asyncio.run(once()))
            # The killed replica back, on its ports, before the next run.
            dead = next(r for r in replicas if r.proc.popen.poll() is not None)
            index = replicas.index(dead)
            proc = dep.start_gateway(
                dead.name,
                http_port=dead.http_port,
                grpc_port=dead.grpc_port,
                data_port=None,
                redis_url=server.url,
                replica={
                    "id": dead.name,
                    "peer_address": f"127.0.0.1:{dead.grpc_port}",
                    "cert": f"certs/replicas/{dead.name}/replica.crt",
                    "key": f"certs/replicas/{dead.name}/replica.key",
                    "presence_seconds": 3,
                },
            )
            replicas[index] = Replica(dead.name, dead.http_port, dead.grpc_port, proc)
            wait_for(lambda: sum(r.connectors() for r in replicas) == 2, 60, "two tunnels again")
        ms = sorted(s * 1000 for s in seconds)
        return {"runs": len(ms), "p50_ms": round(statistics.median(ms), 1), "max_ms": round(ms[-1], 1), "all_ms": ms}
    finally:
        proxy.stop()
        dep.stop()
        server.stop()


def many_sessions(root: Path, sessions: int) -> dict[str, Any]:
    data = root / "data"
    data.mkdir(parents=True)
    pq.write_table(ventas(10_000, seed=3), data / "small.parquet")
    dep, server, replicas, proxy = _cluster(root, {"small": {"type": "parquet", "path": "data/small.parquet"}})
    try:
        holder = next(r for r in replicas if r.connectors() == 1)

        async def one(url: str, session: str) -> float:
            started = time.perf_counter()
            # 600 handshakes at once on two cores: websockets' 10 s default for the opening
            # handshake is not what is measured (the completion time includes it).
            async with await AsyncClient.connect(url, session, open_timeout=120) as client:
                table = await client.query("small")
            assert table.num_rows == 10_000
            return time.perf_counter() - started

        def burst(url: str, tag: str) -> dict[str, Any]:
            ids = [dep.session("acme", f"{tag}{i}") for i in range(sessions)]

            async def all_at_once() -> list[float]:
                return list(await asyncio.gather(*(one(url, s) for s in ids)))

            started = time.perf_counter()
            done = sorted(asyncio.run(all_at_once()))
            wall = time.perf_counter() - started
            p50, p99 = statistics.median(done), done[int(len(done) * 0.99) - 1]
            return {
                "completed": len(done),
                "wall_seconds": round(wall, 2),
                "p50_ms": round(p50 * 1000, 1),
                "p99_ms": round(p99 * 1000, 1),
                "p99_over_p50": round(p99 / p50, 2),
            }

        # One replica alone (the one holding the tunnel, reached directly), then all three
        # behind HAProxy: the same sessions' work, moments apart.
        alone = burst(holder.ws_url, "a")
        before = {r.name: r.proc.text().count("socket open") for r in replicas}
        spread = burst(proxy.ws_url, "s")
        opened = {r.name: r.proc.text().count("socket open") - before[r.name] for r in replicas}
        return {"sessions": sessions, "one_replica": alone, "three_behind_haproxy": {**spread, "sockets": opened}}
    finally:
        proxy.stop()
        dep.stop()
        server.stop()


def redis_costs(root: Path) -> dict[str, Any]:
    """What presence takes in Redis: MEMORY USAGE of a tenant's holders key with two
    replicas (a connector's two tunnels) and of a replica's key, as the gateway writes
    them; and the used_memory growth for 10,000 such tenants."""
    server = RedisServer(root / "redis")
    server.start()
    try:
        client: redis.Redis = server.client()
        before = int(client.info("memory")["used_memory"])
        tenants = 10_000
        pipe = client.pipeline(transaction=False)
        for t in range(tenants):
            key = f"saeta:holders:tenant-{t:05d}"
            pipe.zadd(key, {"gw-0123456789-a1b2c3": time.time() + 15, "gw-9876543210-d4e5f6": time.time() + 15})
            pipe.expire(key, 15)
        pipe.execute()
        after = int(client.info("memory")["used_memory"])
        client.set("saeta:replica:gw-0123456789-a1b2c3", "10.0.0.1:50051", ex=15)
        return {
            "holders_key_bytes": client.memory_usage("saeta:holders:tenant-00000"),
            "replica_key_bytes": client.memory_usage("saeta:replica:gw-0123456789-a1b2c3"),
            "used_memory_per_tenant_bytes": round((after - before) / tenants, 1),
            "commands_per_refresh": "1 SET + 3 per tenant held (ZADD, ZREMRANGEBYSCORE, EXPIRE), one pipeline",
            "refresh_every_seconds": "presence_seconds / 3 (5 s by default)",
            "commands_per_forwarded_query": "2 (ZRANGEBYSCORE, MGET)",
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--failovers", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=600)
    args = parser.parse_args()
    point: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory() as tmp:
        point["forwarded_vs_local"] = forwarded_vs_local(Path(tmp) / "fwd", args.runs)
        fwd = point["forwarded_vs_local"]
        print(json.dumps({k: v for k, v in fwd.items() if not isinstance(v, dict)}))
        if args.failovers:
            point["failover"] = failover(Path(tmp) / "failover", args.failovers)
            print(json.dumps(point["failover"]))
        if args.sessions:
            point["many_sessions"] = many_sessions(Path(tmp) / "many", args.sessions)
            print(json.dumps(point["many_sessions"]))
        point["redis"] = redis_costs(Path(tmp) / "costs")
        print(json.dumps(point["redis"]))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"replicas-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(point, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
