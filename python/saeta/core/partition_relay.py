"""One data call's accounting, for a query's partition and a subscription alike: the
rows relayed against the limit and the end marker's count, the browser frames each piece
becomes, the bytes they hold, and how the call ends for the connector (a typed Abort, or
None when it is answered OK). Sans-I/O: the shell (gateway/query.py) feeds it what the
data call gives and sends the frames it returns.

A subscription uses the same relay with no limit: its snapshot is announced once the
rows the connector said it holds have been relayed (``snapshot_due``), and the end of its
stream, on unsubscribe, is a clean end (``unsubscribed``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from saeta.core import frame_split
from saeta.core.tunnel_codec import Abort
from saeta.errors import QueryFailed


class PartitionRelay:
    def __init__(self, schema: pa.Schema, frame_payload: int, limit: int | None = None, what: str = "query") -> None:
        self.schema, self.frame_payload, self.limit = schema, frame_payload, limit
        self.rows = 0
        self.nbytes = 0
        self.abort: Abort | None = Abort(f"{what} stopped")  # until it ends well
        self._snapshot_told = False

    def chunk(self, rows: int, payload: Any) -> Iterator[Any]:
        """A piece of ``rows`` rows: the frame payloads to send, in order (each within the
        frame limit). Raises QueryFailed, with the abort set, past the limit."""
        self.rows += rows
        if self.limit is not None and self.rows > self.limit:
            self.abort = Abort("more rows than asked", invalid_data=True)
            raise QueryFailed("the connector sent more rows than the limit")
        for part in frame_split.split_payload(payload, self.schema, self.frame_payload):
            self.nbytes += len(part)
            yield part

    def end(self, records: int) -> None:
        """The connector's end marker. Raises QueryFailed when it announces other rows
        than it sent."""
        if records != self.rows:
            raise QueryFailed(f"the connector announced {records} rows but sent {self.rows}")
        self.abort = None

    def invalid_data(self) -> None:
        """The connector's bytes were refused: the call ends INVALID_ARGUMENT."""
        self.abort = Abort("invalid Arrow data", invalid_data=True)

    def unsubscribed(self) -> None:
        """A subscription ended by its browser: the connector's call is cancelled, cleanly."""
        self.abort = Abort("unsubscribed")

    def snapshot_due(self, snapshot_rows: int | None) -> bool:
        """True once, when the snapshot's ``snapshot_rows`` (None: not known yet) have
        all been relayed."""
        if self._snapshot_told or snapshot_rows is None or self.rows < snapshot_rows:
            return False
        self._snapshot_told = True
        return True

    @property
    def ended(self) -> bool:
        """The end marker came and agreed: the call is answered OK."""
        return self.abort is None

    @property
    def snapshot_told(self) -> bool:
        return self._snapshot_told
