"""Sessions whose browsers read nothing, each with a query on a dataset far larger than
any buffer: how much the gateway and the connector hold per stuck session, and whether it
depends on the dataset's size (it must not: flow control stops the source instead).

    python -m benchmarks.stuck_sessions [--sessions 1,8,32] [--copies 4,40]

Each point is a fresh deployment: RSS over its idle baseline (after a warm-up query) once
every session's query is stuck, per session; and the speed at which another session then
reads 1M rows of the same dataset from the same connector (best of 3), against its speed
alone before the stuck sessions opened (best of 3, same deployment, moments apart)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.demo_data import ventas  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from benchmarks.procstat import rss_bytes, settled_rss  # noqa: E402
from tests.system.harness import Deployment, Proc  # noqa: E402

MiB = 1024 * 1024
READER_ROWS = 1_000_000  # what another session reads, alone and beside the stuck ones


def start(dep: Deployment, parquet: Path, copies: int, data_plane: bool = True, **perf: int) -> tuple[Proc, Proc]:
    """Gateway (stuck sockets kept for 10 minutes; DoGet on its data plane, or on grpcio)
    and a connector whose "big" is ``copies`` copies of ``parquet`` (``perf``: its
    performance settings)."""
    dep.start_control_plane()
    extra = {} if data_plane else {"data_port": None}
    gateway = dep.start_gateway(session_cache_seconds=60, websocket={"stalled_seconds": 600}, **extra)
    connector = dep.start_connector("acme", {"big": {"type": "parquet", "path": [str(parquet)] * copies}}, **perf)
    return gateway, connector


async def stuck(
    dep: Deployment, sessions: int, pids: dict[str, int], reader_rows: int = 0
) -> tuple[dict[str, int], float]:
    """Opens ``sessions`` sockets, each of a session of its own, that each start a query on
    "big" and read nothing (after its first frames); returns RSS once nothing grows any
    more, and then the seconds another session takes to read ``reader_rows`` rows of the
    same dataset."""
    async with AsyncExitStack() as stack:
        for i in range(sessions):
            url = f"{dep.ws_url}/stream/{dep.session('acme', user=f'stuck-{i}', ttl=3600)}"
            ws = await stack.enter_async_context(connect(url, compression=None, max_queue=1, max_size=None))
            await ws.send(json.dumps({"action": "query", "id": f"s{i}", "dataset": "big"}))
            await ws.recv()  # the info frame: the query is running
        rss = await settled_rss(pids)
        reader = f"{dep.ws_url}/stream/{dep.session('acme', user='reader', ttl=3600)}"
        return rss, await best_read(reader, reader_rows) if reader_rows else 0.0


async def best_read(url: str, rows: int, runs: int = 3) -> float:
    """The fastest of ``runs`` reads (the first of a kind still warms things up)."""
    return min([await read(url, rows) for _ in range(runs)])


async def read(url: str, rows: int) -> float:
    """Seconds to read the first ``rows`` rows of "big" whole; an error frame raises, and
    so does an answer whose data (decoded, not the end frame's count) is not ``rows`` rows."""
    started = time.perf_counter()
    payloads: list[bytes] = []
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"action": "query", "id": "r", "dataset": "big", "limit": rows}))
        while True:
            frame = await ws.recv()
            if isinstance(frame, bytes):
                payloads.append(frame[8:])
                continue
            message = json.loads(frame)
            if message["type"] == "error":
                raise RuntimeError(f"the read failed: {message}")
            if message["type"] == "end":
                seconds = time.perf_counter() - started
                got = pa.ipc.open_stream(b"".join(payloads)).read_all().num_rows
                if got != rows or message["rows"] != rows:
                    raise RuntimeError(f"the read ended with {got} rows ({message['rows']} said), not {rows}")
                return seconds


async def warm(url: str) -> None:
    """One query of 300k rows read whole: lazy imports, pools and arenas, before the
    baseline is taken."""
    await read(url, 300_000)


def table(root: Path) -> Path:
    path = root / "v.parquet"
    pq.write_table(ventas(1_000_000), path, row_group_size=4096)  # about 60 MB as Arrow IPC
    return path


def measure(root: Path, parquet: Path, copies: int, sessions: int) -> dict[str, float]:
    dep = Deployment(root)
    certs.init_ca(dep.certs)
    try:
        gateway, connector = start(dep, parquet, copies)
        pids = {"gateway": gateway.popen.pid, "connector": connector.popen.pid}
        url = f"{dep.ws_url}/stream/{dep.session('acme', ttl=3600)}"
        asyncio.run(warm(url))
        time.sleep(1)
        alone = asyncio.run(best_read(url, READER_ROWS))
        base = {n: rss_bytes(p) for n, p in pids.items()}
        held, beside_stuck = asyncio.run(stuck(dep, sessions, pids, READER_ROWS))
        return {**{n: (held[n] - base[n]) / MiB for n in pids}, "reader_speed_ratio": alone / beside_stuck}
    finally:
        dep.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,8,32")
    parser.add_argument("--copies", default="4,40", help="dataset sizes, as copies of a 1M-row table")
    args = parser.parse_args()
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        parquet = table(Path(tmp))
        for copies in map(int, args.copies.split(",")):
            for n, sessions in enumerate(map(int, args.sessions.split(","))):
                grown = measure(Path(tmp) / f"d{copies}-{n}", parquet, copies, sessions)
                points.append({"copies": copies, "sessions": sessions, **grown})
                print(
                    f"dataset {copies}M rows, {sessions:>3} stuck sessions: gateway +{grown['gateway']:.1f} MiB "
                    f"({grown['gateway'] / sessions:.2f}/session), connector +{grown['connector']:.1f} MiB "
                    f"({grown['connector'] / sessions:.2f}/session); another session read at "
                    f"{grown['reader_speed_ratio']:.2f}x its speed alone",
                    flush=True,
                )
    out = RESULTS / f"stuck-sessions-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(points, indent=1))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
