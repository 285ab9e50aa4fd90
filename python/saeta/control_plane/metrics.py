"""The control plane's Prometheus metrics (docs/metrics.md), on ``GET /metrics``: sessions
issued and revoked by tenant, the gateways' lookups by outcome, admin calls refused by
code, revocations pushed through Redis by outcome. Never a session or a user in a label."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import InfoMetricFamily
from prometheus_client.registry import Collector

import saeta

LOOKUP_OUTCOMES = ("found", "not_found", "revoked", "unauthorized")
PUSH_OUTCOMES = ("pushed", "failed", "no_redis")


class _Build(Collector):
    def collect(self) -> list[InfoMetricFamily]:
        return [
            InfoMetricFamily("saeta_control_plane_build", "the control plane's version", {"version": saeta.__version__})
        ]


class ControlPlaneMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.issued = Counter(
            "saeta_control_plane_sessions_issued", "sessions issued, by tenant", ["tenant"], registry=self.registry
        )
        self.revoked = Counter(
            "saeta_control_plane_sessions_revoked", "sessions revoked, by tenant", ["tenant"], registry=self.registry
        )
        self.lookups = Counter(
            "saeta_control_plane_lookups",
            "the gateways' session lookups, by outcome (found, not_found, revoked, unauthorized)",
            ["outcome"],
            registry=self.registry,
        )
        self.lookup_duration = Histogram(
            "saeta_control_plane_lookup_duration_seconds",
            "a gateway's session lookup, from its arrival to its answer",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=self.registry,
        )
        self.refused = Counter(
            "saeta_control_plane_admin_refused",
            "admin calls refused, by code (HOST_REFUSED, ORIGIN_REFUSED, UNAUTHORIZED, UNSUPPORTED_MEDIA_TYPE)",
            ["code"],
            registry=self.registry,
        )
        self.pushes = Counter(
            "saeta_control_plane_revocations_pushed",
            "revocations told to the gateways through Redis, by outcome (pushed, failed, no_redis)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in LOOKUP_OUTCOMES:
            self.lookups.labels(outcome)
        for outcome in PUSH_OUTCOMES:
            self.pushes.labels(outcome)
        self.registry.register(_Build())
