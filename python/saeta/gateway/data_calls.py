"""DoGet calls expected from connectors, and what the query side reads from them.

The query side creates a PendingCall (with a random call id sent in DoGetRequest); the
tunnel side (grpcio's DoGet handler, or the Rust data plane) checks the arriving call and
hands over a DataStream; the query side reads pieces from it and says when the call may
end. Both tunnel sides yield the same pieces, already located and checked:

- ``Chunk``: whole record batches, ``payload`` a bytes-like view that is sent as is;
- ``Resume``: a subscription's resume point (asked with DoGetRequest.resume_points);
- ``End``: the connector's end marker with the rows it announces.

``next_piece`` raises RelayError on invalid data and CallBroken when the call ends
without its end marker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import DecodeError

from saeta.core.call_table import CallTable, Refused
from saeta.core.tunnel_codec import MAX_CURSOR_BYTES, MAX_RESUME_BYTES, PROBE_CALL_ID, RESUME_TAG, Abort
from saeta.errors import QueryFailed, QueryTimeout, RelayError, SaetaError
from saeta.relay import Relay
from saeta.v1 import tunnel_pb2 as pb

# The same logger as the tunnel server: a refused DoGet is a tunnel refusal to operators.
log = logging.getLogger("saeta.gateway.tunnel")


@dataclass(frozen=True, slots=True)
class Chunk:
    payload: Any  # bytes-like: a memoryview of a grpcio message, or a Rust Payload
    rows: int
    length: int
    codec: int = 0  # the body codec of its compressed batches (saeta.relay's code); 0: none
    declared: int = 0  # what their bodies declare they decompress to, in bytes


@dataclass(frozen=True, slots=True)
class End:
    records: int


@dataclass(frozen=True, slots=True)
class Resume:
    """Where the rows that follow can be read again (tunnel.proto's ResumePoint); a cursor
    of None: they cannot."""

    cursor: bytes | None
    skip: int


def resume_of(raw: bytes) -> Resume:
    """A resume point message (ArrowChunk.resume_at alone), checked: bounded, nothing else
    in it, a cursor of at most MAX_CURSOR_BYTES and a skip that is not negative."""
    if len(raw) > MAX_RESUME_BYTES:
        raise RelayError("TUNNEL_MESSAGE_INVALID", f"a resume point of {len(raw)} bytes (at most {MAX_RESUME_BYTES})")
    try:
        msg = pb.ArrowChunk.FromString(raw)
    except DecodeError:
        raise RelayError("TUNNEL_MESSAGE_INVALID", "a resume point that is not an ArrowChunk") from None
    point = msg.resume_at
    if msg.data or msg.end or msg.HasField("snapshot_rows") or not msg.HasField("resume_at"):
        raise RelayError("TUNNEL_MESSAGE_INVALID", "a resume point's message holds something else")
    if len(point.cursor) > MAX_CURSOR_BYTES or point.skip < 0:
        raise RelayError("TUNNEL_MESSAGE_INVALID", "a resume point's cursor is too long or its skip negative")
    return Resume(point.cursor or None, point.skip)


class CallBroken(Exception):
    """The data call ended before its end marker; the message says how, if known."""


class ClosedEarly(CallBroken):
    """The data call's stream ended cleanly but before its end marker: the connector
    closed it (after telling why on Control, when it had a reason), or grpcio ended it on
    a message over the limit without saying so."""


class MessageTooLarge(CallBroken):
    """The data call ended on a message over limits.max_message_bytes (refused unread,
    RESOURCE_EXHAUSTED to the connector): the connector is up, its data is not relayable."""


class DataStream(Protocol):
    async def next_piece(self) -> Chunk | Resume | End: ...


@dataclass(eq=False)
class PendingCall:
    call_id: str
    tenant: str
    arrived: asyncio.Future[DataStream] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    # Set by the query side: None = answer OK, an Abort = end the call with its status.
    finished: asyncio.Future[Abort | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def finish(self, abort: Abort | None = None) -> None:
        if not self.finished.done():
            self.finished.set_result(abort)


class DataCalls:
    """The gateway's table of expected data calls (core/call_table.py), with the futures
    that hand a claimed call to its query."""

    def __init__(self) -> None:
        self.table: CallTable[PendingCall] = CallTable()

    def expect(self, tenant: str) -> PendingCall:
        call = PendingCall(CallTable.new_id(), tenant)
        self.table.expect(call.call_id, tenant, call)
        return call

    def drop(self, call: PendingCall) -> None:
        """Forgets ``call``; if its DoGet never came, remembers that it ended."""
        self.table.drop(call.call_id)

    def claim(self, call_id: object, cn: str | None) -> PendingCall | Refused[PendingCall]:
        """What a DoGet from ``cn`` with ``call_id`` gets (core/call_table.py); the query a
        refused DoGet aimed at, if any, is failed here."""
        outcome = self.table.claim(call_id, cn)
        if isinstance(outcome, Refused) and outcome.victim is not None:
            outcome.victim.arrived.set_exception(QueryFailed("the data call was refused"))
        return outcome


class DataCall(Protocol):
    """One partition's data call as its relay sees it, wherever it comes from: a
    connector's call to this replica (LocalCall) or a peer replica's Fetch
    (gateway/peer_link.py)."""

    async def opened(
        self, errors: asyncio.Future[SaetaError], seconds: float, stop: asyncio.Future[Any] | None
    ) -> DataStream | None:
        """The call's stream once it is open; None when ``stop`` completes first. Raises
        the connector's error, or TIMEOUT after ``seconds``."""

    def finish(self, abort: Abort | None) -> None:
        """How the call ends for its sender: answered OK (None) or aborted."""


async def arrival(
    pending: PendingCall, failed: asyncio.Future[SaetaError], seconds: float, stop: asyncio.Future[Any] | None
) -> DataStream | None:
    """``pending``'s stream once the connector's DoGet has arrived; None when ``stop``
    completes first. Raises what ``failed`` is set to, or TIMEOUT after ``seconds``."""
    arrived = asyncio.ensure_future(pending.arrived)
    waiters: set[asyncio.Future[Any]] = {arrived, failed}
    if stop is not None:
        waiters.add(stop)
    done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    if arrived in done:
        return arrived.result()
    arrived.cancel()
    if failed in done:
        raise failed.result()
    if not done:
        raise QueryTimeout(f"the connector did not open the data call within {seconds:g}s")
    return None


class LocalCall:
    """A data call a connector opens to this replica: expected in the table, then asked
    for with a DoGetRequest down its tunnel (``send``); None for ``send``: asked for
    already, with the plan (GetFlightInfoRequest.first_call)."""

    def __init__(
        self, calls: DataCalls, tenant: str, send: Callable[[pb.GatewayMessage], None] | None, ask: pb.DoGetRequest
    ) -> None:
        self._calls = calls
        self.pending = calls.expect(tenant)
        ask.call_id = self.pending.call_id
        self._send, self.ask = send, ask

    async def opened(
        self, errors: asyncio.Future[SaetaError], seconds: float, stop: asyncio.Future[Any] | None
    ) -> DataStream | None:
        if self._send is not None:
            self._send(pb.GatewayMessage(do_get=self.ask))
        return await arrival(self.pending, errors, seconds, stop)

    def finish(self, abort: Abort | None) -> None:
        self._calls.drop(self.pending)
        self.pending.finish(abort)


class DataCallRefused(Exception):
    """A DoGet that must not serve any query: the gRPC status name and its message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def claim_for_doget(
    calls: DataCalls, revoked: Callable[[int], bool], cn: str | None, serial: int | None, call_id: object, peer: str
) -> PendingCall:
    """The pending call a DoGet from ``cn`` (certificate ``serial``) may serve, claimed;
    else DataCallRefused. Shared by grpcio's DoGet and the Rust data plane."""
    if serial is not None and revoked(serial):
        _refusal(cn, "CERT_REVOKED", "DoGet with a revoked certificate", peer)
        raise DataCallRefused("PERMISSION_DENIED", "CERT_REVOKED: the client certificate is revoked")
    if call_id == PROBE_CALL_ID:
        log.info("data call probe tenant=%s peer=%s", cn or "-", peer)
        raise DataCallRefused("NOT_FOUND", "probe: this port serves data calls")
    outcome = calls.claim(call_id, cn)
    if isinstance(outcome, Refused):
        if outcome.log_code is None:
            log.info("%s tenant=%s peer=%s", outcome.log_text, cn, peer)
        else:
            _refusal(cn, outcome.log_code, outcome.log_text, peer)
        raise DataCallRefused(outcome.status, outcome.message)
    return outcome


def _refusal(tenant: str | None, code: str, detail: str, peer: str) -> None:
    log.warning("tunnel refused code=%s tenant=%s peer=%s: %s", code, tenant or "-", peer, detail)


class GrpcDataStream:
    """A DoGet call served by grpcio: raw messages, located and checked by the relay."""

    def __init__(self, messages: AsyncIterator[bytes], relay: Relay) -> None:
        self._messages = messages
        self._relay = relay

    async def next_piece(self) -> Chunk | Resume | End:
        try:
            raw = await anext(self._messages)
        except StopAsyncIteration:
            # Also how grpcio ends a call it refused for a message over the limit: the
            # handler is not told why.
            raise ClosedEarly("the connector closed the data call") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # grpc's errors when the call breaks
            raise CallBroken(f"the data call broke: {type(exc).__name__}") from None
        if raw[:1] == RESUME_TAG:
            return resume_of(raw)
        is_end, offset, length, number, codec, declared = self._relay.classify_chunk(raw)
        if is_end:
            return End(number)
        return Chunk(memoryview(raw)[offset : offset + length], number, length, codec, declared)
