"""Time for a browser to receive and decode the demo's largest dataset (ventas: 2,000,000
rows x 7 columns, 4 Parquet files), in Debian's headless Chromium with real processes:
- the JS client alone: `await query.table()` (every frame decoded by apache-arrow JS);
- the dashboard: Run pressed until the chart and table are final (since issue 16 a chart
  the source summarised, benchmarks/dashboard_scale.py has its figures);
- baseline in the same run: the Python client decoding with pyarrow.
Usage: python benchmarks/browser_decode.py [RUNS]"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from saeta import certs  # noqa: E402
from saeta.client import AsyncClient  # noqa: E402
from saeta.demo_data import write_ventas  # noqa: E402

from benchmarks.report import save  # noqa: E402
from tests.system.chromium import launch  # noqa: E402
from tests.system.harness import Deployment  # noqa: E402

ROWS = 2_000_000

JS_CLIENT_RUN = """async ([session]) => {
  const { connect } = await import('/static/saeta-client.js');
  const conn = await connect(`ws://${location.host}`, session);
  const started = performance.now();
  const table = await conn.query({ dataset: 'ventas' }).table();
  const seconds = (performance.now() - started) / 1000;
  const total = table.getChild('total');
  let sum = 0;
  for (let i = 0; i < table.numRows; i += 1000) sum += total.get(i);  // touch the decoded data
  conn.close();
  return { rows: table.numRows, seconds, sum };
}"""


async def python_run(url: str, session: str) -> float:
    start = time.perf_counter()
    async with await AsyncClient.connect(url, session) as client:
        table = await client.query("ventas")
    assert table.num_rows == ROWS
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(Path(tmp))
        certs.init_ca(dep.certs)
        write_ventas(dep.root / "data", files=4, rows_per_file=ROWS // 4)
        try:
            dep.start_control_plane()
            dep.start_gateway()
            dep.start_connector(
                "acme", {"ventas": {"type": "parquet", "path": "data/ventas-*.parquet"}}, max_chunk_size=16384
            )
            session = dep.session("acme", ttl=3600)
            py = [asyncio.run(python_run(dep.ws_url, session)) for _ in range(runs)]
            js: list[float] = []
            board: list[float] = []
            with sync_playwright() as p:
                browser = launch(p)
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(f"http://127.0.0.1:{dep.http_port}/")
                for _ in range(runs):
                    result = page.evaluate(JS_CLIENT_RUN, [session])
                    assert result["rows"] == ROWS, result
                    js.append(result["seconds"])
                for _ in range(runs):
                    page.goto(f"http://127.0.0.1:{dep.http_port}/?session={session}")
                    page.wait_for_function("() => window.saeta.state === 'open' && window.saeta.datasets.length")
                    panel = page.locator("[data-testid=panel]").first
                    panel.locator("[data-testid=dataset]").select_option("ventas")
                    page.wait_for_function("() => window.saeta.panels[0].state === 'ready'")
                    panel.locator("[data-testid=run]").click()
                    page.wait_for_function("() => window.saeta.panels[0].state === 'done'", timeout=300_000)
                    stats = page.evaluate("() => window.saeta.panels[0].stats")
                    assert stats["rows"] == ROWS, stats
                    board.append(stats["elapsedMs"] / 1000)
                browser.close()
        finally:
            dep.stop()
    result = {
        "rows": ROWS,
        "runs": runs,
        "python_pyarrow_s": round(statistics.median(py), 3),
        "chromium_js_client_s": round(statistics.median(js), 3),
        "chromium_dashboard_s": round(statistics.median(board), 3),
    }
    result["js_client_vs_python"] = round(result["chromium_js_client_s"] / result["python_pyarrow_s"], 2)
    result["dashboard_vs_python"] = round(result["chromium_dashboard_s"] / result["python_pyarrow_s"], 2)
    print(
        f"ventas, {ROWS:,} rows, medians of {runs}: pyarrow client {result['python_pyarrow_s']} s; "
        f"Chromium JS client (receive + decode) {result['chromium_js_client_s']} s "
        f"({result['js_client_vs_python']}x); dashboard (+ chart and table) {result['chromium_dashboard_s']} s "
        f"({result['dashboard_vs_python']}x)"
    )
    save("browser_decode", result)


if __name__ == "__main__":
    main()
