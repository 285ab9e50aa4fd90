"""The data plane: connectors' DoGet calls served by the Rust extension on ``data_port``.

Rust terminates mTLS (rustls, the gateway's CA), reads each call's messages, locates and
checks the Arrow payload off the GIL and queues them, at most ``QUEUE_DEPTH`` per call
(then it stops reading that call: backpressure down to the connector). Python decides
what Python decided before: each arriving call goes through the same checks as grpcio's
DoGet (revoked certificate, call id, tenant), and the query side reads the same pieces.

Rust wakes the event loop through one descriptor (``loop.add_reader``); no Rust thread
ever takes the GIL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from saeta import _relay
from saeta.config import GatewayConfig
from saeta.core.tunnel_codec import Abort
from saeta.core.tunnel_keepalive import KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS
from saeta.core.x509_identity import der_identity
from saeta.errors import SaetaError
from saeta.gateway.data_calls import (
    CallBroken,
    Chunk,
    ClosedEarly,
    DataCallRefused,
    End,
    MessageTooLarge,
    PendingCall,
    Resume,
    resume_of,
)

log = logging.getLogger("saeta.gateway.data")

QUEUE_DEPTH = 2  # messages per call (1 MiB each with the connector's default), beside h2's 4 MiB window


class RustDataStream:
    """An accepted call's pieces, taken from the extension as they arrive."""

    def __init__(self, call: _relay.DataCall) -> None:
        self._call = call
        self._waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_piece(self) -> Chunk | Resume | End:
        while (item := self._call.take()) is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if isinstance(item, _relay.DataChunk):
            return Chunk(memoryview(item.payload), item.rows, len(item.payload), item.codec, item.declared)
        if isinstance(item, _relay.DataResume):
            return resume_of(item.message)
        if isinstance(item, _relay.DataEnd):
            return End(item.records)
        if item.too_large:
            raise MessageTooLarge(item.reason or "message too large")
        if item.reason is None:
            raise ClosedEarly("the connector closed the data call")
        raise CallBroken(item.reason)

    def finish(self, abort: Abort | None) -> None:
        if abort is None:
            self._call.finish()
        else:
            self._call.finish(abort.reason, abort.invalid_data)


# Who may serve a DoGet: the claim the tunnel server also uses (data_calls.claim_for_doget).
Claim = Callable[[str | None, int | None, object, str], PendingCall]


class RustDataPlane:
    def __init__(self, cfg: GatewayConfig, claim: Claim) -> None:
        self.cfg = cfg
        self.claim = claim
        self._server: _relay.DataServer | None = None
        self._streams: dict[int, RustDataStream] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else 0

    def start(self, port: int) -> None:
        try:
            self._server = _relay.DataServer(
                self.cfg.host,
                port,
                self.cfg.server_cert.read_bytes(),
                self.cfg.server_key.read_bytes(),
                self.cfg.ca_cert.read_bytes(),
                max_message_bytes=self.cfg.max_message_bytes,
                queue_depth=QUEUE_DEPTH,
                keepalive_seconds=KEEPALIVE_TIME_MS / 1000,
                keepalive_timeout_seconds=KEEPALIVE_TIMEOUT_MS / 1000,
                handshake_seconds=self.cfg.connect_seconds,
            )
        except OSError as exc:
            raise SaetaError(
                f"cannot listen for data calls on {self.cfg.host}:{port}: {exc}", code="LISTEN_FAILED"
            ) from None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._server.wake_fd(), self._on_wake)

    def close(self) -> None:
        if self._server is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._server.wake_fd())
        self._server.close(1.0)
        self._server = None
        self._streams.clear()

    def _on_wake(self) -> None:
        if self._server is None:
            return
        arrivals, ready = self._server.poll()
        for call in arrivals:
            try:
                self._arrive(call)
            except Exception:  # one bad call must not cost the others their wake-ups
                log.exception("data call %s could not be handed over", call.key)
                call.reject("UNAVAILABLE", "the gateway could not take the call")
        for key in ready:
            stream = self._streams.get(key)
            if stream is not None:
                stream.wake()

    def _arrive(self, call: _relay.DataCall) -> None:
        cn, serial = der_identity(call.peer_cert)
        try:
            pending = self.claim(cn, serial, call.call_id, call.peer)
        except DataCallRefused as refused:
            call.reject(refused.status, refused.message)
            return
        stream = RustDataStream(call)
        key = call.key
        self._streams[key] = stream

        def finished(done: asyncio.Future[Abort | None]) -> None:
            self._streams.pop(key, None)
            stream.finish(None if done.cancelled() else done.result())

        call.accept()
        pending.finished.add_done_callback(finished)
        pending.arrived.set_result(stream)
