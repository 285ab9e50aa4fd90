"""The connector's Prometheus metrics (docs/metrics.md), served on a local port when
``metrics.port`` is set (off by default): its tunnels, its registrations, and what its
sources read for the gateway, by dataset and outcome code. A dataset label is always one
of the config's datasets (a name the gateway sends that is not one counts as ``-``), so
labels are bounded by the config."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import InfoMetricFamily
from prometheus_client.registry import Collector

import saeta

UNKNOWN_DATASET = "-"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _Build(Collector):
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    def collect(self) -> Iterator[InfoMetricFamily]:
        yield InfoMetricFamily(
            "saeta_connector_build",
            "the connector's version and tenant",
            {"version": saeta.__version__, "tenant": self.tenant},
        )


class ConnectorMetrics:
    def __init__(self, tenant: str, datasets: Collection[str]) -> None:
        self.datasets = frozenset(datasets)
        self.registry = CollectorRegistry()
        self.tunnels = Gauge("saeta_connector_tunnels", "tunnels registered with a gateway now", registry=self.registry)
        self.registrations = Counter(
            "saeta_connector_registrations",
            "registrations tried, by outcome (ok, refused: the gateway unreachable or refusing)",
            ["outcome"],
            registry=self.registry,
        )
        self.describes = Counter(
            "saeta_connector_describes",
            "queries described (planned) for the gateway, by dataset and outcome code",
            ["dataset", "code"],
            registry=self.registry,
        )
        self.partitions = Counter(
            "saeta_connector_partitions",
            "partitions read for the gateway, by dataset and outcome (OK, an error code, CANCELLED, GATEWAY_ENDED)",
            ["dataset", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "saeta_connector_partition_duration_seconds",
            "a partition's read, from the gateway's request to its last byte sent",
            ["dataset"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "saeta_connector_sent_rows",
            "rows of partitions sent whole, by dataset",
            ["dataset"],
            registry=self.registry,
        )
        self.bytes = Counter(
            "saeta_connector_sent_bytes",
            "bytes of Arrow of partitions sent whole, by dataset",
            ["dataset"],
            registry=self.registry,
        )
        for outcome in ("ok", "refused"):
            self.registrations.labels(outcome)
        self.registry.register(_Build(tenant))

    def label(self, dataset: str) -> str:
        return dataset if dataset in self.datasets else UNKNOWN_DATASET

    def described(self, dataset: str, code: str) -> None:
        self.describes.labels(self.label(dataset), code).inc()

    def partition_done(self, dataset: str, code: str, seconds: float, rows: int = 0, nbytes: int = 0) -> None:
        name = self.label(dataset)
        self.partitions.labels(name, code).inc()
        self.duration.labels(name).observe(seconds)
        if rows or nbytes:
            self.rows.labels(name).inc(rows)
            self.bytes.labels(name).inc(nbytes)


class MetricsServer:
    """prometheus-client's own HTTP server on a thread (a scrape never waits on the event
    loop), bound to ``host`` (loopback by default)."""

    def __init__(self, metrics: ConnectorMetrics, host: str, port: int) -> None:
        self.server: WSGIServer
        self.thread: threading.Thread
        self.server, self.thread = start_http_server(port, host, metrics.registry)
        self.port = self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
