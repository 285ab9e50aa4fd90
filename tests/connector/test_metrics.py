"""connector/metrics.py without a process: dataset labels stay within the config's
datasets, and only partitions sent whole count their rows."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from saeta.connector.metrics import UNKNOWN_DATASET, ConnectorMetrics


def _samples(metrics: ConnectorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_name_outside_the_config_is_one_label() -> None:
    metrics = ConnectorMetrics("acme", ["ventas"])
    for name in ("nada", "otra", "x" * 500):
        metrics.described(name, "DATASET_NOT_FOUND")
    samples = _samples(metrics)
    assert (
        samples[("saeta_connector_describes_total", (("code", "DATASET_NOT_FOUND"), ("dataset", UNKNOWN_DATASET)))] == 3
    )
    assert not any(dict(labels).get("dataset") == "nada" for _, labels in samples)


def test_rows_count_only_for_partitions_sent_whole() -> None:
    metrics = ConnectorMetrics("acme", ["ventas"])
    metrics.partition_done("ventas", "OK", 0.5, 10, 800)
    metrics.partition_done("ventas", "CANCELLED", 0.1)
    samples = _samples(metrics)
    assert samples[("saeta_connector_sent_rows_total", (("dataset", "ventas"),))] == 10
    assert samples[("saeta_connector_partitions_total", (("code", "CANCELLED"), ("dataset", "ventas")))] == 1
    assert samples[("saeta_connector_partition_duration_seconds_count", (("dataset", "ventas"),))] == 2
