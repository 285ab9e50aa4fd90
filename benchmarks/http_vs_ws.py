"""Raw rows to Chromium over HTTP streaming against the WebSocket (issue 16): the JS
client's `conn.fetchTable(spec)` (POST /query, a fetch() body) and
`conn.query(spec).table()` over the socket (option `http: 'never'`), and the same over
HTTP as the client sends a large raw query by itself (`stream`: an HttpQuery, its batches
decoded as they come), on the same 2M-row Parquet dataset, interleaved runs, medians;
every table checked to hold every row with the same sum. Real processes.
Usage: python -m benchmarks.http_vs_ws [--runs N] [--data DIR]
Writes benchmarks/results/http-vs-ws-*.json."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from saeta import certs  # noqa: E402

from benchmarks.dashboard_scale import make_files  # noqa: E402
from tests.system.chromium import launch  # noqa: E402
from tests.system.harness import Deployment  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RUN = """async ([session, how]) => {
  const { connect } = await import('/static/saeta-client.js');
  const conn = await connect(`ws://${location.host}`, session, { http: how === 'ws' ? 'never' : 'auto' });
  const spec = { dataset: 'ventas' };
  const started = performance.now();
  const query = how === 'http' ? null : conn.query(spec);
  if (query && query.transport !== (how === 'ws' ? 'socket' : 'http')) throw new Error(`went by ${query.transport}`);
  const table = how === 'http' ? await conn.fetchTable(spec) : await query.table();
  const seconds = (performance.now() - started) / 1000;
  const total = table.getChild('total').toArray();
  let sum = 0;
  for (let i = 0; i < total.length; i++) sum += total[i];
  conn.close();
  return { rows: table.numRows, seconds, sum };
}"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "saeta-bench-ventas")
    args = parser.parse_args()
    files = make_files(args.data, 2)
    times: dict[str, list[float]] = {"http": [], "stream": [], "ws": []}
    checks: dict[str, tuple[int, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(Path(tmp))
        certs.init_ca(dep.certs)
        try:
            dep.start_control_plane()
            dep.start_gateway()
            dep.start_connector("acme", {"ventas": {"type": "parquet", "path": files}}, max_chunk_size=16384)
            session = dep.session("acme", ttl=3600)
            with sync_playwright() as p:
                browser = launch(p)
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{dep.http_port}/")
                for _ in range(args.runs):
                    for how in ("ws", "http", "stream"):
                        got = page.evaluate(RUN, [session, how])
                        times[how].append(got["seconds"])
                        checks[how] = (got["rows"], got["sum"])
                browser.close()
        finally:
            dep.stop()
    for how in ("http", "stream"):
        assert checks[how][0] == checks["ws"][0] == 2_000_000, checks
        assert abs(checks[how][1] - checks["ws"][1]) < 1e-6 * abs(checks["ws"][1]), checks
    point = {
        "rows": 2_000_000,
        "runs": args.runs,
        "ws_s": round(statistics.median(times["ws"]), 3),
        "http_s": round(statistics.median(times["http"]), 3),
        "stream_s": round(statistics.median(times["stream"]), 3),
        "ws_runs_s": [round(t, 3) for t in times["ws"]],
        "http_runs_s": [round(t, 3) for t in times["http"]],
        "stream_runs_s": [round(t, 3) for t in times["stream"]],
    }
    point["http_speedup"] = round(point["ws_s"] / point["http_s"], 2)
    point["stream_speedup"] = round(point["ws_s"] / point["stream_s"], 2)
    print(json.dumps(point, indent=1))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"http-vs-ws-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(point, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
