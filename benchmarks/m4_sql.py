"""The SQL of an M4 chart query (issue 16): the connector's own form (connector/aggregate.py's
sql_of over DuckDB's Parquet reader, as a Parquet dataset runs it) against the forms it
could take, on the same files in the same run, interleaved, each run in a fresh DuckDB
of 2 threads (as the connector opens one a query):

- ``saeta``: the connector's query (first and last ordered by the column's milliseconds);
- ``raw_order``: first and last ordered by the time column itself (one epoch_ms a row
  fewer);
- ``int_buckets``: integer milliseconds divided by an integer width (no float floor);
- ``scan``: DuckDB's sum of both columns, the floor of any query reading them.

Every form's answer is checked against saeta's (the same buckets, counts, min, max, first
and last), so a fast wrong form cannot win.

    python -m benchmarks.m4_sql [--millions 20] [--buckets 1434] [--runs 7]

Writes benchmarks/results/m4-sql-*.json."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "python"))

import duckdb  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from saeta.connector.aggregate import NativeScan, sql_of  # noqa: E402
from saeta.core.aggregation import bind_aggregate, bucket_params, parse_aggregate  # noqa: E402
from saeta.core.filters import kinds_of  # noqa: E402

from benchmarks.dashboard_scale import make_files  # noqa: E402

SRC = '(SELECT "fecha", "total" FROM read_parquet($files)) AS src'
EDGE = "epoch_ms(CAST(floor(($lo + b * $width)) AS BIGINT))"
MEASURES = "count(*) AS c, min(total) AS mi, max(total) AS ma"
RAW_ORDER = f"""SELECT {EDGE} AS fecha, c, mi, ma, f, l FROM (
  SELECT least(CAST(floor((epoch_ms(fecha) - $lo) / $width) AS BIGINT), $last) AS b, {MEASURES},
  arg_min(total, fecha) AS f, arg_max(total, fecha) AS l
  FROM {SRC} WHERE fecha IS NOT NULL GROUP BY b) ORDER BY fecha"""  # noqa: S608 (constants)
INT_BUCKETS = f"""SELECT epoch_ms(CAST($lo AS BIGINT) + b * $iwidth) AS fecha, c, mi, ma, f, l FROM (
  SELECT least((epoch_ms(fecha) - CAST($lo AS BIGINT)) // $iwidth, $last) AS b, {MEASURES},
  arg_min(total, fecha) AS f, arg_max(total, fecha) AS l
  FROM {SRC} WHERE fecha IS NOT NULL GROUP BY b) ORDER BY fecha"""  # noqa: S608 (constants)
SCAN = "SELECT sum(total), sum(epoch_ms(fecha)) FROM read_parquet($files)"


def timed(sql: str, params: dict[str, Any]) -> tuple[float, list[tuple[Any, ...]]]:
    con = duckdb.connect(config={"threads": 2})
    try:
        start = time.perf_counter()
        rows = con.sql(sql, params=params).fetchall()
        return time.perf_counter() - start, rows
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--millions", type=int, default=20)
    parser.add_argument("--buckets", type=int, default=1434)  # the dashboard's line chart at 1,500 px
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "saeta-bench-ventas")
    args = parser.parse_args()
    files = make_files(args.data, args.millions)
    schema = pq.read_schema(files[0])
    kinds = kinds_of(schema)
    spec = {
        "bucket": {"column": "fecha", "count": args.buckets},
        "measures": [{"op": "count", "as": "c"}] + [{"op": op, "column": "total", "as": op} for op in M4],
    }
    agg = bind_aggregate(parse_aggregate(spec), kinds, "ventas")
    con = duckdb.connect()
    lo, hi = con.sql(
        "SELECT epoch_ms(min(fecha)), epoch_ms(max(fecha)) FROM read_parquet($f)", params={"f": files}
    ).fetchall()[0]
    con.close()
    bucket = bucket_params(agg, kinds["fecha"], (float(lo), float(hi)))
    saeta_sql = sql_of(agg, kinds, NativeScan(tuple(files)).source(["fecha", "total"]), native=True)
    base = {"files": files, **bucket}
    forms = {
        "saeta": (saeta_sql, {**base, "limit": args.buckets + 1, "offset": 0}),
        "raw_order": (RAW_ORDER, base),
        "int_buckets": (INT_BUCKETS, {**base, "iwidth": int(-(-(hi - lo) // args.buckets))}),
        "scan": (SCAN, {"files": files}),
    }
    del forms["int_buckets"][1]["width"]
    times: dict[str, list[float]] = {name: [] for name in forms}
    answers: dict[str, Any] = {}
    for _ in range(args.runs):
        for name, (sql, params) in forms.items():
            seconds, rows = timed(sql, params)
            times[name].append(seconds)
            answers[name] = rows
    want = [(r[1], r[2], r[3], r[4], r[5]) for r in answers["saeta"]]
    agree = {
        name: [(r[1], r[2], r[3], r[4], r[5]) for r in answers[name]] == want for name in ("raw_order", "int_buckets")
    }
    median = {name: round(statistics.median(t), 3) for name, t in times.items()}
    point = {
        "millions": args.millions,
        "buckets": args.buckets,
        "runs": args.runs,
        "median_s": median,
        "runs_s": {name: [round(x, 3) for x in t] for name, t in times.items()},
        "vs_saeta": {name: round(median[name] / median["saeta"], 3) for name in forms},
        "vs_scan": {name: round(median[name] / median["scan"], 3) for name in forms},
        "agree_with_saeta": agree,
    }
    print(json.dumps(point, indent=1))
    out = ROOT / "benchmarks" / "results" / f"m4-sql-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(point, indent=1))
    print(f"wrote {out}")
    return 0


M4 = ("min", "max", "first", "last")

if __name__ == "__main__":
    raise SystemExit(main())
