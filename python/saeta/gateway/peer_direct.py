"""Direct data (docs/scaling.md): a forwarded partition whose bytes skip the holder. The
asking replica expects the data call in its own table, as for a tunnel of its own, and
asks the holder (a Fetch with data_address) to have the connector open it here, at this
replica's data port. The holder keeps the tenant's call slot and relays only the
connector's error or a subscription's snapshot count, on the Fetch; the bytes arrive on
this replica's data plane and are read, checked and cut exactly as a local call's.

When the holder's connector cannot send direct (a connector of before direct data, one
with direct_data: false, or one that cannot reach data_address), the Fetch ends
DIRECT_DATA_UNAVAILABLE before any row is sent: this partition is then fetched the
relayed way, and so is every partition of that tenant through that holder for
RELAY_MEMORY_SECONDS, without asking again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from saeta.core.lapsing import Lapsing
from saeta.core.presence import Holder
from saeta.core.throttle import LogThrottle
from saeta.core.tunnel_codec import Abort
from saeta.errors import ConnectorOffline, DirectDataUnavailable, QueryFailed, SaetaError
from saeta.gateway.data_calls import DataCall, DataCalls, DataStream, arrival
from saeta.gateway.peer_errors import peer_error
from saeta.v1 import peer_pb2 as peer
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway.peer")

FETCH = "/saeta.v1.Peer/Fetch"

# How long a tenant's partitions through one holder go the relayed way after its
# connector could not send direct.
RELAY_MEMORY_SECONDS = 60.0
FALLBACK_LOG = LogThrottle(burst=5, window=60.0)


class RelayMemory:
    """The (holder, tenant) pairs whose connector could not send direct lately."""

    def __init__(self, seconds: float = RELAY_MEMORY_SECONDS, now: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self._now = seconds, now
        self._pairs: Lapsing[tuple[str, str], bool] = Lapsing(seconds, limit=10_000)

    def relayed(self, holder: str, tenant: str) -> bool:
        return self._pairs.get((holder, tenant), self._now()) is not None

    def remember(self, holder: str, tenant: str) -> None:
        self._pairs.put((holder, tenant), True, self._now())

    def __len__(self) -> int:
        return len(self._pairs)


class Peers(Protocol):
    """What a direct call needs of gateway/peer_link.py's PeerClients."""

    data_address: str | None
    relay_memory: RelayMemory

    def channel(self, address: str) -> grpc.aio.Channel: ...


class DirectCall:
    """One partition sent by the connector straight to this replica (gateway/data_calls.py's
    DataCall); ``relayed`` makes the same partition's PeerCall should the holder say
    DIRECT_DATA_UNAVAILABLE."""

    def __init__(
        self,
        peers: Peers,
        holder: Holder,
        fetch: peer.PeerFetch,
        calls: DataCalls,
        snapshot: asyncio.Future[int] | None,
        relayed: DataCall,
    ) -> None:
        self.peers, self.holder, self.snapshot, self._relayed = peers, holder, snapshot, relayed
        self._calls = calls
        self.pending = calls.expect(fetch.tenant_id)
        self.fetch = peer.PeerFetch()
        self.fetch.CopyFrom(fetch)
        self.fetch.do_get.call_id = self.pending.call_id
        self.fetch.data_address = peers.data_address or ""
        self._call: grpc.aio.UnaryStreamCall | None = None
        self._watch: asyncio.Future[SaetaError] | None = None
        self._fallback: DataCall | None = None
        self._arrived = False
        self._finishing = False

    async def opened(
        self, errors: asyncio.Future[SaetaError], seconds: float, stop: asyncio.Future[Any] | None
    ) -> DataStream | None:
        started = time.monotonic()
        method = self.peers.channel(self.holder.address).unary_stream(
            FETCH, request_serializer=None, response_deserializer=None
        )
        self._call = method(self.fetch.SerializeToString())
        self._watch = asyncio.ensure_future(self._watch_fetch(errors))
        try:
            stream = await arrival(self.pending, self._watch, seconds, stop)
        except DirectDataUnavailable as err:
            self._fall_back(err)
            return await self._relayed.opened(errors, max(0.1, seconds - (time.monotonic() - started)), stop)
        self._arrived = stream is not None
        return stream

    def _fall_back(self, err: SaetaError) -> None:
        tenant = self.fetch.tenant_id
        self.peers.relay_memory.remember(self.holder.address, tenant)
        if FALLBACK_LOG.allow(time.monotonic()):
            log.warning(
                "code=DIRECT_DATA_UNAVAILABLE tenant=%s holder=%s: %s; its data is relayed through the holder "
                "for %.0fs%s",
                tenant,
                self.holder.replica_id,
                err.message,
                self.peers.relay_memory.seconds,
                FALLBACK_LOG.note(),
            )
        self._end_direct(None)
        self._fallback = self._relayed

    async def _watch_fetch(self, errors: asyncio.Future[SaetaError]) -> SaetaError:
        """Reads the Fetch until it ends: a snapshot's count settles ``snapshot``; the
        holder's error is returned (and, once the call has arrived, fails the query
        through ``errors``, as a tunnel's QueryError does)."""
        assert self._call is not None
        err: SaetaError
        while True:
            try:
                raw = await self._call.read()
            except grpc.aio.AioRpcError as exc:
                err = peer_error(exc)
                break
            if raw is grpc.aio.EOF:
                err = QueryFailed("the peer replica ended a direct data call's Fetch without an error")
                break
            assert isinstance(raw, bytes)
            try:
                msg = pb.ArrowChunk.FromString(raw)
            except DecodeError:
                msg = pb.ArrowChunk()  # refused below, as anything but a snapshot count
            if msg.HasField("snapshot_rows") and not (msg.data or msg.end):
                if self.snapshot is not None and not self.snapshot.done():
                    self.snapshot.set_result(max(0, msg.snapshot_rows))
                continue
            err = QueryFailed("a peer replica sent data on a direct data call's Fetch")
            break
        if self._arrived and not self._finishing and not errors.done():
            if isinstance(err, DirectDataUnavailable):  # the data call broke after it opened
                err = ConnectorOffline("the connector's data call to this replica broke")
            errors.set_result(err)
        return err

    def _end_direct(self, abort: Abort | None) -> None:
        self._finishing = True
        self._calls.drop(self.pending)
        self.pending.finish(abort)
        if self._call is not None:
            self._call.cancel()
        if self._watch is not None:
            self._watch.cancel()

    def finish(self, abort: Abort | None) -> None:
        if self._fallback is not None:
            self._fallback.finish(abort)
        else:
            self._end_direct(abort)
