"""apache-arrow JS against @uwdata/flechette, decoding the same Arrow IPC stream in headless
Chromium (issue 16): the demo's `ventas` (2M rows x 7 columns, as the gateway streams it),
held in the page as one ArrayBuffer; each library makes a table of it, then every value of
`total` (float64), `fecha` (timestamp) and `region` (text) is read. Interleaved runs,
medians; what each read is compared with pyarrow's, so the faster one counts only where it
is correct. Usage: python -m benchmarks.arrow_js_decode [--rows N] [--runs N]
Writes benchmarks/results/arrow-js-decode-*.json."""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from saeta.demo_data import ventas  # noqa: E402

from tests.system.chromium import launch  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WEB = ROOT / "web"
BUILD = """
import { build } from 'esbuild';
await build({ entryPoints: [process.argv[1]], outfile: process.argv[2], bundle: true, format: 'esm',
  target: ['es2022'], minify: true, logLevel: 'warning' });
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    table = ventas(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=16384):  # the connector's batch size
                writer.write_batch(batch)
        (out / "ventas.arrows").write_bytes(sink.getvalue().to_pybytes())
        subprocess.run(
            ["node", "--input-type=module", "-e", BUILD, str(WEB / "bench" / "decode.js"), str(out / "decode.js")],
            cwd=WEB,
            check=True,
        )
        (out / "index.html").write_text('<!doctype html><script type="module" src="decode.js"></script>')
        quiet = type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
        handler = functools.partial(quiet, directory=tmp)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as p:
                browser = launch(p)
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                page.wait_for_function("() => typeof window.decodeBench === 'function'")
                got = page.evaluate(
                    "async (runs) => { const b = await (await fetch('ventas.arrows')).arrayBuffer();"
                    " return window.decodeBench(b, runs); }",
                    args.runs,
                )
                browser.close()
        finally:
            server.shutdown()
    counts = pc.value_counts(table["region"]).to_pylist()
    regions = dict(sorted((c["values"], c["counts"]) for c in counts))
    want = {
        "rows": table.num_rows,
        "sum": pc.sum(table["total"]).as_py(),
        "last": pc.max(pc.cast(table["fecha"], pa.int64())).as_py(),
        "regions": regions,
    }
    point: dict[str, Any] = {"rows": args.rows, "runs": args.runs, "bytes": len(sink.getvalue())}
    for lib in ("arrow", "flechette"):
        seen = got["checks"][lib]
        correct = (
            seen["rows"] == want["rows"]
            and abs(seen["sum"] - want["sum"]) <= 1e-6 * abs(want["sum"])
            and seen["last"] == want["last"]
            and seen["regions"] == want["regions"]
        )
        point[lib] = {
            "decode_ms": round(statistics.median(got["ms"][lib]), 1),
            "decode_and_read_ms": round(statistics.median(got["ms"][f"{lib}_touch"]), 1),
            "correct": correct,
            **({} if correct else {"read": seen, "want": want}),
        }
    point["flechette_vs_arrow"] = {
        "decode": round(point["flechette"]["decode_ms"] / point["arrow"]["decode_ms"], 2),
        "decode_and_read": round(point["flechette"]["decode_and_read_ms"] / point["arrow"]["decode_and_read_ms"], 2),
    }
    print(json.dumps(point, indent=1))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"arrow-js-decode-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(point, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
