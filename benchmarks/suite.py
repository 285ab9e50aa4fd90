"""saeta against Arrow Flight, side by side in one run (`make bench`): prints a table and
writes benchmarks/results/suite.json. Usage:
  python benchmarks/suite.py [--rows N] [--runs N] [--malloc default|tuned]
                             [--slow-reader-mb MB] [--sessions N]

glibc's mmap/trim of multi-megabyte buffers makes figures jump between two levels on this
kind of VM; every process of a run gets the same malloc settings, named in the output."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saeta import certs  # noqa: E402

from benchmarks import e2e, load, workload  # noqa: E402
from benchmarks.report import save  # noqa: E402

TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(256 * 1024 * 1024)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--malloc", choices=("default", "tuned"), default="default")
    parser.add_argument("--slow-reader-mb", type=float, default=1000, help="0 skips the slow reader")
    parser.add_argument("--slow-reader-mb-per-s", type=float, default=20)
    parser.add_argument("--sessions", type=int, default=1000, help="0 skips the many-sessions run")
    parser.add_argument("--session-rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.malloc == "tuned":
        os.environ.update(TUNED_MALLOC)  # inherited by every process started below
    malloc = "mmap threshold 64 MiB, trim threshold 256 MiB" if args.malloc == "tuned" else "glibc defaults"

    with tempfile.TemporaryDirectory(prefix="saeta-bench-") as tmp:
        root = Path(tmp)
        cert_dir = root / "certs"
        certs.init_ca(cert_dir)
        certs.issue_client(cert_dir, "acme")
        parquet = root / "data" / "bench.parquet"
        table = workload.write(parquet, args.rows)
        volume = workload.ipc_bytes(table)
        ipc_mb = volume / 1e6
        targets: list[e2e.Target] = []
        try:
            targets.append(e2e.FlightTarget(root, cert_dir, parquet))
            targets.append(e2e.SaetaTarget(root / "rust", cert_dir, parquet, "rust", workload.BATCH_ROWS))
            targets.append(
                e2e.SaetaTarget(root / "rust-grpcio", cert_dir, parquet, "rust", workload.BATCH_ROWS, data_plane=False)
            )
            targets.append(e2e.SaetaTarget(root / "python", cert_dir, parquet, "python", workload.BATCH_ROWS))
            flight, rust, rust_grpcio, python = e2e.interleaved(targets, args.runs, volume)
        finally:
            for target in targets:
                target.stop()
        for result in (flight, rust, rust_grpcio, python):
            assert all(run.rows == args.rows for run in result.runs), (result.name, result.runs)
        slow = (
            load.slow_reader(
                root / "slow",
                cert_dir,
                parquet,
                ipc_mb,
                args.slow_reader_mb,
                args.slow_reader_mb_per_s,
                workload.BATCH_ROWS,
            )
            if args.slow_reader_mb
            else None
        )
        many = None
        if args.sessions:
            small = root / "data" / "small.parquet"
            workload.write(small, args.session_rows)
            many = load.many_sessions(root / "many", cert_dir, small, args.sessions, workload.BATCH_ROWS)

    rows = [
        (r.name, r.mb_per_s, r.rows_per_s, r.mb_per_s / flight.mb_per_s, r.first_batch_ms, cpu)
        for r, cpu in (
            (flight, f"server {flight.cpu_per_gb('server'):.2f}"),
            *(
                (r, f"gateway {r.cpu_per_gb('gateway'):.2f}, connector {r.cpu_per_gb('connector'):.2f}")
                for r in (rust, rust_grpcio, python)
            ),
        )
    ]
    print(
        f"\n{args.rows:,} rows x 8 columns, {ipc_mb:.0f} MB as Arrow IPC, batches of {workload.BATCH_ROWS:,} rows;"
        f" medians of {args.runs} interleaved runs; malloc: {malloc}\n"
    )
    print(f"{'path':<38} {'MB/s':>7} {'M rows/s':>9} {'vs Flight':>9} {'1st batch ms':>13}  CPU-s per GB")
    for name, mbs, rps, ratio, ttfb, cpu in rows:
        print(f"{name:<38} {mbs:>7.0f} {rps / 1e6:>9.2f} {ratio:>9.2f} {ttfb:>13.1f}  {cpu}")
    gw_ratio = rust.cpu_per_gb("gateway") / python.cpu_per_gb("gateway")
    print(f"\ngateway CPU per GB, Rust (data plane) / Python twin: {gw_ratio:.2f}")
    if slow:
        print(
            f"slow reader: {slow.mb_read:.0f} MB at {slow.mb_read / slow.seconds:.1f} MB/s; RSS growth over idle:"
            f" gateway {slow.gateway_rss_growth_mib:.1f} MiB, connector {slow.connector_rss_growth_mib:.1f} MiB"
        )
    if many:
        scale = many.aggregate_rows_per_s / many.single_rows_per_s
        print(
            f"{many.sessions} sessions x {many.rows_each:,} rows at once: aggregate"
            f" {many.aggregate_rows_per_s / 1e6:.2f} M rows/s = {scale:.2f} x one session alone"
            f" ({many.single_rows_per_s / 1e6:.2f} M rows/s); completion p50 {many.p50_ms:.0f} ms,"
            f" p99 {many.p99_ms:.0f} ms (p99/p50 {many.p99_ms / many.p50_ms:.2f}); retries {many.retries};"
            f" errors {many.errors} {many.error_kinds or ''}"
        )
    result: dict[str, object] = {
        "rows": args.rows,
        "ipc_mb": round(ipc_mb, 1),
        "runs": args.runs,
        "malloc": malloc,
        "results": [
            {
                "name": r.name,
                "mb_per_s": round(r.mb_per_s, 1),
                "rows_per_s": round(r.rows_per_s),
                "vs_flight": round(r.mb_per_s / flight.mb_per_s, 3),
                "first_batch_ms": round(r.first_batch_ms, 2),
                "cpu_s_per_gb": {k: round(r.cpu_per_gb(k), 3) for k in r.processes},
            }
            for r in (flight, rust, rust_grpcio, python)
        ],
        "gateway_cpu_rust_vs_python": round(gw_ratio, 3),
        "slow_reader": vars(slow) if slow else None,
        "many_sessions": vars(many) if many else None,
    }
    print(f"written: {save('suite', result)}")
    return result


if __name__ == "__main__":
    main()
