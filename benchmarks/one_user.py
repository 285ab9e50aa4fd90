"""One user against the rest of their tenant: one session opens several sockets, each with
as many queries as the socket allows on a dataset of many partitions, and reads nothing.
What the gateway and the connector then hold, how long another user of the same tenant
waits for a whole answer beside it, and what the gateway holds once the attacker is gone.

    python -m benchmarks.one_user [--sockets 4] [--queries 16]

Each run measures two deployments moments apart, same machine, same data: one with the
gateway's default per-session and per-tenant limits, and a baseline whose limits are lifted
to what the gateway allowed before they existed (16 queries a socket, any number of
sockets, partitions and calls); figures are given for both and as ratios."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from saeta import certs  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from benchmarks.procstat import rss_bytes, settled_rss  # noqa: E402
from tests.system.harness import BIG_FILE_ROWS, Deployment, Proc, big_dataset  # noqa: E402

MiB = 1024 * 1024
# The gateway's limits before they existed: nothing but 16 queries a socket.
UNLIMITED = {
    "max_sockets_per_session": 10_000,
    "max_queries_per_session": 100_000,
    "max_subscriptions_per_session": 10_000,
    "max_partitions_per_session": 10_000,
    "max_calls_per_tenant": 192,
}


def start(dep: Deployment, limits: dict[str, int] | None = None, **extra: Any) -> tuple[Proc, Proc]:
    """A gateway that keeps stuck sockets for 10 minutes (so only the limits under test
    act) and a connector whose "big" has 16 partitions and "one" is one of them; ``extra``:
    more gateway keys (``memory_trim_seconds`` goes to the connector too)."""
    dep.start_control_plane()
    gateway = dep.start_gateway(
        session_cache_seconds=60,
        websocket={"stalled_seconds": 600},
        timeouts={"query_seconds": 60, "connect_seconds": 5},
        limits=limits or {},
        **extra,
    )
    big = big_dataset(dep.root)
    perf = {"memory_trim_seconds": extra["memory_trim_seconds"]} if "memory_trim_seconds" in extra else {}
    connector = dep.start_connector("acme", {"big": big, "one": {"type": "parquet", "path": big["path"][0]}}, **perf)
    return gateway, connector


async def attack(stack: AsyncExitStack, url: str, sockets: int, queries: int) -> int:
    """Opens ``sockets`` sockets of one session, sends ``queries`` queries of "big" on each,
    and reads nothing from then on (the sockets stay open in ``stack``). Returns how many
    sockets the gateway accepted."""
    accepted = 0
    for s in range(sockets):
        ws = await stack.enter_async_context(connect(url, compression=None, max_queue=1, max_size=None))
        try:
            await ws.send(json.dumps({"action": "list"}))
            await asyncio.wait_for(ws.recv(), 30)
        except ConnectionClosed:  # refused (too many sockets for the session): closed at once
            continue
        accepted += 1
        for q in range(queries):
            await ws.send(json.dumps({"action": "query", "id": f"s{s}q{q}", "dataset": "big"}))
    return accepted


async def other_user(url: str) -> tuple[int, float]:
    """Another user of the tenant reads "one" whole: its rows (or -1 after an error frame)
    and the seconds it took."""
    started = time.perf_counter()
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"action": "query", "id": "other", "dataset": "one", "columns": ["id"]}))
        while True:
            frame = await asyncio.wait_for(ws.recv(), 180)
            if isinstance(frame, str):
                message = json.loads(frame)
                if message["type"] == "error":
                    return -1, time.perf_counter() - started
                if message["type"] == "end":
                    return int(message["rows"]), time.perf_counter() - started


async def run(dep: Deployment, sockets: int, queries: int, pids: dict[str, int]) -> dict[str, Any]:
    """The attack and the other user beside it, then the attacker gone: RSS figures."""
    attacker = f"{dep.ws_url}/stream/{dep.session('acme', user='attacker', ttl=3600)}"
    victim = f"{dep.ws_url}/stream/{dep.session('acme', user='victim', ttl=3600)}"
    await other_user(victim)  # warm-up: imports, pools, arenas
    base = {n: rss_bytes(p) for n, p in pids.items()}
    alone_rows, alone = await other_user(victim)
    async with AsyncExitStack() as stack:
        accepted = await attack(stack, attacker, sockets, queries)
        held = await settled_rss(pids)
        rows, beside = await other_user(victim)
    after = await settled_rss(pids, seconds=2.0, most=15)
    return {
        "accepted_sockets": accepted,
        "held_mib": {n: (held[n] - base[n]) / MiB for n in pids},
        "after_mib": {n: (after[n] - base[n]) / MiB for n in pids},
        "other_user": {"rows_alone": alone_rows, "seconds_alone": alone, "rows": rows, "seconds": beside},
    }


def measure(root: Path, sockets: int, queries: int, limits: dict[str, int] | None) -> dict[str, Any]:
    dep = Deployment(root)
    certs.init_ca(dep.certs)
    try:
        gateway, connector = start(dep, limits)
        pids = {"gateway": gateway.popen.pid, "connector": connector.popen.pid}
        return asyncio.run(run(dep, sockets, queries, pids))
    finally:
        dep.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--queries", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        limited = measure(Path(tmp) / "limited", args.sockets, args.queries, None)
        baseline = measure(Path(tmp) / "unlimited", args.sockets, args.queries, UNLIMITED)
    for name, point in (("limits (default)", limited), ("no limits (before)", baseline)):
        o = point["other_user"]
        print(
            f"{name}: {point['accepted_sockets']} sockets; held gateway +{point['held_mib']['gateway']:.0f} MiB, "
            f"connector +{point['held_mib']['connector']:.0f} MiB; after: gateway +{point['after_mib']['gateway']:.0f}"
            f" MiB; another user read {o['rows']:,} rows in {o['seconds']:.2f} s ({o['seconds_alone']:.2f} s alone)",
            flush=True,
        )
    ratio = {n: baseline["held_mib"][n] / max(1.0, limited["held_mib"][n]) for n in ("gateway", "connector")}
    print(f"memory held, baseline / limited: gateway {ratio['gateway']:.1f}x, connector {ratio['connector']:.1f}x")
    out = RESULTS / f"one-user-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    point = {"sockets": args.sockets, "queries": args.queries, "rows_per_partition": BIG_FILE_ROWS}
    out.write_text(json.dumps({**point, "limited": limited, "baseline": baseline}, indent=1))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
