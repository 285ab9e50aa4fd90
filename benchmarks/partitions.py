"""Partitions fetched concurrently against one after the other, in the same run: a
multi-file Parquet dataset (one partition per file) and a PostgreSQL table split by key
range. Each query is run with ``"ordered": true`` (the partitions in order, one at a time:
the baseline) and without it (up to ``limits.max_partitions_in_flight`` at once), runs
interleaved. Usage: python benchmarks/partitions.py [--files N] [--rows-per-file N] [--runs N]"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow.parquet as pq  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.client import Client  # noqa: E402

from benchmarks.e2e import deployment  # noqa: E402
from benchmarks.postgres import fill  # noqa: E402
from benchmarks.report import save  # noqa: E402
from benchmarks.workload import BATCH_ROWS, table  # noqa: E402
from tests.system.postgres_server import PASSWORD, PostgresServer  # noqa: E402


def timed(client: Client, dataset: str, ordered: bool) -> tuple[int, float]:
    start = time.perf_counter()
    t = client.query(dataset, ordered=ordered)
    return t.num_rows, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows-per-file", type=int, default=250_000)
    parser.add_argument("--pg-rows", type=int, default=1_000_000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    server = PostgresServer()
    server.start()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="saeta-partitions-") as tmp:
        root = Path(tmp)
        data = root / "data"
        data.mkdir()
        for i in range(args.files):
            part = table(args.rows_per_file, seed=11 + i)
            pq.write_table(part, data / f"part-{i:02d}.parquet", row_group_size=8 * BATCH_ROWS)
        fill(server, args.pg_rows)
        certs.init_ca(root / "certs")
        certs.issue_client(root / "certs", "acme")
        (root / "pg.pass").write_text(PASSWORD + "\n")
        step = args.pg_rows // 4
        datasets = {
            "parquet": {"type": "parquet", "path": str(data / "part-*.parquet")},
            "pg": {
                "type": "postgresql",
                "uri": server.uri,
                "password_file": str(root / "pg.pass"),
                "table": "ventas",
                "partition_by": {"column": "id", "bounds": [step, 2 * step, 3 * step]},
            },
        }
        datasets["pg_whole"] = {k: v for k, v in datasets["pg"].items() if k != "partition_by"}
        limits = {"limits": {"max_partitions_in_flight": args.in_flight}}
        dep = None
        try:
            dep = deployment(root / "saeta", root / "certs", datasets, BATCH_ROWS, **limits)
            with Client.connect(dep.ws_url, dep.session("acme", ttl=3600)) as client:
                expected = {"parquet": args.files * args.rows_per_file, "pg": args.pg_rows, "pg_whole": args.pg_rows}
                for name, rows in expected.items():
                    timed(client, name, False)  # warm-up: caches, pooled connections
                    runs: dict[str, list[float]] = {"ordered": [], "concurrent": []}
                    for _ in range(args.runs):
                        for mode in ("ordered", "concurrent"):
                            got, seconds = timed(client, name, mode == "ordered")
                            assert got == rows, (name, mode, got)
                            runs[mode].append(seconds)
                    ordered, concurrent = statistics.median(runs["ordered"]), statistics.median(runs["concurrent"])
                    results[name] = {
                        "rows": rows,
                        "ordered_s": round(ordered, 3),
                        "concurrent_s": round(concurrent, 3),
                        "speedup": round(ordered / concurrent, 2),
                        "ordered_range_s": [round(min(runs["ordered"]), 3), round(max(runs["ordered"]), 3)],
                        "concurrent_range_s": [round(min(runs["concurrent"]), 3), round(max(runs["concurrent"]), 3)],
                    }
        finally:
            if dep is not None:
                dep.stop()
            server.stop()
    print(f"\nPartitions, medians of {args.runs} interleaved runs, up to {args.in_flight} in flight:")
    labels = {
        "parquet": f"Parquet, {args.files} files x {args.rows_per_file:,} rows x 8 columns",
        "pg": f"PostgreSQL, {args.pg_rows:,} rows x 8 columns, 5 key ranges",
        "pg_whole": "the same table as one partition (no bound parameter: binary COPY)",
    }
    for name, r in results.items():
        print(
            f"  {labels[name]}: one at a time {r['ordered_s']:.2f} s, concurrent {r['concurrent_s']:.2f} s"
            f" = {r['speedup']:.2f} x"
        )
    result: dict[str, object] = {"runs": args.runs, "in_flight": args.in_flight, **results}
    print(f"written: {save('partitions', result)}")
    return result


if __name__ == "__main__":
    main()
