"""End-to-end throughput of one large query with real processes: a Parquet file read by
a saeta connector, relayed by the gateway over mTLS, received and decoded with pyarrow
by a WebSocket client. Prints rows/s and MB/s (the Flight comparison is the hot-path
issue's). Usage: python benchmarks/e2e_throughput.py [ROWS] [RUNS]"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saeta import certs  # noqa: E402
from saeta.client import AsyncClient  # noqa: E402
from saeta.demo_data import ventas  # noqa: E402

from tests.system.harness import Deployment  # noqa: E402


async def one_run(url: str, session: str) -> tuple[int, int, float]:
    rows = nbytes = 0
    start = time.perf_counter()
    async with await AsyncClient.connect(url, session) as client:
        async for batch in client.stream("ventas"):
            rows += batch.num_rows
            nbytes += batch.nbytes
    return rows, nbytes, time.perf_counter() - start


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(Path(tmp))
        certs.init_ca(dep.certs)
        (dep.root / "data").mkdir()
        pq.write_table(ventas(rows), dep.root / "data" / "ventas.parquet", row_group_size=65536)
        try:
            dep.start_control_plane()
            dep.start_gateway()
            dep.start_connector("acme", {"ventas": {"type": "parquet", "path": "data/ventas.parquet"}},
                                max_chunk_size=16384)
            session = dep.session("acme")
            results = [asyncio.run(one_run(dep.ws_url, session)) for _ in range(runs)]
        finally:
            dep.stop()
    assert all(r[0] == rows for r in results), results
    secs = statistics.median(r[2] for r in results)
    mb = results[0][1] / 1e6
    print(f"e2e saeta (connector -> gateway mTLS -> WebSocket -> pyarrow): {rows:,} rows, {mb:.0f} MB "
          f"(Arrow buffers), median of {runs}: {secs:.2f}s = {rows / secs:,.0f} rows/s, {mb / secs:.0f} MB/s")


if __name__ == "__main__":
    main()
