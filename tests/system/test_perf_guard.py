"""Regression guard for the hot path: a quick end-to-end run of saeta (the Rust data plane,
read over wss://) and of the Flight baseline (its best reader) in the same test, on the
same machine. It fails when saeta's throughput falls below half of the committed ratio to
Flight, or when the gateway's CPU per GB, as a ratio to Flight's server's in the same run,
rises above 1.5 times the committed one (benchmarks/reference.json): a noisy machine moves
both sides alike and never fails it, a broken hot path does. The real figures come from
`make bench`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from saeta import certs

from benchmarks import e2e, workload

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
ROWS = 400_000
RUNS = 3


def test_saeta_keeps_within_half_of_its_reference_ratio_to_flight(tmp_path: Path) -> None:
    committed = json.loads((ROOT / "benchmarks" / "reference.json").read_text())
    reference = committed["saeta_vs_flight"]
    cpu_reference = committed["gateway_cpu_vs_flight_server"]
    cert_dir = tmp_path / "certs"
    certs.init_ca(cert_dir)
    certs.issue_client(cert_dir, "acme")
    parquet = tmp_path / "data" / "bench.parquet"
    volume = workload.ipc_bytes(workload.write(parquet, ROWS))
    targets: list[e2e.Target] = []
    try:
        targets.append(e2e.FlightTarget(tmp_path, cert_dir, parquet))
        targets.append(e2e.SaetaTarget(tmp_path / "saeta", cert_dir, parquet, "rust", workload.BATCH_ROWS, https=True))
        flight, saeta = e2e.interleaved(targets, RUNS, volume)
    finally:
        for target in targets:
            target.stop()
    for result in (flight, saeta):
        assert all(run.rows == ROWS for run in result.runs)
    ratio = saeta.mb_per_s / flight.mb_per_s
    cpu = saeta.cpu_per_gb("gateway") / flight.cpu_per_gb("server")
    print(
        f"saeta {saeta.mb_per_s:.0f} MB/s, Flight {flight.mb_per_s:.0f} MB/s: ratio {ratio:.2f} "
        f"(reference {reference}, floor {reference / 2:.2f}); gateway CPU per GB {cpu:.2f} x Flight's server "
        f"(reference {cpu_reference}, ceiling {cpu_reference * 1.5:.2f})"
    )
    assert ratio >= reference / 2, f"hot path regression: {ratio:.2f} x Flight, floor {reference / 2:.2f}"
    assert cpu <= cpu_reference * 1.5, (
        f"gateway CPU regression: {cpu:.2f} x Flight's server, ceiling {cpu_reference * 1.5:.2f}"
    )
