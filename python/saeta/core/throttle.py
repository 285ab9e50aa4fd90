"""How many lines of one kind a flood may write to the log."""

from __future__ import annotations


class LogThrottle:
    """How many lines of one kind may be logged: ``burst`` per ``window`` seconds, then
    none until the window ends; the lines held back are counted so that the next line
    says how many there were. Sans-I/O: the caller passes the time."""

    def __init__(self, burst: int, window: float) -> None:
        self.burst, self.window = burst, window
        self._start = float("-inf")
        self._count = 0
        self._held = 0

    def allow(self, now: float) -> bool:
        """Whether a line may be logged at ``now`` (monotonic seconds)."""
        if now - self._start >= self.window:
            self._start, self._count = now, 0
        if self._count < self.burst:
            self._count += 1
            return True
        self._held += 1
        return False

    def take_held(self) -> int:
        """Lines held back since the last call; call it when a line is allowed, to say so."""
        held, self._held = self._held, 0
        return held

    def note(self) -> str:
        """What an allowed line adds to say how many were held back before it (or "")."""
        held = self.take_held()
        return f" ({held} similar lines held back)" if held else ""
