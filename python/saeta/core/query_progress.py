"""A resumable query's progress through its partitions, sans I/O (docs/protocol.md,
"Resuming"): which partition to begin next and from which row, the rows each running one
has sent, and the Position a resume token records after each frame group. A query
resumed from a token first reads again the partitions the token lists as running (each
from its row count), then those it had not begun."""

from __future__ import annotations

from collections import deque

from saeta.core.resume_token import Position, ResumeUnavailable


class Progress:
    def __init__(self, partitions: int, start: Position | None = None) -> None:
        start = start or Position(0, (), 0)
        if start.taken > partitions or any(index >= partitions for index, _ in start.running):
            raise ResumeUnavailable("the dataset has fewer partitions than when the query began")
        self.partitions = partitions
        self.rows = start.rows
        self._again: deque[tuple[int, int]] = deque(start.running)  # (index, rows already sent)
        self._fresh = start.taken  # the next partition never begun
        self._running: dict[int, int] = {}

    def begin(self) -> tuple[int, int] | None:
        """The next partition to read and the rows of it to skip; None when all have begun."""
        if self._again:
            index, skip = self._again.popleft()
        elif self._fresh < self.partitions:
            index, skip = self._fresh, 0
            self._fresh += 1
        else:
            return None
        self._running[index] = skip
        return index, skip

    def sent(self, index: int, rows: int) -> None:
        """Partition ``index`` sent ``rows`` more rows."""
        self._running[index] += rows
        self.rows += rows

    def finished(self, index: int) -> None:
        self._running.pop(index, None)

    def position(self) -> Position:
        pending = list(self._again) + list(self._running.items())
        return Position(self._fresh, tuple(sorted(pending)), self.rows)
