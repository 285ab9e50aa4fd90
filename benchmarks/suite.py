"""saeta against Arrow Flight, side by side in one run (`make bench`): prints a table and
writes benchmarks/results/suite-STAMP.json. Usage:
  python benchmarks/suite.py [--rows N] [--runs N] [--shapes mixed,plain]
                             [--malloc default|tuned] [--slow-reader-mb MB] [--sessions N]

For each data shape (benchmarks/workload.py) the same Parquet file is served by:
- Flight's best: a pyarrow.flight server reading it with a parallel dataset scan (the
  baseline every ratio is taken against), and the same server with single-threaded
  ``iter_batches`` (the baseline of earlier rounds);
- saeta as it ships (one port: DoGet on grpcio; ``arrow_validation: full``), the Rust
  data plane (``data_port``), and the pure-Python twin; the client reads over wss://, since
  Flight's side is measured with TLS too.

glibc's mmap/trim of multi-megabyte buffers makes figures jump between two levels on this
kind of VM; every process of a run gets the same malloc settings, named in the output."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saeta import certs  # noqa: E402

from benchmarks import e2e, load, workload  # noqa: E402
from benchmarks.report import save  # noqa: E402

TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(256 * 1024 * 1024)}


def shape_targets(root: Path, cert_dir: Path, parquet: Path) -> list[e2e.Target]:
    """The suite's targets for one file, baseline first; all started, or none left running."""
    targets: list[e2e.Target] = []
    makers = (
        lambda: e2e.FlightTarget(root, cert_dir, parquet, "scan"),
        lambda: e2e.FlightTarget(root, cert_dir, parquet, "iter_batches"),
        lambda: e2e.SaetaTarget(
            root / "default",
            cert_dir,
            parquet,
            "rust",
            workload.BATCH_ROWS,
            data_plane=False,
            https=True,
            name="saeta as shipped (one port, grpcio DoGet)",
        ),
        lambda: e2e.SaetaTarget(
            root / "plane",
            cert_dir,
            parquet,
            "rust",
            workload.BATCH_ROWS,
            https=True,
            name="saeta, Rust data plane (data_port)",
        ),
        lambda: e2e.SaetaTarget(
            root / "python",
            cert_dir,
            parquet,
            "python",
            workload.BATCH_ROWS,
            data_plane=False,
            https=True,
            name="saeta, Python twin (grpcio DoGet)",
        ),
    )
    try:
        for make in makers:
            targets.append(make())
    except BaseException:
        for target in targets:
            target.stop()
        raise
    return targets


def run_shape(root: Path, cert_dir: Path, shape: str, rows: int, runs: int) -> dict[str, Any]:
    parquet = root / "data" / f"bench-{shape}.parquet"
    volume = workload.ipc_bytes(workload.write(parquet, rows, shape))
    targets = shape_targets(root / shape, cert_dir, parquet)
    try:
        results = e2e.interleaved(targets, runs, volume)
    finally:
        for target in targets:
            target.stop()
    for result in results:
        assert all(run.rows == rows for run in result.runs), (result.name, result.runs)
    flight = results[0]
    server = flight.cpu_per_gb("server")
    parquet_mb = parquet.stat().st_size / 1e6
    print(
        f"\nshape {shape}: {rows:,} rows x 8 columns, {volume / 1e6:.0f} MB as Arrow IPC, Parquet {parquet_mb:.0f} MB"
    )
    print(f"{'path':<44} {'MB/s':>7} {'vs Flight':>9} {'1st batch ms':>13}  CPU-s per GB (x Flight's server)")
    for r in results:
        if "server" in r.processes:
            cpu = f"server {r.cpu_per_gb('server'):.2f} ({r.cpu_per_gb('server') / server:.2f})"
        else:
            g, c = r.cpu_per_gb("gateway"), r.cpu_per_gb("connector")
            cpu = f"gateway {g:.2f} ({g / server:.2f}), connector {c:.2f} ({c / server:.2f})"
        print(f"{r.name:<44} {r.mb_per_s:>7.0f} {r.mb_per_s / flight.mb_per_s:>9.2f} {r.first_batch_ms:>13.1f}  {cpu}")
    return {
        "shape": shape,
        "parquet_mb": round(parquet.stat().st_size / 1e6, 1),
        "ipc_mb": round(volume / 1e6, 1),
        "baseline": flight.name,
        "results": [
            {
                "name": r.name,
                "mb_per_s": round(r.mb_per_s, 1),
                "rows_per_s": round(r.rows_per_s),
                "vs_flight": round(r.mb_per_s / flight.mb_per_s, 3),
                "first_batch_ms": round(r.first_batch_ms, 2),
                "first_batch_minus_flight_ms": round(r.first_batch_ms - flight.first_batch_ms, 2),
                "cpu_s_per_gb": {k: round(r.cpu_per_gb(k), 3) for k in r.processes},
                "cpu_vs_flight_server": {k: round(r.cpu_per_gb(k) / server, 3) for k in r.processes},
                "seconds": [round(run.seconds, 4) for run in r.runs],
            }
            for r in results
        ],
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the table")
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per target")
    parser.add_argument("--shapes", default="mixed,plain", help="data shapes, comma-separated (workload.SHAPES)")
    parser.add_argument("--malloc", choices=("default", "tuned"), default="default", help="malloc of every process")
    parser.add_argument("--slow-reader-mb", type=float, default=1000, help="0 skips the slow reader")
    parser.add_argument("--slow-reader-mb-per-s", type=float, default=20, help="the slow reader's pace")
    parser.add_argument("--sessions", type=int, default=1000, help="0 skips the many-sessions run")
    parser.add_argument("--session-rows", type=int, default=10_000, help="rows each of those sessions reads")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = set(shapes) - set(workload.SHAPES)
    if unknown:
        parser.error(f"unknown shapes {sorted(unknown)}; known: {sorted(workload.SHAPES)}")
    if args.malloc == "tuned":
        os.environ.update(TUNED_MALLOC)  # inherited by every process started below
    malloc = "mmap threshold 64 MiB, trim threshold 256 MiB" if args.malloc == "tuned" else "glibc defaults"
    print(f"medians of {args.runs} interleaved runs, batches of {workload.BATCH_ROWS:,} rows; malloc: {malloc}")

    with tempfile.TemporaryDirectory(prefix="saeta-bench-") as tmp:
        root = Path(tmp)
        cert_dir = root / "certs"
        certs.init_ca(cert_dir)
        certs.issue_client(cert_dir, "acme")
        by_shape = [run_shape(root, cert_dir, shape, args.rows, args.runs) for shape in shapes]
        parquet = root / "data" / f"bench-{shapes[0]}.parquet"
        ipc_mb = by_shape[0]["ipc_mb"]
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

    if slow:
        print(
            f"\nslow reader: {slow.mb_read:.0f} MB at {slow.mb_read / slow.seconds:.1f} MB/s; RSS growth over idle:"
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
        "runs": args.runs,
        "malloc": malloc,
        "shapes": by_shape,
        "slow_reader": vars(slow) if slow else None,
        "many_sessions": vars(many) if many else None,
    }
    print(f"written: {save('suite', result)}")
    return result


if __name__ == "__main__":
    main()
