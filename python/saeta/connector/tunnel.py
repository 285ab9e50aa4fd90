"""The connector's side of one tunnel: dial out over mTLS, register on the Control call,
answer GetFlightInfo and DoGet commands, heartbeat. The channels are connector/channel.py's,
the reconnect loop connector/reconnect.py's.

Why one file: one tunnel's Control and DoGet handlers share its channel, its read
slots and its subscriptions."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import grpc
import grpc.aio
import pyarrow as pa

from saeta import __version__, memory_trim
from saeta.config import ConnectorConfig
from saeta.connector.aggregate import needed_columns
from saeta.connector.call_writer import BlockingReader, write_all, write_followed
from saeta.connector.channel import CONTROL_METHOD, DirectChannels, describe_rpc_error, dial, doget_method
from saeta.connector.chunks import Flush, chunk_messages, skip_rows
from saeta.connector.live_aggregate import LiveAggregate
from saeta.connector.metrics import ConnectorMetrics
from saeta.connector.sources.base import Follower, Partition, QueryPlan, Source
from saeta.core import filter_codec
from saeta.core.aggregation import check_live
from saeta.core.grpc_target import with_port
from saeta.core.ticket import Ticket
from saeta.core.tunnel_codec import CALL_ID_KEY, PROBE_CALL_ID, TUNNEL_PROTOCOL_VERSION, offered_codecs
from saeta.errors import (
    BadRequest,
    DatasetNotFound,
    DirectDataUnavailable,
    QueryFailed,
    SaetaError,
    SourceError,
    TunnelRefused,
)
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.connector")


class AlreadyHeld(TunnelRefused):
    """The load balancer led to a replica this connector holds a tunnel to already."""

    def __init__(self, replica_id: str) -> None:
        super().__init__(f"replica {replica_id or '-'} holds a tunnel of this connector already")
        self.replica_id = replica_id


class Tunnel:
    """One dialled channel and its Control call. ``register()`` then ``serve()``."""

    def __init__(
        self,
        cfg: ConnectorConfig,
        sources: Mapping[str, Source],
        reads: asyncio.Semaphore | None = None,
        metrics: ConnectorMetrics | None = None,
    ) -> None:
        self.cfg = cfg
        self.sources = sources
        self.metrics = metrics
        self.channel = dial(cfg, cfg.grpc_uri)
        self._control = self.channel.stream_stream(
            CONTROL_METHOD,
            request_serializer=pb.ConnectorMessage.SerializeToString,
            response_deserializer=pb.GatewayMessage.FromString,
        )
        self._doget = doget_method(self.channel)
        # The gateway's data plane, when it announces one at registration.
        self.data_channel: grpc.aio.Channel | None = None
        # Direct data calls (DoGetRequest.data_address): to the replica that asked.
        self.direct = DirectChannels(cfg)
        self._outbox: asyncio.Queue[pb.ConnectorMessage | None] = asyncio.Queue()
        # Messages made at once (each partition reads on a thread of its own); the rest
        # wait their turn, so a burst of queries never starves the event loop (and its
        # heartbeats) of the GIL. A partition waiting for the gateway holds no slot.
        # Shared by the connector's tunnels (gateway.connections), so that the bound holds
        # for the connector as a whole.
        self._reads = reads or asyncio.Semaphore(cfg.max_concurrent_reads)
        self._following: set[str] = set()  # request ids of the subscriptions this tunnel follows
        self._call: grpc.aio.StreamStreamCall | None = None
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        self.tunnel_id = ""
        self.replica_id = ""  # the gateway replica that answered; "" from a gateway alone
        self.heartbeat_seconds = 10
        self.min_rtt_ms: float | None = None  # the least heartbeat round trip seen, in ms

    async def _outgoing(self) -> AsyncIterator[pb.ConnectorMessage]:
        while (msg := await self._outbox.get()) is not None:
            yield msg

    def send(self, msg: pb.ConnectorMessage) -> None:
        self._outbox.put_nowait(msg)

    async def register(self, probe: bool = False, held: tuple[str, ...] = ()) -> pb.RegisterResponse:
        """Dials, registers and waits for the answer (within performance.connect_timeout).
        ``held``: the replicas this connector holds a tunnel to already. Raises
        AlreadyHeld when the answer comes from one of them, TunnelRefused with the reason
        on any failure."""
        self._call = self._control(self._outgoing())
        self.send(
            pb.ConnectorMessage(
                register=pb.RegisterRequest(
                    tenant_id=self.cfg.tenant_id,
                    version=__version__,
                    datasets=sorted(self.sources),
                    protocol_version=TUNNEL_PROTOCOL_VERSION,
                    probe=probe,
                    held_replicas=held,
                    direct_data=self.cfg.direct_data and not probe,
                    compression=offered_codecs(self.cfg.compression),
                )
            )
        )
        try:
            first = await asyncio.wait_for(self._call.read(), self.cfg.connect_timeout)
        except TimeoutError:
            raise TunnelRefused(f"no answer from {self.cfg.grpc_uri} within {self.cfg.connect_timeout:g}s") from None
        except grpc.aio.AioRpcError as exc:
            raise TunnelRefused(f"{self.cfg.grpc_uri}: {describe_rpc_error(exc)}") from None
        if first is grpc.aio.EOF or first.WhichOneof("msg") != "registered":
            raise TunnelRefused("the gateway closed the tunnel without registering it")
        if first.registered.status == "already_held":
            raise AlreadyHeld(first.registered.replica_id)
        if first.registered.status != "ok":
            raise TunnelRefused(f"registration refused: {first.registered.status}")
        self.replica_id = first.registered.replica_id
        self.tunnel_id = first.registered.session_id
        self.heartbeat_seconds = max(1, first.registered.heartbeat_seconds or 10)
        registered: pb.RegisterResponse = first.registered
        if registered.data_port and not probe:
            self.data_channel = dial(self.cfg, with_port(self.cfg.grpc_uri, registered.data_port))
            self._doget = doget_method(self.data_channel)
        return registered

    async def serve(self) -> None:
        """Answers commands until the gateway ends the call or stops answering."""
        assert self._call is not None
        heartbeat = asyncio.create_task(self._heartbeats())
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(self._call.read(), 3 * self.heartbeat_seconds + 5)
                except TimeoutError:
                    raise TunnelRefused("the gateway stopped answering heartbeats") from None
                if msg is grpc.aio.EOF:
                    raise TunnelRefused("the gateway closed the tunnel")
                self._dispatch(msg)
        except grpc.aio.AioRpcError as exc:
            raise TunnelRefused(describe_rpc_error(exc)) from None
        finally:
            heartbeat.cancel()
            for tasks in list(self._tasks.values()):
                for task in tasks:
                    task.cancel()

    async def probe_data_port(self, port: int) -> str | None:
        """`connector test`: a DoGet with the probe call id on the announced data port.
        None when the gateway answered (NOT_FOUND), else what went wrong."""
        target = with_port(self.cfg.grpc_uri, port)
        async with dial(self.cfg, target) as ch:
            call = doget_method(ch)

            async def nothing() -> AsyncIterator[bytes]:
                return
                yield

            try:
                await asyncio.wait_for(
                    call(nothing(), metadata=((CALL_ID_KEY, PROBE_CALL_ID),)), self.cfg.connect_timeout
                )
            except TimeoutError:
                return f"{target}: no answer within {self.cfg.connect_timeout:g}s"
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                return f"{target}: {describe_rpc_error(exc)}"
        return f"{target}: answered a probe as if it were a data call"

    async def close(self) -> None:
        self._outbox.put_nowait(None)
        if self._call is not None:
            self._call.cancel()
        await self.channel.close(grace=None)
        if self.data_channel is not None:
            await self.data_channel.close(grace=None)
        await self.direct.close()

    async def _follow(self, req: pb.DoGetRequest, call: Any, follower: Follower) -> None:
        """A subscription's data call: the snapshot, SnapshotDone on Control, then each
        poll's new rows, until the gateway ends the call (unsubscribe) or the source
        fails. Every write waits for the gateway's flow control, so a slow browser slows
        the polls instead of filling memory."""
        if len(self._following) >= self.cfg.max_subscriptions:
            raise QueryFailed(f"the connector follows {self.cfg.max_subscriptions} subscriptions already")
        self._following.add(req.request_id)
        follower.marks.on = req.resume_points
        if req.cursor:
            await asyncio.to_thread(follower.restore, req.cursor, max(0, req.skip_rows))

        def encode(batches: Iterable[pa.RecordBatch | Flush]) -> Iterator[tuple[bytes, int]]:
            return chunk_messages(batches, self.cfg.chunk_bytes, self._chunk_cap(req), self._codec(req))

        def snapshot_done(rows: int) -> None:
            self.send(pb.ConnectorMessage(snapshot_done=pb.SnapshotDone(request_id=req.request_id, rows=rows)))
            log.info("subscription %s: snapshot of %d rows sent, following", req.request_id, rows)

        try:
            await write_followed(call, follower, encode, self._reads, snapshot_done)
        finally:
            self._following.discard(req.request_id)
            await asyncio.to_thread(follower.close)

    @staticmethod
    def _partition_sent(req: pb.DoGetRequest, ticket: Ticket, rows: int, nbytes: int, started: float) -> None:
        log.info(
            "query %s partition %d: %d rows, %d bytes in %.3fs",
            req.request_id,
            ticket.partition,
            rows,
            nbytes,
            time.perf_counter() - started,
        )

    def _data_call_ended(self, req: pb.DoGetRequest, code: grpc.StatusCode, details: str | None) -> None:
        """A data call the gateway's side ended: when it never reached the gateway, the
        query learns why at once rather than at its timeout."""
        if code != grpc.StatusCode.UNAVAILABLE:
            return
        why = f"{code.name}: {details or ''}".strip()
        if req.data_address:
            # The replica that asked cannot be reached from here: it fetches the
            # partition through the tunnel's gateway instead.
            self._error(
                req.request_id,
                DirectDataUnavailable(f"the connector cannot send to the data address {req.data_address}: {why}"),
            )
        elif self.data_channel is not None:
            self._error(req.request_id, QueryFailed(f"the connector cannot send to the gateway's data port: {why}"))

    def _chunk_cap(self, req: pb.DoGetRequest) -> int:
        """The most data one ArrowChunk may hold: what the gateway asked for (its browser
        frame), else half the largest tunnel message (a gateway of before the field)."""
        return min(req.max_chunk_bytes or self.cfg.max_message_bytes // 2, self.cfg.max_message_bytes // 2)

    def _codec(self, req: pb.DoGetRequest) -> str:
        """The codec this call's batches are compressed with: the one the gateway accepted,
        if this connector offered it, and, with compression ``auto``, only once the
        tunnel's round trip (its heartbeats' echo) is at least compression_rtt_ms (0:
        whatever it is)."""
        if not req.compression or req.compression not in offered_codecs(self.cfg.compression):
            return ""
        threshold = self.cfg.compression_rtt_ms
        near = self.min_rtt_ms is None or self.min_rtt_ms < threshold  # not measured yet counts as near
        if self.cfg.compression == "auto" and threshold > 0 and near:
            return ""  # a link where bytes cost less than the CPU to shrink them
        return req.compression

    async def _heartbeats(self) -> None:
        while True:
            self.send(pb.ConnectorMessage(heartbeat=pb.Heartbeat(sent_unix_ms=int(time.time() * 1000))))
            await asyncio.sleep(self.heartbeat_seconds)

    def _spawn(self, request_id: str, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        tasks = self._tasks.setdefault(request_id, set())
        tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            tasks.discard(t)
            if not tasks:
                self._tasks.pop(request_id, None)

        task.add_done_callback(done)

    def _dispatch(self, msg: pb.GatewayMessage) -> None:
        kind = msg.WhichOneof("msg")
        if kind == "get_flight_info":
            self._spawn(msg.get_flight_info.request_id, self._flight_info(msg.get_flight_info))
        elif kind == "do_get":
            self._spawn(msg.do_get.request_id, self._do_get(msg.do_get))
        elif kind == "cancel":
            for task in self._tasks.get(msg.cancel.request_id, set()):
                task.cancel()
        elif kind == "heartbeat":  # the gateway echoes ours: the tunnel's round trip
            rtt = time.time() * 1000 - msg.heartbeat.sent_unix_ms
            if 0 <= rtt < 60_000:
                self.min_rtt_ms = rtt if self.min_rtt_ms is None else min(self.min_rtt_ms, rtt)

    def _error(self, request_id: str, err: SaetaError) -> None:
        """Tells the gateway why ``request_id`` failed: the code and the safe message; a
        source's detail stays in this log, under a reference the message gives."""
        message = err.message
        if isinstance(err, SourceError) and err.detail:
            ref = secrets.token_hex(4)
            log.warning("query %s refused: %s (ref %s): %s", request_id, err, ref, err.detail)
            message = f"{err.message} (details in the connector's log, ref {ref})"
        else:
            log.warning("query %s refused: %s", request_id, err)
        self.send(pb.ConnectorMessage(error=pb.QueryError(request_id=request_id, code=err.code, message=message)))

    def _source(self, dataset: str) -> Source:
        source = self.sources.get(dataset)
        if source is None:
            raise DatasetNotFound(f"no dataset {dataset!r}")
        return source

    async def _flight_info(self, req: pb.GetFlightInfoRequest) -> None:
        try:
            dataset = req.path[0] if len(req.path) == 1 else ""
            source = self._source(dataset)
            columns = tuple(req.query.columns) or None
            limit = req.query.limit if req.query.limit >= 0 else None
            conditions = filter_codec.from_proto(req.query.filter)
            aggregate = filter_codec.aggregate_from_proto(req.query)
            page = filter_codec.page_from_proto(req.query)
            if page and req.query.follow:
                raise BadRequest("a page does not apply to a subscription")
            if aggregate is not None and req.query.follow:
                check_live(aggregate)
            if aggregate is not None:
                if columns is not None or page is not None:
                    raise BadRequest("an aggregate has no columns, sort or offset but its own")
                plan = await asyncio.to_thread(source.plan_aggregate, aggregate, conditions)
            elif page is not None:
                plan = await asyncio.to_thread(source.plan_page, columns, page, conditions)
            else:
                plan = await asyncio.to_thread(source.plan, columns, limit, conditions)
            if req.query.follow:
                # Checks the dataset can be followed and the query fits (BadRequest).
                followed = columns if aggregate is None else tuple(needed_columns(aggregate, source.schema()))
                await asyncio.to_thread(lambda: source.follow(followed, conditions).close())
                plan = QueryPlan(plan.schema, (Partition(0, None),), None)
        except SaetaError as err:
            self._error(req.request_id, err)
            if self.metrics is not None:
                self.metrics.described(req.path[0] if len(req.path) == 1 else "", err.code)
            return
        if self.metrics is not None:
            self.metrics.described(dataset, "OK")
        # A resumable query of a source that reads in a stable order only when asked (a
        # database dataset with a key): its partitions are read in key order.
        ordered = req.query.resumable and not req.query.follow and not source.resumable and source.can_order
        ordered = ordered and aggregate is None and page is None  # their rows come in their own order
        info = pb.FlightInfoResponse(
            request_id=req.request_id,
            schema=plan.schema.serialize().to_pybytes(),
            partitions=[
                pb.Partition(
                    ticket=Ticket(dataset, p.index, columns, req.query.follow, ordered, aggregate, page).encode(),
                    records=-1 if p.records is None else p.records,
                )
                for p in plan.partitions
            ],
            total_records=-1 if plan.total_records is None else plan.total_records,
            # A subscription resumes by its follower's cursor (every follower has one);
            # an aggregate's rows come in an order of its unique keys, each time.
            # A sorted page is not: rows that tie may come in another order; nor is a
            # live aggregate (its rows are replaced as they change).
            resumable=(source.resumable or req.query.follow or ordered or aggregate is not None)
            and not (page is not None and page.sort)
            and not (req.query.follow and aggregate is not None),
            aggregated=aggregate is not None or page is not None,
        )
        # The plan's first call, asked for with it (docs/tunnel.md, "The first data call"):
        # opened now, a round trip of the tunnel before a DoGetRequest could come.
        first = None
        if req.HasField("first_call") and not req.query.follow and info.partitions:
            first = pb.DoGetRequest()
            first.CopyFrom(req.first_call)
            first.ticket, first.request_id = info.partitions[0].ticket, req.request_id
            info.first_call_started = True
        self.send(pb.ConnectorMessage(flight_info=info))
        if first is not None:
            log.info("query %s partition 0 started with its plan", req.request_id)
            await self._do_get(first)

    async def _do_get(self, req: pb.DoGetRequest) -> None:
        try:
            ticket = Ticket.decode(req.ticket)
        except SaetaError as err:
            self._error(req.request_id, err)
            return
        await self._read_partition(req, ticket)

    async def _read_partition(self, req: pb.DoGetRequest, ticket: Ticket) -> None:
        started = time.perf_counter()
        doget = self._doget
        if req.data_address:
            try:
                doget = self.direct.doget(req.data_address)
            except DirectDataUnavailable as err:
                self._error(req.request_id, err)
                return
        call = doget(metadata=((CALL_ID_KEY, req.call_id),))
        reader: BlockingReader | None = None
        rows = nbytes = 0
        outcome = "OK"
        try:
            source = self._source(ticket.dataset)
            conditions = filter_codec.from_proto(req.filter)
            if ticket.follow and ticket.aggregate is not None:
                agg = ticket.aggregate
                inner = source.follow(tuple(needed_columns(agg, source.schema())), conditions)
                live = LiveAggregate(inner, agg, source.schema(), self.cfg.aggregation)
                await self._follow(req, call, live)
                return
            if ticket.follow:
                await self._follow(req, call, source.follow(ticket.columns, conditions))
                return
            limit = req.limit if req.limit >= 0 else None
            skip = max(0, req.skip_rows)
            sorted_page = ticket.page is not None and bool(ticket.page.sort)
            if skip and (sorted_page or not (source.resumable or ticket.ordered or ticket.aggregate)):
                raise QueryFailed(f"dataset {ticket.dataset} cannot be read from a row offset")
            wanted = None if limit is None else limit + skip
            if ticket.aggregate is not None:
                read = source.read_aggregate(ticket.aggregate, wanted, conditions, self.cfg.aggregation)
            elif ticket.page is not None:
                read = source.read_page(ticket.columns, ticket.page, wanted, conditions, self.cfg.aggregation)
            else:
                read = source.read(ticket.partition, ticket.columns, wanted, conditions, ordered=ticket.ordered)
            batches = skip_rows(read, skip)
            reader = BlockingReader(
                chunk_messages(batches, self.cfg.chunk_bytes, self._chunk_cap(req), self._codec(req))
            )
            rows, nbytes = await write_all(call, reader, self._reads)
            await call.write(pb.ArrowChunk(end=True, end_records=rows).SerializeToString())
            await call.done_writing()
            outcome = "SENT"  # all of it, end included: a cancel from here on finds it done
            await call
            outcome = "OK"
            self._partition_sent(req, ticket, rows, nbytes, started)
        except SaetaError as err:
            # Tell the gateway why first; the cancel below then ends the data call.
            outcome = err.code
            self._error(req.request_id, err)
            call.cancel()
        except asyncio.InvalidStateError:
            # grpc.aio's write on a call that has already ended (the gateway went away
            # between two writes, or the call never connected): the same as the gateway
            # ending it, with the call's own status.
            outcome = "GATEWAY_ENDED"
            log.info("query %s: the gateway ended the data call (the call had finished)", req.request_id)
            self._data_call_ended(req, await call.code(), await call.details())
        except grpc.aio.AioRpcError as exc:
            outcome = "GATEWAY_ENDED"
            log.info("query %s: the gateway ended the data call (%s)", req.request_id, describe_rpc_error(exc))
            self._data_call_ended(req, exc.code(), exc.details())
        except asyncio.CancelledError:
            if outcome == "SENT":  # the query ended once its end was sent (a direct call's replica cancels)
                outcome = "OK"
                self._partition_sent(req, ticket, rows, nbytes, started)
                raise
            outcome = "CANCELLED"
            call.cancel()
            log.info("query %s cancelled; source closed", req.request_id)
            raise
        finally:
            if reader is not None:
                reader.close()
            memory_trim.transfer_ended()
            if self.metrics is not None and not ticket.follow:  # a subscription lasts as long as it is followed
                whole = outcome == "OK"
                seconds = time.perf_counter() - started
                self.metrics.partition_done(
                    ticket.dataset, outcome, seconds, rows if whole else 0, nbytes if whole else 0
                )
