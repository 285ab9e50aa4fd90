"""Reconnect delays: exponential backoff with equal jitter (a uniform draw in the upper half
of each delay, never less than half of it), capped."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """``next_delay()`` gives base * 2**attempt seconds (capped at ``cap``), jittered to a
    uniform value in [delay/2, delay] so that many connectors do not return in step.
    ``reset()`` after a success."""

    base: float
    cap: float
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self.rng.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0
