"""Shared fixtures. System-test fixtures (real processes) live in tests/system/."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# differing_executors: the relay suite runs one set of test methods on two subclasses (one
# per implementation) on purpose; each subclass's examples are independent.
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.differing_executors]
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=_SUPPRESSED)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=_SUPPRESSED)
settings.load_profile("ci")
