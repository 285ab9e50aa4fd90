"""Which query engine runs aggregation at the source (issue 16; docs/decisions.md): DuckDB,
pyarrow's Acero and DataFusion, on the same Parquet files (the demo's ``ventas``: one
sale every 30 s), the same work, each run in a process of its own with 2 threads, its
peak RSS read from the kernel:

1. ``scan``: the sum of one column: each engine's own scan, the floor of the rest;
2. ``m4``: 1,000 buckets over the time column's range: count, min, max, first and last by
   time (M4 downsampling of a line chart) and the sum, per bucket;
3. ``groupby``: by product: count, sum of total, mean price.

Every engine's answer is checked against DuckDB's (counts equal, sums and means to 1e-9
relative, first and last equal), so a fast wrong answer cannot win. Acero's first/last
follow its input order, so its m4 runs with ordered, single-threaded execution.

    python -m benchmarks.aggregation_engines [--rows 20000000] [--repeat 3]

Needs the engines: ``pip install duckdb datafusion`` (not in the lock until one is chosen).
Writes benchmarks/results/aggregation-engines-*.json."""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "python"))

BUCKETS = 1000
ROWS_PER_FILE = 2_000_000
ENGINES = ("duckdb", "datafusion", "acero")
WORKS = ("scan", "m4", "groupby")


def write_files(folder: Path, rows: int) -> list[str]:
    import pyarrow.parquet as pq
    from saeta.demo_data import ventas

    files = []
    for i, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        path = folder / f"ventas-{i:03d}.parquet"
        pq.write_table(ventas(min(ROWS_PER_FILE, rows - start), seed=7 + i, start=start), path, row_group_size=131072)
        files.append(str(path))
    return files


# The SQL of both SQL engines: constants only (BUCKETS = 1000 written out); DuckDB takes the
# file list as a parameter, DataFusion a registered table.
DUCKDB_SQL = {
    "scan": "SELECT sum(total) AS s FROM read_parquet($files)",
    "m4": """
        WITH r AS (SELECT epoch_ms(min(fecha)) AS lo, epoch_ms(max(fecha)) AS hi FROM read_parquet($files))
        SELECT CAST(floor((epoch_ms(fecha) - r.lo) * 1000 / (r.hi - r.lo + 1)) AS INTEGER) AS b,
               count(*) AS n, min(total) AS lo, max(total) AS hi,
               arg_min(total, fecha) AS first, arg_max(total, fecha) AS last, sum(total) AS s
        FROM read_parquet($files), r GROUP BY b ORDER BY b""",
    "groupby": """
        SELECT producto, count(*) AS n, sum(total) AS s, avg(precio) AS m
        FROM read_parquet($files) GROUP BY producto ORDER BY producto""",
}
DATAFUSION_SQL = {
    "scan": "SELECT sum(total) AS s FROM v",
    "m4": """
        WITH r AS (SELECT CAST(min(fecha) AS BIGINT) AS lo, CAST(max(fecha) AS BIGINT) AS hi FROM v)
        SELECT CAST(floor((CAST(fecha AS BIGINT) - r.lo) * 1000 / (r.hi - r.lo + 1)) AS INT) AS b,
               count(*) AS n, min(total) AS lo, max(total) AS hi,
               first_value(total ORDER BY fecha) AS first, last_value(total ORDER BY fecha) AS last,
               sum(total) AS s
        FROM v CROSS JOIN r GROUP BY 1 ORDER BY 1""",
    "groupby": """
        SELECT producto, count(*) AS n, sum(total) AS s, avg(precio) AS m
        FROM v GROUP BY producto ORDER BY producto""",
}


def run_duckdb(work: str, files: list[str]) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    return con.sql(DUCKDB_SQL[work], params={"files": files}).to_arrow_table()


def run_datafusion(work: str, files: list[str]) -> Any:
    import datafusion

    config = datafusion.SessionConfig().with_target_partitions(2)
    ctx = datafusion.SessionContext(config)
    ctx.register_parquet("v", str(Path(files[0]).parent))
    return ctx.sql(DATAFUSION_SQL[work]).to_arrow_table()


def run_acero(work: str, files: list[str]) -> Any:
    import pyarrow as pa
    import pyarrow.acero as ac
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    pa.set_cpu_count(2)
    pa.set_io_thread_count(2)
    data = ds.dataset(files, format="parquet")
    if work == "scan":
        plan = ac.Declaration.from_sequence(
            [
                ac.Declaration("scan", ac.ScanNodeOptions(data, columns=["total"])),
                ac.Declaration("aggregate", ac.AggregateNodeOptions([("total", "sum", None, "s")])),
            ]
        )
        return plan.to_table()
    if work == "groupby":
        plan = ac.Declaration.from_sequence(
            [
                ac.Declaration("scan", ac.ScanNodeOptions(data, columns=["producto", "total", "precio"])),
                ac.Declaration(
                    "aggregate",
                    ac.AggregateNodeOptions(
                        [
                            ("total", "hash_count", pc.CountOptions("all"), "n"),
                            ("total", "hash_sum", None, "s"),
                            ("precio", "hash_mean", None, "m"),
                        ],
                        keys=["producto"],
                    ),
                ),
            ]
        )
        return plan.to_table().sort_by("producto")
    # m4: the range first (a scan of one column), then the buckets, in input order.
    fecha_ms = pc.field("fecha").cast(pa.int64())
    bounds = ac.Declaration.from_sequence(
        [
            ac.Declaration("scan", ac.ScanNodeOptions(data, columns=["fecha"])),
            ac.Declaration("project", ac.ProjectNodeOptions([fecha_ms], ["t"])),
            ac.Declaration("aggregate", ac.AggregateNodeOptions([("t", "min_max", None, "mm")])),
        ]
    ).to_table()
    lo, hi = bounds["mm"][0]["min"].as_py(), bounds["mm"][0]["max"].as_py()
    # The bucket stays a float key (0.0 ... 999.0): Expression casts are not in this pyarrow.
    bucket = pc.floor(pc.divide(pc.multiply(pc.subtract(fecha_ms, lo), BUCKETS), float(hi - lo + 1)))
    plan = ac.Declaration.from_sequence(
        [
            ac.Declaration("scan", ac.ScanNodeOptions(data, columns=["fecha", "total"])),
            ac.Declaration("project", ac.ProjectNodeOptions([bucket, pc.field("total")], ["b", "total"])),
            ac.Declaration(
                "aggregate",
                ac.AggregateNodeOptions(
                    [
                        ("total", "hash_count", pc.CountOptions("all"), "n"),
                        ("total", "hash_min", None, "lo"),
                        ("total", "hash_max", None, "hi"),
                        ("total", "hash_first", None, "first"),
                        ("total", "hash_last", None, "last"),
                        ("total", "hash_sum", None, "s"),
                    ],
                    keys=["b"],
                ),
            ),
        ]
    )
    return plan.to_table(use_threads=False).sort_by("b")


def _peak_rss_mib() -> float:
    """This process's peak RSS since its exec (VmHWM; ru_maxrss would carry the forking
    parent's, which holds the generated data)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(engine: str, work: str, files: list[str]) -> dict[str, Any]:
    """Runs in its own process: seconds, the answer (as pylist) and peak RSS."""
    run = {"duckdb": run_duckdb, "datafusion": run_datafusion, "acero": run_acero}[engine]
    started = time.perf_counter()
    table = run(work, files)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows_out": table.num_rows,
        "peak_rss_mib": _peak_rss_mib(),
        "answer": table.to_pylist(),
    }


def _agree(mine: list[dict[str, Any]], oracle: list[dict[str, Any]]) -> str | None:
    """None when ``mine`` is DuckDB's answer (column order and names aside), else what differs."""
    if len(mine) != len(oracle):
        return f"{len(mine)} rows, DuckDB {len(oracle)}"
    for a, b in zip(mine, oracle, strict=True):
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True):
            if isinstance(va, float) or isinstance(vb, float):
                if not math.isclose(float(va), float(vb), rel_tol=1e-9, abs_tol=1e-6):
                    return f"{ka}={va} against {kb}={vb}"
            elif va != vb:
                return f"{ka}={va} against {kb}={vb}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "WORK"), help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.files)))
        return 0
    out: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv), "rows": args.rows}
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.rows)
        out["parquet_mib"] = round(sum(Path(f).stat().st_size for f in files) / 2**20, 1)
        for work in WORKS:
            oracle = None
            for engine in ENGINES:
                runs = []
                for _ in range(args.repeat):
                    cmd = [
                        sys.executable,
                        "-m",
                        "benchmarks.aggregation_engines",
                        "--one",
                        engine,
                        work,
                        "--files",
                        *files,
                    ]
                    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
                    if done.returncode != 0:
                        runs.append({"error": done.stderr.strip().splitlines()[-1][:300]})
                        break
                    runs.append(json.loads(done.stdout))
                ok = [r for r in runs if "error" not in r]
                cell: dict[str, Any] = {"runs": [{k: v for k, v in r.items() if k != "answer"} for r in runs]}
                if ok:
                    cell["seconds_median"] = round(statistics.median(r["seconds"] for r in ok), 3)
                    cell["peak_rss_mib_max"] = round(max(r["peak_rss_mib"] for r in ok), 1)
                    if engine == "duckdb":
                        oracle = ok[0]["answer"]
                    cell["agrees_with_duckdb"] = (
                        _agree(ok[0]["answer"], oracle) or "yes" if oracle is not None else "no oracle"
                    )
                out.setdefault(work, {})[engine] = cell
                print(work, engine, {k: v for k, v in cell.items() if k != "runs"}, flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"aggregation-engines-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
