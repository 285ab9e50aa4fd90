"""One registered tunnel's protocol state, sans-I/O: the commands queued for the
connector's Control call (bounded: a connector that reads nothing has its tunnel closed
rather than growing the gateway's memory), and the requests in flight with what the
connector has answered for each (core/connector_answers.py sorts its messages).

The shell (gateway/registry.py) turns a changed ``Request`` into the futures its queries
wait on, and writes ``take()``'s commands to the Control call. The rules live here:

- an answer is kept only for a request the gateway opened (a connector cannot make the
  table grow with made-up ids), and only the first of each kind counts;
- an error for a request fails its FlightInfo wait too;
- closing the tunnel fails every open request with CONNECTOR_OFFLINE, and a request
  opened after the close is failed at once;
- heartbeats are echoed while the tunnel is open."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from saeta.core.connector_answers import Described, Echo, Failed, SnapshotSize, sort_message
from saeta.errors import ConnectorOffline, SaetaError
from saeta.v1 import tunnel_pb2 as pb

# Commands and heartbeat answers queued for a connector's Control call. A connector reads
# them as they come; one that reads nothing (while it floods heartbeats) has its tunnel
# dropped instead.
MAX_OUTBOX = 4096
BACKLOG_REASON = "the connector reads nothing of its Control call (CONTROL_BACKLOG)"
OFFLINE = "the connector went offline"


@dataclass(eq=False, slots=True)
class Request:
    """What the connector has answered for one request id (None: nothing yet)."""

    request_id: str
    info: pb.FlightInfoResponse | None = None
    error: SaetaError | None = None
    snapshot_rows: int | None = None
    describing: bool = False  # a GetFlightInfo was sent and its answer is awaited


class TunnelLink:
    def __init__(self, max_outbox: int = MAX_OUTBOX) -> None:
        self.max_outbox = max_outbox
        self.close_reason: str | None = None
        self._outbox: deque[pb.GatewayMessage] = deque()
        self._requests: dict[str, Request] = {}

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    def open(self, request_id: str) -> Request:
        """The request ``request_id``, opened if new (failed at once on a closed tunnel).
        ``forget`` it when done."""
        request = self._requests.get(request_id)
        if request is None:
            request = self._requests[request_id] = Request(request_id)
            if self.closed:
                request.error = ConnectorOffline(OFFLINE)
        return request

    def describe(self, request_id: str, ask: pb.GetFlightInfoRequest) -> Request:
        """Opens ``request_id`` and queues its GetFlightInfo. Raises ConnectorOffline on a
        closed tunnel (or one this command's queueing closed)."""
        request = self.open(request_id)
        request.describing = True
        self.send(pb.GatewayMessage(get_flight_info=ask))
        return request

    def forget(self, request_id: str) -> None:
        self._requests.pop(request_id, None)

    def send(self, msg: pb.GatewayMessage) -> None:
        """Queues a command. Raises ConnectorOffline when the tunnel is closed, or when
        the queue was full and the tunnel was closed for it."""
        if self.closed:
            raise ConnectorOffline(OFFLINE)
        self._queue(msg)
        if self.closed:
            raise ConnectorOffline(OFFLINE)

    def cancel(self, request_id: str) -> None:
        """Tells the connector to stop ``request_id`` (nothing on a closed tunnel)."""
        if not self.closed:
            self._queue(pb.GatewayMessage(cancel=pb.CancelRequest(request_id=request_id)))

    def _queue(self, msg: pb.GatewayMessage) -> None:
        if len(self._outbox) >= self.max_outbox:
            self.close(BACKLOG_REASON)
            return
        self._outbox.append(msg)

    def take(self) -> pb.GatewayMessage | None:
        """The next command for the Control call, oldest first; None when none is queued
        (the tunnel is done once it is also ``closed``)."""
        return self._outbox.popleft() if self._outbox else None

    @property
    def queued(self) -> int:
        return len(self._outbox)

    def receive(self, msg: pb.ConnectorMessage) -> Request | None:
        """Applies one Control message from the connector; the request it changed, if
        any (heartbeats are queued for echo and change none)."""
        answer = sort_message(msg)
        if isinstance(answer, Echo):
            if not self.closed:
                self._queue(answer.reply)
            return None
        if answer is None:
            return None
        request = self._requests.get(answer.request_id)
        if request is None:
            return None
        if isinstance(answer, Described):
            if not request.describing or request.info is not None or request.error is not None:
                return None
            request.info = answer.info
        elif isinstance(answer, Failed):
            if request.error is not None:
                return None
            request.error = answer.error
        elif isinstance(answer, SnapshotSize):
            if request.snapshot_rows is not None:
                return None
            request.snapshot_rows = answer.rows
        return request

    def close(self, reason: str) -> list[Request]:
        """Closes the tunnel (the first reason stays); the requests it failed."""
        if self.closed:
            return []
        self.close_reason = reason
        failed = []
        for request in self._requests.values():
            if request.error is None:
                request.error = ConnectorOffline(OFFLINE)
                failed.append(request)
        return failed
