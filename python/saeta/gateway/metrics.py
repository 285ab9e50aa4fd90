"""The gateway's Prometheus metrics (docs/metrics.md), on ``GET /metrics``: what it holds
(tunnels, sockets, streams, revocation state), and what its queries did — by tenant,
transport (socket, http, flight) and outcome code, with their durations, their time to
the first batch, and the rows and bytes relayed. A label is never a session, a user or a
dataset: tenants are bounded by the CA's certificates, codes and transports by the code.

Each gateway has a registry of its own (not prometheus-client's global one), so several
in one process (tests) do not mix."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

import saeta

# Seconds: from a few milliseconds (an aggregate on a quiet source) to the query timeout.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TRANSPORTS = ("socket", "http", "flight")


class _State(Collector):
    """The gauges read when scraped: ``read`` gives name -> (help, value)."""

    def __init__(self, read: Callable[[], dict[str, tuple[str, float]]], relay: str) -> None:
        self.read, self.relay = read, relay

    def collect(self) -> Iterator[GaugeMetricFamily | InfoMetricFamily]:
        yield InfoMetricFamily(
            "saeta_gateway_build",
            "the gateway's version and relay",
            {"version": saeta.__version__, "relay": self.relay},
        )
        for name, (text, value) in self.read().items():
            yield GaugeMetricFamily(name, text, value=value)


class GatewayMetrics:
    def __init__(self, read_state: Callable[[], dict[str, tuple[str, float]]], relay: str) -> None:
        self.registry = CollectorRegistry()  # collectors are not read at registration: the gateway is not built yet
        self.queries = Counter(
            "saeta_gateway_queries",
            "queries and subscriptions ended, by tenant, transport and outcome (OK or the error code)",
            ["tenant", "transport", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "saeta_gateway_query_duration_seconds",
            "from a query's start to its end (subscriptions excluded)",
            ["transport"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.first_batch = Histogram(
            "saeta_gateway_query_first_batch_seconds",
            "from a query's start to its first record batch sent",
            ["transport"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "saeta_gateway_relayed_rows", "rows relayed from connectors to clients", ["tenant"], registry=self.registry
        )
        self.bytes = Counter(
            "saeta_gateway_relayed_bytes",
            "bytes of Arrow relayed from connectors to clients",
            ["tenant"],
            registry=self.registry,
        )
        self.revocation_delay = Histogram(
            "saeta_gateway_revocation_delay_seconds",
            "from a session's revocation at the control plane to its news here (pushed through Redis)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.registry.register(_State(read_state, relay))

    def query_done(self, tenant: str, transport: str, code: str, seconds: float | None) -> None:
        """One query or subscription ended (``seconds``: a query's duration; None for a
        subscription, which lasts as long as it is followed)."""
        self.queries.labels(tenant, transport, code).inc()
        if seconds is not None:
            self.duration.labels(transport).observe(seconds)

    def relayed(self, tenant: str, rows: int, nbytes: int) -> None:
        self.rows.labels(tenant).inc(rows)
        self.bytes.labels(tenant).inc(nbytes)
