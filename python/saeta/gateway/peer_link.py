"""The asking side of replica-to-replica calls (proto/saeta/v1/peer.proto): a tenant's
queries on a replica that holds no tunnel for it go to one that does, found in Redis
(gateway/presence.py). ``RemoteLink`` is what the query code sees, the same as a local
tunnel's link (gateway/call_relay.py's Link): Describe picks the first holder that
serves the dataset (a holder that is gone, or no longer has the tunnel, costs one failed
call, then the next is tried); that holder's Fetch calls then carry the partitions. Their
messages are the connector's, checked here like a local call's (framing by the relay,
then full validation, frames cut to the browser's limit), and reading them only as fast
as the browser takes them is the flow control that reaches the connector."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import grpc.aio

from saeta.config import GatewayConfig, ReplicaConfig
from saeta.core import filter_codec
from saeta.core.aggregation import Aggregate
from saeta.core.filters import Condition
from saeta.core.paging import Page
from saeta.core.presence import Holder
from saeta.core.tunnel_codec import CODEC_CODES, DATA_TAG, RESUME_TAG, Abort
from saeta.core.tunnel_keepalive import KEEPALIVE_OPTIONS
from saeta.errors import ConnectorOffline, DatasetNotFound, QueryFailed, RelayError, SaetaError
from saeta.gateway.data_calls import Chunk, DataCalls, DataStream, End, LocalCall, Resume, resume_of
from saeta.gateway.peer_direct import FETCH, DirectCall, RelayMemory
from saeta.gateway.peer_errors import peer_error
from saeta.relay import Relay
from saeta.v1 import peer_pb2 as peer
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway.peer")

DESCRIBE = "/saeta.v1.Peer/Describe"
DATASETS = "/saeta.v1.Peer/Datasets"
# Codes after which the next holder is tried: this one is gone, or no longer serves it.
TRY_NEXT = frozenset({"CONNECTOR_OFFLINE", "DATASET_NOT_FOUND"})


class PeerClients:
    """One channel per peer address, with this replica's certificate."""

    def __init__(self, cfg: GatewayConfig, replica: ReplicaConfig, relay: Relay) -> None:
        self.relay = relay
        self.connect_seconds = cfg.connect_seconds
        # Direct data (gateway/peer_direct.py): where connectors reach this replica's data
        # port; None: every forwarded partition is relayed through its holder.
        self.data_address = replica.data_address
        self.relay_memory = RelayMemory()
        self._credentials = grpc.ssl_channel_credentials(
            root_certificates=cfg.ca_cert.read_bytes(),
            private_key=replica.key.read_bytes(),
            certificate_chain=replica.cert.read_bytes(),
        )
        self._options: list[tuple[str, Any]] = [
            # A peer relays the connector's messages as they came: as large as a tunnel's.
            ("grpc.max_receive_message_length", cfg.max_message_bytes + 1024),
            ("grpc.max_send_message_length", 1024 * 1024),
            ("grpc.enable_retries", 0),
            *KEEPALIVE_OPTIONS,
        ]
        if replica.server_name:
            self._options.append(("grpc.ssl_target_name_override", replica.server_name))
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, address: str) -> grpc.aio.Channel:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpc.aio.secure_channel(address, self._credentials, options=self._options)
        return ch

    async def datasets(self, holder: Holder, tenant: str) -> list[str]:
        call = self.channel(holder.address).unary_unary(
            DATASETS, request_serializer=None, response_deserializer=peer.PeerDatasetList.FromString
        )
        answer = await call(peer.PeerDatasets(tenant_id=tenant).SerializeToString(), timeout=self.connect_seconds)
        return list(answer.datasets)

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close(grace=None)
        self._channels.clear()


class RemoteLink:
    """A tenant's tunnel on another replica, for one query (or subscription) of
    ``dataset``: ``holders`` in the order to try them."""

    def __init__(
        self,
        tenant: str,
        dataset: str,
        holders: Sequence[Holder],
        peers: PeerClients,
        owner: str,
        fresh: Callable[[], Awaitable[Sequence[Holder]]] | None = None,
    ) -> None:
        self._tenant, self.dataset, self.holders, self.peers, self.owner = tenant, dataset, holders, peers, owner
        self._fresh = fresh  # the holders as Redis says now, when every one given failed
        self.holder: Holder | None = None  # the one that described the dataset
        self._errors: dict[str, asyncio.Future[SaetaError]] = {}
        self._snapshots: dict[str, asyncio.Future[int]] = {}

    @property
    def tenant(self) -> str:
        return self._tenant

    @property
    def compression(self) -> str:
        """Nothing asked of the connector from here: the holder asks for the codec its
        tunnel negotiated (PeerFetch.accepts_compressed)."""
        return ""

    @property
    def codecs(self) -> tuple[str, ...]:
        """Any known codec: the holder relays batches compressed as its connector sent them,
        checked for the tunnel's codec, and they are decoded and validated here."""
        return tuple(CODEC_CODES)

    async def get_flight_info(
        self,
        request_id: str,
        dataset: str,
        columns: tuple[str, ...] | None,
        limit: int | None,
        seconds: float,
        conditions: Sequence[Condition] = (),
        follow: bool = False,
        resumable: bool = False,
        aggregate: Aggregate | None = None,
        page: Page | None = None,
        first_call: LocalCall | None = None,
    ) -> pb.FlightInfoResponse:
        ask = peer.PeerDescribe(
            tenant_id=self._tenant,
            dataset=dataset,
            query=filter_codec.query_message(columns, limit, conditions, follow, resumable, aggregate, page),
        ).SerializeToString()
        last: SaetaError = ConnectorOffline("the data source's connector is offline")
        holders, tried = list(self.holders), set[str]()
        while True:
            for holder in holders:
                tried.add(holder.address)
                describe = self.peers.channel(holder.address).unary_unary(
                    DESCRIBE, request_serializer=None, response_deserializer=pb.FlightInfoResponse.FromString
                )
                try:
                    info: pb.FlightInfoResponse = await describe(ask, timeout=seconds)
                except grpc.aio.AioRpcError as exc:
                    err = peer_error(exc)
                    if err.code not in TRY_NEXT:
                        raise err from None
                    log.info(
                        "peer %s cannot serve tenant=%s: %s; trying the next", holder.replica_id, self._tenant, err
                    )
                    if not isinstance(last, DatasetNotFound):  # "no such dataset" outranks "gone"
                        last = err
                    continue
                self.holder = holder
                return info
            # Every holder failed: once, the holders Redis gives now (a lookup kept from
            # earlier may predate a connector's move), those not tried yet.
            fresh, self._fresh = self._fresh, None
            if fresh is None:
                raise last
            try:
                holders = [h for h in await fresh() if h.address not in tried]
            except ConnectorOffline:
                raise last from None
            if not holders:
                raise last

    def watch_errors(self, request_id: str) -> asyncio.Future[SaetaError]:
        """Never set: a peer's errors end its calls, and are raised by their reads."""
        fut = self._errors.get(request_id)
        if fut is None:
            fut = self._errors[request_id] = asyncio.get_running_loop().create_future()
        return fut

    def watch_snapshot(self, request_id: str) -> asyncio.Future[int]:
        fut = self._snapshots.get(request_id)
        if fut is None:
            fut = self._snapshots[request_id] = asyncio.get_running_loop().create_future()
        return fut

    def unwatch(self, request_id: str) -> None:
        self._errors.pop(request_id, None)
        self._snapshots.pop(request_id, None)

    def cancel(self, request_id: str) -> None:
        """Nothing to send: cancelling the query's tasks cancels its peer calls."""

    def first_call(self, calls: DataCalls, ask: pb.DoGetRequest) -> LocalCall | None:
        """None: a forwarded query's partitions are each fetched from the holder."""
        return None

    def open_call(self, calls: DataCalls, ask: pb.DoGetRequest, follow: bool) -> PeerCall | DirectCall:
        """The partition's call: direct when this replica has a data address and the
        holder's connector has not lately failed to send direct, else relayed."""
        if self.holder is None:
            raise ConnectorOffline("the dataset was not described by any replica")
        snapshot = self._snapshots.get(ask.request_id)
        fetch = peer.PeerFetch(
            tenant_id=self._tenant,
            do_get=ask,
            owner=self.owner,
            follow=follow,
            dataset=self.dataset,
            accepts_compressed=True,
        )
        relayed = PeerCall(self.peers, self.holder, fetch, snapshot)
        if self.peers.data_address is None or self.peers.relay_memory.relayed(self.holder.address, self._tenant):
            return relayed
        return DirectCall(self.peers, self.holder, fetch, calls, snapshot, relayed)


class PeerCall:
    """One partition's Fetch from the holder (gateway/data_calls.py's DataCall)."""

    def __init__(self, peers: PeerClients, holder: Holder, fetch: peer.PeerFetch, snapshot: asyncio.Future[int] | None):
        self.peers, self.holder, self.fetch, self.snapshot = peers, holder, fetch, snapshot
        self._call: grpc.aio.UnaryStreamCall | None = None

    async def opened(
        self, errors: asyncio.Future[SaetaError], seconds: float, stop: asyncio.Future[Any] | None
    ) -> DataStream | None:
        method = self.peers.channel(self.holder.address).unary_stream(
            FETCH, request_serializer=None, response_deserializer=None
        )
        self._call = method(self.fetch.SerializeToString())
        return PeerDataStream(self._call, self.peers.relay, self.snapshot)

    def finish(self, abort: Abort | None) -> None:
        if abort is not None and self._call is not None:
            self._call.cancel()


class PeerDataStream:
    """The pieces of a Fetch, as a local data call gives them."""

    def __init__(self, call: grpc.aio.UnaryStreamCall, relay: Relay, snapshot: asyncio.Future[int] | None) -> None:
        self._call, self._relay, self._snapshot = call, relay, snapshot

    async def next_piece(self) -> Chunk | Resume | End:
        while True:
            try:
                raw = await self._call.read()
            except grpc.aio.AioRpcError as exc:
                raise peer_error(exc) from None
            if raw is grpc.aio.EOF:
                raise QueryFailed("the peer replica ended the data call without its end")
            assert isinstance(raw, bytes)
            if raw[:1] == DATA_TAG:
                is_end, offset, length, number, codec, declared = self._relay.classify_chunk(raw)
                if not is_end:
                    return Chunk(memoryview(raw)[offset : offset + length], number, length, codec, declared)
                return End(number)
            if raw[:1] == RESUME_TAG:
                return resume_of(raw)
            msg = pb.ArrowChunk.FromString(raw)
            if msg.HasField("snapshot_rows"):
                if self._snapshot is not None and not self._snapshot.done():
                    self._snapshot.set_result(max(0, msg.snapshot_rows))
                continue
            if msg.end:
                return End(msg.end_records)
            raise RelayError("IPC_FRAMING_INVALID", "a peer's message is neither data, an end nor a snapshot")
