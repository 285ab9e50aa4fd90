"""Shared fixtures. System-test fixtures (real processes) live in tests/system/."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# differing_executors: the relay suite runs one set of test methods on two subclasses (one
# per implementation) on purpose; each subclass's examples are independent.
_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.differing_executors]
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=_SUPPRESSED)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=_SUPPRESSED)
settings.load_profile("ci")


@pytest.fixture
def restore_root_logging() -> Iterator[None]:
    """For tests whose code configures the process's logging (logs.configure): the root
    logger's handlers and level put back afterwards, any handler added closed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level
