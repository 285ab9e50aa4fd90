"""Text that reaches a log line from outside (a connector's version string, a source's
error, a browser's request) is made inert before it is written: a value can never start a
line of its own, recolour a terminal, reorder text or break the log's encoding."""

from __future__ import annotations

import re

# C0 and C1 controls (newline, carriage return, ESC of ANSI sequences), DEL, line and
# paragraph separators, bidirectional overrides and isolates, and lone surrogates (which
# cannot be encoded as UTF-8 at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str) -> str:
    """``text`` with every unsafe character written as a ``\\xNN`` or ``\\uNNNN`` escape;
    text without one is returned as it is."""
    return _UNSAFE.sub(_escape, text)


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
