"""The dashboard at any size (issue 16): time to a finished chart in headless Chromium, with
real processes (control plane, gateway, connector, PostgreSQL), against the source
engine's own work on the same data in the same run:

- a line chart of `total` over `fecha` (M4 summarised at the source for the chart's
  width) at 2M, 20M and 100M Parquet rows (the demo's `ventas`, generated once into
  --data), beside DuckDB's own scan of the same files (a sum of both columns), and
  the rows path (a row limit of every row: every row to the browser) at 2M and 20M as
  the before;
- a bar chart by `region` at 20M rows, beside DuckDB's own GROUP BY on the same files;
- a bucketed line chart of a 1M-row PostgreSQL table, beside the same GROUP BY run
  directly on PostgreSQL;
- the page's JS heap (Chromium's Performance.getMetrics) and its renderer's RSS (/proc)
  after each chart.

"Finished" is the panel's state `done`: the chart drawn and its table's first page
served. Medians of --runs (3).
Usage: python -m benchmarks.dashboard_scale [--runs N] [--sizes 2,20,100] [--data DIR]
Writes benchmarks/results/dashboard-scale-*.json."""

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

import duckdb  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.demo_data import ventas  # noqa: E402

from tests.system.chromium import launch  # noqa: E402
from tests.system.harness import Deployment  # noqa: E402
from tests.system.postgres_server import PASSWORD, PostgresServer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ROWS_PER_FILE = 2_000_000
PG_ROWS = 1_000_000


def make_files(folder: Path, millions: int) -> list[str]:
    """``millions`` x 1M rows of ventas in 2M-row files (kept between runs)."""
    target = folder / f"ventas-{millions}m"
    rows = millions * 1_000_000
    files = [target / f"part-{i:03d}.parquet" for i in range((rows + ROWS_PER_FILE - 1) // ROWS_PER_FILE)]
    if not all(f.exists() for f in files):
        target.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(files):
            n = min(ROWS_PER_FILE, rows - i * ROWS_PER_FILE)
            pq.write_table(ventas(n, seed=7 + i, start=i * ROWS_PER_FILE), path, row_group_size=131072)
    return [str(f) for f in files]


def duckdb_seconds(sql: str, files: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        con = duckdb.connect(config={"threads": 2})
        start = time.perf_counter()
        con.sql(sql, params={"files": files}).fetchall()
        times.append(time.perf_counter() - start)
        con.close()
    return statistics.median(times)


# A scan of both columns DuckDB cannot answer from the footers' statistics (min, max and
# count alone it does: 6 ms for 2M rows).
SCAN = "SELECT sum(total), sum(epoch_ms(fecha)) FROM read_parquet($files)"
BY_REGION = "SELECT region, count(*), sum(total) FROM read_parquet($files) GROUP BY region"
PG_M4 = """SELECT floor((extract(epoch FROM fecha) * 1000 - {lo}) / {width}) AS b, count(*), min(total), max(total),
       (array_agg(total ORDER BY fecha))[1], (array_agg(total ORDER BY fecha DESC))[1]
FROM ventas GROUP BY b ORDER BY b"""


def renderer_rss_mib() -> float:
    """The resident memory of Chromium's renderer processes (the page's), from /proc."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"--type=renderer" not in (proc / "cmdline").read_bytes():
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def chart(page: Any, cdp: Any, url: str, dataset: str, chart_type: str, x: str, limit: int | None) -> dict[str, Any]:
    """One dashboard run: open, pick, Run; seconds from the click to done, and what shows."""
    page.goto(url)
    page.wait_for_function("() => window.saeta.state === 'open' && window.saeta.datasets.length")
    panel = page.locator("[data-testid=panel]").first
    panel.locator("[data-testid=dataset]").select_option(dataset)
    page.wait_for_function("() => window.saeta.panels[0].state === 'ready'")
    panel.locator("[data-testid=chart-type]").select_option(chart_type)
    panel.locator("[data-testid=x]").select_option(x)
    panel.locator("[data-testid=y]").select_option("total")
    if limit is not None:
        panel.locator("[data-testid=limit]").fill(str(limit))
    started = time.perf_counter()
    panel.locator("[data-testid=run]").click()
    page.wait_for_function("() => ['done', 'error'].includes(window.saeta.panels[0].state)", timeout=600_000)
    seconds = time.perf_counter() - started
    assert page.evaluate("window.saeta.panels[0].state") == "done", panel.get_attribute("data-error")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {
        "seconds": seconds,
        "rows": int(panel.get_attribute("data-rows") or 0),
        "points": int(panel.get_attribute("data-points") or 0),
        "bytes": page.evaluate("window.saeta.panels[0].stats.bytes"),
        "js_heap_mib": round(metrics["JSHeapUsedSize"] / 2**20, 1),
        "renderer_rss_mib": renderer_rss_mib(),
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[len(runs) // 2])
    out["seconds"] = round(statistics.median(r["seconds"] for r in runs), 3)
    out["runs_s"] = [round(r["seconds"], 3) for r in runs]
    out["js_heap_mib"] = max(r["js_heap_mib"] for r in runs)
    out["renderer_rss_mib"] = max(r["renderer_rss_mib"] for r in runs)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="2,20,100", help="millions of rows")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "saeta-bench-ventas")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    files = {m: make_files(args.data, m) for m in sizes}
    point: dict[str, Any] = {"runs": args.runs, "sizes_millions": sizes, "line": {}, "rows_path": {}}
    pg = PostgresServer()
    pg.start()
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(Path(tmp))
        certs.init_ca(dep.certs)
        try:
            pg.ingest("ventas", ventas(PG_ROWS, seed=3))
            secret = dep.root / "pg.pass"
            secret.write_text(PASSWORD + "\n")
            datasets: dict[str, Any] = {f"v{m}m": {"type": "parquet", "path": files[m]} for m in sizes}
            datasets["pg"] = {"type": "postgresql", "uri": pg.uri, "password_file": str(secret), "table": "ventas"}
            dep.start_control_plane()
            dep.start_gateway()
            dep.start_connector("acme", datasets, max_chunk_size=16384)
            url = f"http://127.0.0.1:{dep.http_port}/?session={dep.session('acme', ttl=7200)}"
            with sync_playwright() as p:
                browser = launch(p)
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                for m in sizes:
                    line = median_of([chart(page, cdp, url, f"v{m}m", "line", "fecha", None) for _ in range(args.runs)])
                    line["duckdb_scan_s"] = round(duckdb_seconds(SCAN, files[m], args.runs), 3)
                    line["vs_duckdb_scan"] = round(line["seconds"] / line["duckdb_scan_s"], 2)
                    assert line["rows"] == m * 1_000_000, line
                    point["line"][f"{m}M"] = line
                    print(f"line {m}M: {line['seconds']} s, DuckDB scan {line['duckdb_scan_s']} s, {line}")
                for m in [s for s in sizes if s <= 20]:
                    raw = chart(page, cdp, url, f"v{m}m", "line", "fecha", m * 1_000_000)  # one run: it is slow
                    point["rows_path"][f"{m}M"] = {
                        k: round(v, 3) if isinstance(v, float) else v for k, v in raw.items()
                    }
                    print(f"rows path {m}M: {raw}")
                bar_size = 20 if 20 in sizes else sizes[-1]
                bar = median_of(
                    [chart(page, cdp, url, f"v{bar_size}m", "bar", "region", None) for _ in range(args.runs)]
                )
                bar["duckdb_group_by_s"] = round(duckdb_seconds(BY_REGION, files[bar_size], args.runs), 3)
                bar["vs_duckdb"] = round(bar["seconds"] / bar["duckdb_group_by_s"], 2)
                point["bar_by_region"] = {"millions": bar_size, **bar}
                print(f"bar {bar_size}M: {bar}")
                pg_line = median_of([chart(page, cdp, url, "pg", "line", "fecha", None) for _ in range(args.runs)])
                browser.close()
            width = 1500  # the same order of buckets as the panel's canvas
            lo = 1_704_067_200_000
            direct = []
            import adbc_driver_postgresql.dbapi as pgdb

            with pgdb.connect(pg.admin_uri) as conn, conn.cursor() as cur:
                for _ in range(args.runs):
                    start = time.perf_counter()
                    cur.execute(PG_M4.format(lo=lo, width=(PG_ROWS * 30_000) / width))
                    cur.fetchall()
                    direct.append(time.perf_counter() - start)
            pg_line["postgres_group_by_s"] = round(statistics.median(direct), 3)
            pg_line["vs_postgres"] = round(pg_line["seconds"] / pg_line["postgres_group_by_s"], 2)
            point["postgres_line"] = {"rows": PG_ROWS, **pg_line}
            print(f"postgres line: {pg_line}")
        finally:
            dep.stop()
            pg.stop()
    line = point["line"]
    if len(sizes) > 1:
        small, big = f"{sizes[0]}M", f"{sizes[-1]}M"
        point["growth"] = {
            "chart": round(line[big]["seconds"] / line[small]["seconds"], 2),
            "duckdb_scan": round(line[big]["duckdb_scan_s"] / line[small]["duckdb_scan_s"], 2),
            "rows": sizes[-1] / sizes[0],
        }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dashboard-scale-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(point, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
