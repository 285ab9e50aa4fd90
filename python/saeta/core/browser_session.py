"""One browser socket's protocol state, sans-I/O: each text message the client sends
goes in with the time, and one decision comes out for the shell (gateway/browser.py) to
carry out — a frame to send, a query to start, a query to cancel, a subscription to
stop, the dataset list to answer. The socket's query table lives here: which ids run
(so a second query with a running id is refused), the per-socket cap, the session's caps
over all its sockets (core/session_limits.py), the tenant's and user's quotas
(core/quotas.py), and the stream ids the socket's queries are numbered with.

The shell tells ``finished(id)`` when a started query has ended, whatever the reason;
that releases what ``receive`` counted for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from saeta.core import browser_protocol as bp
from saeta.core.quotas import QuotaExceeded, Quotas
from saeta.core.session_limits import SessionLimits
from saeta.errors import TooManyQueries


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``text`` to the client. ``refusal``: the code and message of a refused request,
    for the shell's log line (``"bad_request"`` or ``"quota"``: which log throttle)."""

    text: str
    refusal: tuple[Literal["bad_request", "quota"], str, str] | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """Start ``request``: a query, or a subscription (``request`` is a Subscribe)."""

    request: bp.RunQuery | bp.Subscribe


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the running query ``id`` (its task: the client is told QUERY_CANCELLED)."""

    id: str


@dataclass(frozen=True, slots=True)
class Stop:
    """End the subscription ``id`` cleanly (end-of-stream marker, then its ``end`` frame)."""

    id: str


@dataclass(frozen=True, slots=True)
class ListDatasets:
    """Answer with the tenant's datasets this session may see."""


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do: a cancel or unsubscribe of an id that is not running."""


Decision = Send | Start | Cancel | Stop | ListDatasets | Ignore

BINARY_REFUSED = bp.error_frame(None, "BAD_REQUEST", "binary frames are not accepted")


class BrowserSession:
    def __init__(
        self,
        sid: str,
        tenant: str,
        user: str,
        max_queries: int,
        limits: SessionLimits,
        quotas: Quotas,
    ) -> None:
        self.sid, self.tenant, self.user = sid, tenant, user
        self.max_queries = max_queries
        self._limits, self._quotas = limits, quotas
        self._running: dict[str, bool] = {}  # id -> is a subscription
        self._stream = 0

    def receive(self, text: str, now: float) -> Decision:
        """The decision for one text message from the client."""
        try:
            action = bp.parse_client_message(text)
        except bp.RequestError as err:
            return Send(bp.error_frame(err.request_id, err.code, err.message), ("bad_request", err.code, err.message))
        if isinstance(action, bp.ListDatasets):
            return ListDatasets()
        if isinstance(action, bp.CancelQuery):
            return Cancel(action.id) if action.id in self._running else Ignore()
        if isinstance(action, bp.Unsubscribe):
            return Stop(action.id) if self._running.get(action.id) else Ignore()
        return self._admit(action, now)

    def _admit(self, q: bp.RunQuery | bp.Subscribe, now: float) -> Decision:
        subscription = isinstance(q, bp.Subscribe)
        if q.id in self._running:
            return Send(bp.error_frame(q.id, "BAD_REQUEST", "a query with this id is running"))
        if len(self._running) >= self.max_queries:
            refused = TooManyQueries(f"at most {self.max_queries} queries at once on one socket")
            return Send(bp.error_frame_for(q.id, refused))
        if refusal := self._limits.start(self.sid, subscription):
            return Send(bp.error_frame_for(q.id, TooManyQueries(refusal)))
        try:
            self._quotas.admit(self.tenant, self.user, now)
        except QuotaExceeded as over:
            self._limits.end(self.sid, subscription)
            return Send(bp.error_frame_for(q.id, over), ("quota", over.code, over.message))
        self._running[q.id] = subscription
        return Start(q)

    def finished(self, query_id: str) -> None:
        """A started query has ended: what was counted for it is released. Once per Start."""
        subscription = self._running.pop(query_id, None)
        if subscription is None:
            return
        self._limits.end(self.sid, subscription)
        self._quotas.done(self.tenant, self.user)

    def next_stream(self) -> int:
        """The stream id for the next query that gets as far as its info frame: 1, 2, …,
        wrapping within 32 bits and never 0."""
        self._stream = (self._stream + 1) % 2**32 or 1
        return self._stream

    @property
    def running(self) -> int:
        return len(self._running)
