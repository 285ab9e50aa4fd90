"""What the browser frame limit costs: the suite's 2M x 8 table read end to end (Rust relay,
data plane) through gateways that differ only in websocket.max_frame_bytes, interleaved in
one run. 16 MiB is the behaviour before the limit (frames of the connector's coalesced
messages, about performance.chunk_bytes plus one batch); 1 MiB is the default.

    python -m benchmarks.frame_size [--rows N] [--runs N]

Writes benchmarks/results/frame-size-*.json."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from saeta import certs

from benchmarks import e2e, workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MiB = 1024 * 1024
LIMITS = (16 * MiB, MiB, 256 * 1024)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="saeta-frames-") as tmp:
        root = Path(tmp)
        cert_dir = root / "certs"
        certs.init_ca(cert_dir)
        certs.issue_client(cert_dir, "acme")
        parquet = root / "data" / "bench.parquet"
        volume = workload.ipc_bytes(workload.write(parquet, args.rows))
        targets: list[e2e.Target] = []
        try:
            for limit in LIMITS:
                target = e2e.SaetaTarget(
                    root / f"limit-{limit}",
                    cert_dir,
                    parquet,
                    "rust",
                    workload.BATCH_ROWS,
                    websocket={"max_frame_bytes": limit},
                )
                target.name = f"max_frame_bytes {limit}"
                targets.append(target)
            results = e2e.interleaved(targets, args.runs, volume)
        finally:
            for t in targets:
                t.stop()
    before = results[0]
    point: dict[str, object] = {
        "rows": args.rows,
        "runs": args.runs,
        "volume_bytes": volume,
        "results": [
            {
                "max_frame_bytes": limit,
                "mb_per_s": round(r.mb_per_s, 1),
                "ratio_to_16MiB": round(r.mb_per_s / before.mb_per_s, 3),
                "first_batch_ms": round(r.first_batch_ms, 1),
                "gateway_cpu_s_per_gb": round(r.cpu_per_gb("gateway"), 3),
                "connector_cpu_s_per_gb": round(r.cpu_per_gb("connector"), 3),
            }
            for limit, r in zip(LIMITS, results, strict=True)
        ],
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"frame-size-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(point, indent=1))
    print(json.dumps(point, indent=1))
    print(f"written to {out}")
    return point


if __name__ == "__main__":
    main()
