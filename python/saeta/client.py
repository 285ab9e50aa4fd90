"""Python client for the browser protocol v1 (docs/protocol.md).

Async::

    async with await AsyncClient.connect("ws://gw:8081", session_id) as client:
        names = await client.list()
        table = await client.query("ventas", columns=["fecha", "total"])
        async for batch in client.stream("ventas", limit=1000):
            ...

Sync: ``with Client.connect(url, session_id) as c: c.query("ventas")``.

Why one file: AsyncClient and Client, its blocking wrapper that only forwards, are
the one public import users write (``from saeta.client import Client``).
"""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import itertools
import json
import struct
import threading
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from saeta.errors import SaetaError

# A query's filter: [column, op, value] conditions, e.g. [["total", ">", 100]].
Filter = Sequence[Sequence[Any]]
T = TypeVar("T")

MAX_FRAME_BYTES = 256 * 1024 * 1024
# The IPC body codecs this client decodes (pyarrow does), sent with every query and
# subscription: a gateway relays batches a connector compressed with one of them as they
# came, instead of decompressing them (docs/protocol.md, "Compression").
BODY_CODECS = [c for c in ("zstd", "lz4") if pa.Codec.is_available(c)]


class ServerError(SaetaError):
    """An error frame from the gateway; ``code`` is the protocol's code, ``retry_after``
    the seconds after which a retry can succeed when the gateway says (QUOTA_EXCEEDED)."""

    def __init__(self, message: str, *, code: str | None = None, retry_after_ms: Any = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after_ms / 1000 if isinstance(retry_after_ms, int) else None


class SocketClosed(SaetaError):
    """The gateway closed the socket; ``close_code`` says why (4001, 4003, ...)."""

    code = "SOCKET_CLOSED"

    def __init__(self, close_code: int | None, reason: str) -> None:
        super().__init__(f"socket closed ({close_code}): {reason}")
        self.close_code = close_code


def _request(
    action: str, qid: str, dataset: str, columns: builtins.list[str] | None, filter: Filter | None
) -> dict[str, Any]:
    """The fields a query and a subscription share."""
    request: dict[str, Any] = {"action": action, "id": qid, "dataset": dataset}
    if BODY_CODECS:
        request["compression"] = BODY_CODECS
    if columns is not None:
        request["columns"] = columns
    if filter:
        request["filter"] = [list(c) for c in filter]
    return request


@dataclass
class QueryInfo:
    id: str
    stream: int
    fields: list[dict[str, str]]
    partitions: int
    total_records: int | None


@dataclass
class _Query:
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    schema: pa.Schema | None = None
    info: QueryInfo | None = None
    # Resumption (docs/protocol.md, "Resuming"): checkpoints waiting for their frames
    # ([frames left, rows, token]), the last one whose frames all arrived, the data
    # frames received, and whether the next stream's schema frame is one already had.
    pending: list[list[Any]] = field(default_factory=list)
    committed: tuple[int, str] | None = None
    frames: int = 0
    skip_schema: bool = False
    resumes: int = 0
    held: list[memoryview] = field(default_factory=list)  # frames of a group not yet whole
    snapshot_seen: bool = False  # a subscription's snapshot frame came (a resumed one may repeat it)

    def on_frame(self, payload: memoryview) -> None:
        """A binary frame of this query's stream: handed on at once, or, inside a
        checkpoint's group, once the whole group is in (so that a resume from the last
        committed checkpoint never repeats a row the reader already has)."""
        if not self.pending:
            self.frames += 1
            self.queue.put_nowait(("data", payload))
            return
        self.held.append(payload)
        self.pending[0][0] -= 1
        if self.pending[0][0] <= 0:
            _, rows, token = self.pending.pop(0)
            # A null token: the stream cannot be resumed from here (a subscription's rows its
            # source cannot read again), until a later checkpoint can.
            self.committed = (rows, token) if token is not None else None
            for view in self.held:
                self.frames += 1
                self.queue.put_nowait(("data", view))
            self.held.clear()


# Errors after which a resumable query is resumed on the same socket (a replica holding
# the tenant's tunnel went away: the connector re-homes within its heartbeat bound), and
# socket closes after which the client reconnects and resumes (the gateway went away or
# is stopping; the network dropped). At most MAX_RESUMES per query, RESUME_DELAYS apart.
RESUME_ON_ERROR = frozenset({"CONNECTOR_OFFLINE"})
RECONNECT_ON_CLOSE = frozenset({1001, 1006, 1011, 1012, 1013, None})
MAX_RESUMES = 20
RESUME_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
RECONNECT_SECONDS = 60.0


class AsyncClient:
    def __init__(self, ws: ClientConnection, resume: bool = False, dial: Any = None) -> None:
        self._ws = ws
        self._queries: dict[str, _Query] = {}
        self._by_stream: dict[int, _Query] = {}
        self._lists: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._closed: SocketClosed | None = None
        self._resume = resume
        self._dial = dial  # opens a new socket to the same place (reconnect)
        self._closing = False
        self._reconnected = asyncio.Event()
        self.resumes = 0  # queries resumed so far (docs/protocol.md, "Resuming")
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, session_id: str, *, resume: bool = False, **kwargs: Any) -> AsyncClient:
        """Opens ``{url}/stream/{session_id}`` (url is ws:// or wss://). ``kwargs`` go to
        websockets' connect; ``max_size`` (the largest frame accepted, MAX_FRAME_BYTES by
        default) must be at least the gateway's websocket.max_frame_bytes. With
        ``resume``, queries and subscriptions ask for checkpoints and carry on where they stopped when the
        replica holding the tunnel goes (CONNECTOR_OFFLINE) or the socket drops: the
        client reconnects (for up to RECONNECT_SECONDS) and resumes them, no row lost or
        repeated (docs/protocol.md, "Resuming")."""
        kwargs.setdefault("max_size", MAX_FRAME_BYTES)
        target = f"{url.rstrip('/')}/stream/{session_id}"

        async def dial() -> ClientConnection:
            return await connect(target, compression=None, **kwargs)

        return cls(await dial(), resume, dial)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closing = True
        await self._ws.close()
        self._reader.cancel()

    def abandon(self) -> None:
        """Drops the connection at once, without a close handshake (as a browser tab that
        is killed does)."""
        self._reader.cancel()
        self._ws.transport.abort()

    async def wait_closed(self) -> SocketClosed:
        """Waits until the gateway closes the socket (with ``resume``: until no new socket
        comes either); returns why."""
        while self._closed is None:
            await asyncio.shield(self._reader)  # a reconnect replaces the reader
        return self._closed

    async def _read(self) -> None:
        ws = self._ws
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self._on_binary(message)
                else:
                    self._on_text(json.loads(message))
        except ConnectionClosed:
            pass
        finally:
            closed = SocketClosed(ws.close_code, ws.close_reason or "")
            if self._resume and not self._closing and ws.close_code in RECONNECT_ON_CLOSE and self._dial is not None:
                self._reconnected.clear()
                self._lists.put_nowait(("closed", closed))
                self._reader = asyncio.create_task(self._reconnect(closed))
            else:
                self._give_up(closed)

    def _give_up(self, closed: SocketClosed) -> None:
        self._closed = closed
        self._reconnected.set()
        for q in self._queries.values():
            q.queue.put_nowait(("closed", closed))
        self._lists.put_nowait(("closed", closed))

    async def _reconnect(self, closed: SocketClosed) -> None:
        """A new socket, then each running query told to resume on it."""
        deadline = asyncio.get_running_loop().time() + RECONNECT_SECONDS
        for attempt in itertools.count():
            await asyncio.sleep(RESUME_DELAYS[min(attempt, len(RESUME_DELAYS) - 1)])
            try:
                self._ws = await self._dial()
                break
            except (OSError, InvalidHandshake, TimeoutError):
                if asyncio.get_running_loop().time() >= deadline:
                    self._give_up(closed)
                    return
        self._by_stream.clear()
        self._reconnected.set()
        for q in self._queries.values():
            q.queue.put_nowait(("reconnected", None))
        await self._read()

    def _on_binary(self, frame: bytes) -> None:
        stream, _flags = struct.unpack_from("<II", frame)
        q = self._by_stream.get(stream)
        if q is not None:
            q.on_frame(memoryview(frame)[8:])

    def _on_text(self, msg: dict[str, Any]) -> None:
        kind, qid = msg.get("type"), msg.get("id")
        if kind == "datasets":
            self._lists.put_nowait(("datasets", msg["datasets"]))
            return
        q = self._queries.get(qid) if isinstance(qid, str) else None
        if q is None:
            if kind == "error":
                self._lists.put_nowait(("error", msg))
            return
        assert isinstance(qid, str) and isinstance(kind, str)
        if kind == "checkpoint":
            q.pending.append([msg["frames"], msg["rows"], msg["token"]])
            return
        if kind == "info":
            q.info = QueryInfo(qid, msg["stream"], msg["schema"]["fields"], msg["partitions"], msg["total_records"])
            self._by_stream[q.info.stream] = q
        q.queue.put_nowait((kind, msg))

    async def _send(self, obj: dict[str, Any]) -> None:
        if self._closed is not None:
            raise self._closed
        try:
            await self._ws.send(json.dumps(obj))
        except ConnectionClosed:
            # Closed before our reader saw it (say, a session refused at once): the same
            # typed error as when the reader got there first.
            raise SocketClosed(self._ws.close_code, self._ws.close_reason or "") from None

    async def list(self) -> builtins.list[dict[str, Any]]:
        await self._send({"action": "list"})
        kind, value = await self._lists.get()
        if kind == "closed":
            raise value
        if kind == "error":
            raise ServerError(value["message"], code=value["code"], retry_after_ms=value.get("retry_after_ms"))
        datasets: builtins.list[dict[str, Any]] = value
        return datasets

    def stream(
        self,
        dataset: str,
        columns: builtins.list[str] | None = None,
        limit: int | None = None,
        query_id: str | None = None,
        schema_out: builtins.list[pa.Schema] | None = None,
        *,
        filter: Filter | None = None,
        ordered: bool = False,
        aggregate: dict[str, Any] | None = None,
        sort: builtins.list[dict[str, Any]] | None = None,
        offset: int | None = None,
        on_info: Callable[[QueryInfo], None] | None = None,
    ) -> AsyncGenerator[pa.RecordBatch, None]:
        """Record batches as they arrive. Breaking out of the loop cancels the query.
        ``filter`` is a list of ``[column, op, value]`` (docs/protocol.md, "Filters");
        ``ordered`` asks for the partitions one after the other, in order; ``aggregate``
        has the source aggregate the rows (docs/protocol.md, "Aggregation"), e.g.
        ``{"group_by": ["region"], "measures": [{"op": "sum", "column": "total"}]}``;
        ``sort`` (``[{"column": "total", "desc": True}]``) and ``offset`` ask the source
        for a page (docs/protocol.md, "Pages"); ``on_info(info)`` is called when the query's
        info frame arrives (its schema, partitions and ``total_records``, when the source
        knows them). Raises ServerError (with the protocol's code) or SocketClosed."""
        request = _request("query", query_id or f"q{next(self._ids)}", dataset, columns, filter)
        if aggregate is not None:
            request["aggregate"] = aggregate
        if sort is not None:
            request["sort"] = sort
        if offset is not None:
            request["offset"] = offset
        if limit is not None:
            request["limit"] = limit
        if ordered:
            request["ordered"] = True
        if self._resume:
            request["resumable"] = True
        return self._run(request, schema_out, None, on_info)

    def subscribe(
        self,
        dataset: str,
        columns: builtins.list[str] | None = None,
        *,
        filter: Filter | None = None,
        on_snapshot: Callable[[int], None] | None = None,
        query_id: str | None = None,
        aggregate: dict[str, Any] | None = None,
    ) -> AsyncGenerator[pa.RecordBatch, None]:
        """A live query (docs/protocol.md, "Live data"): the snapshot's batches, then new
        ones as the source grows. ``on_snapshot(rows)`` is called once the snapshot has
        arrived. Breaking out of the loop, or ``unsubscribe(query_id)``, ends it. With
        ``resume``, a subscription whose socket or replica is lost carries on where it
        stopped, as a query does (``on_snapshot`` is still called once). With ``aggregate``
        (docs/protocol.md, "Live aggregates"), the snapshot's aggregate, then the rows of
        the groups and buckets new rows changed, each replacing the row of its keys."""
        request = _request("subscribe", query_id or f"s{next(self._ids)}", dataset, columns, filter)
        if aggregate is not None:
            request["aggregate"] = aggregate
        if self._resume:
            request["resumable"] = True
        return self._run(request, None, on_snapshot)

    async def unsubscribe(self, query_id: str) -> None:
        """Ends subscription ``query_id``: its iterator then finishes normally."""
        await self._send({"action": "unsubscribe", "id": query_id})

    async def _run(
        self,
        request: dict[str, Any],
        schema_out: builtins.list[pa.Schema] | None,
        on_snapshot: Callable[[int], None] | None,
        on_info: Callable[[QueryInfo], None] | None = None,
    ) -> AsyncGenerator[pa.RecordBatch, None]:
        qid = request["id"]
        q = self._queries[qid] = _Query()
        finished = False
        try:
            await self._send(request)
            while True:
                kind, value = await q.queue.get()
                if kind == "data":
                    if q.skip_schema:  # a resumed stream's schema: the one already had
                        q.skip_schema = False
                        continue
                    if q.schema is None:
                        q.schema = pa.ipc.read_schema(pa.py_buffer(value))
                        if schema_out is not None:
                            schema_out.append(q.schema)
                        continue
                    reader = pa.ipc.MessageReader.open_stream(pa.py_buffer(value))
                    for message in reader:
                        yield pa.ipc.read_record_batch(message, q.schema)
                elif kind == "info":
                    if on_info is not None and q.info is not None and q.resumes == 0:
                        on_info(q.info)
                elif kind == "snapshot":
                    # Once: a subscription resumed from a checkpoint before its snapshot
                    # frame gets that frame again.
                    if on_snapshot is not None and not q.snapshot_seen:
                        on_snapshot(value["rows"])
                    q.snapshot_seen = True
                elif kind == "end":
                    finished = True
                    return
                elif kind == "error":
                    mid_query = q.committed is not None  # refused before any row: fails at once
                    if (
                        self._resume
                        and mid_query
                        and value["code"] in RESUME_ON_ERROR
                        and await self._resumed(request, q)
                    ):
                        continue
                    finished = True
                    raise ServerError(value["message"], code=value["code"], retry_after_ms=value.get("retry_after_ms"))
                elif kind == "reconnected":
                    if not await self._resumed(request, q, delay=False):
                        finished = True
                        raise SocketClosed(None, "reconnected, but the query cannot be resumed")
                elif kind == "closed":
                    finished = True
                    raise value
        finally:
            if not finished and self._closed is None:
                stop = "unsubscribe" if request["action"] == "subscribe" else "cancel"
                await self._ws.send(json.dumps({"action": stop, "id": qid}))
            self._queries.pop(qid, None)
            if q.info is not None:
                self._by_stream.pop(q.info.stream, None)

    async def _resumed(self, request: dict[str, Any], q: _Query, delay: bool = True) -> bool:
        """Asks again for query ``q`` from its last committed checkpoint (or from the
        start, when no data came yet); False when it cannot be resumed."""
        if q.resumes >= MAX_RESUMES:
            return False
        if q.committed is None and q.frames > 1:  # data came, and no checkpoint covers it
            return False
        if delay:
            await asyncio.sleep(RESUME_DELAYS[min(q.resumes, len(RESUME_DELAYS) - 1)])
        q.resumes += 1
        self.resumes += 1
        again = dict(request)
        if q.committed is not None:
            again["resume"] = {"rows": q.committed[0], "token": q.committed[1]}
        q.pending.clear()
        q.held.clear()
        q.frames = 0
        q.skip_schema = q.schema is not None
        if q.info is not None:
            self._by_stream.pop(q.info.stream, None)
        try:
            await self._send(again)
        except SocketClosed:
            return False
        return True

    async def query(
        self,
        dataset: str,
        columns: builtins.list[str] | None = None,
        limit: int | None = None,
        *,
        filter: Filter | None = None,
        ordered: bool = False,
        aggregate: dict[str, Any] | None = None,
        sort: builtins.list[dict[str, Any]] | None = None,
        offset: int | None = None,
    ) -> pa.Table:
        """The whole result as one table (with the query's schema even when empty)."""
        qid = f"q{next(self._ids)}"
        schemas: builtins.list[pa.Schema] = []
        stream = self.stream(
            dataset,
            columns,
            limit,
            qid,
            schemas,
            filter=filter,
            ordered=ordered,
            aggregate=aggregate,
            sort=sort,
            offset=offset,
        )
        batches = [b async for b in stream]
        return pa.Table.from_batches(batches, schema=schemas[0] if schemas else None)


class _LoopThread:
    """An event loop on a daemon thread of the client's own. The socket is read, and the
    gateway's pings answered, between calls (an idle client is not dropped), and a call
    works where the calling thread already runs a loop of its own (Jupyter, IPython)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="saeta-client", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.loop.is_closed():
            coro.close()
            raise SocketClosed(None, "the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C in the caller: the call is cancelled, not left running
            future.cancel()
            raise

    def stop(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class Client:
    """The synchronous face of AsyncClient: its calls block, and its loop runs on a thread
    of its own (usable inside Jupyter; an idle client stays connected)."""

    def __init__(self, runner: _LoopThread, inner: AsyncClient) -> None:
        self._runner, self._inner = runner, inner

    @classmethod
    def connect(cls, url: str, session_id: str, **kwargs: Any) -> Client:
        runner = _LoopThread()
        try:
            inner = runner.call(AsyncClient.connect(url, session_id, **kwargs))
        except BaseException:
            runner.stop()
            raise
        return cls(runner, inner)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._runner.loop.is_closed():
            try:
                self._runner.call(self._inner.close())
            finally:
                self._runner.stop()

    def list(self) -> builtins.list[dict[str, Any]]:
        return self._runner.call(self._inner.list())

    def query(
        self,
        dataset: str,
        columns: builtins.list[str] | None = None,
        limit: int | None = None,
        *,
        filter: Filter | None = None,
        ordered: bool = False,
        aggregate: dict[str, Any] | None = None,
        sort: builtins.list[dict[str, Any]] | None = None,
        offset: int | None = None,
    ) -> pa.Table:
        """The whole result as one pyarrow Table."""
        query = self._inner.query(
            dataset, columns, limit, filter=filter, ordered=ordered, aggregate=aggregate, sort=sort, offset=offset
        )
        return self._runner.call(query)

    def to_pandas(self, dataset: str, *args: Any, **kwargs: Any) -> Any:
        """``query(...)`` as a pandas DataFrame (the ``pandas`` extra)."""
        return _to_pandas(self.query(dataset, *args, **kwargs))

    def to_polars(self, dataset: str, *args: Any, **kwargs: Any) -> Any:
        """``query(...)`` as a polars DataFrame (the ``polars`` extra)."""
        return _to_polars(self.query(dataset, *args, **kwargs))

    def stream(
        self,
        dataset: str,
        columns: builtins.list[str] | None = None,
        limit: int | None = None,
        *,
        filter: Filter | None = None,
        ordered: bool = False,
        aggregate: dict[str, Any] | None = None,
        sort: builtins.list[dict[str, Any]] | None = None,
        offset: int | None = None,
        on_info: Callable[[QueryInfo], None] | None = None,
        schema_out: builtins.list[pa.Schema] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Record batches as they arrive; leaving the loop early cancels the query."""
        agen = self._inner.stream(
            dataset,
            columns,
            limit,
            None,
            schema_out,
            filter=filter,
            ordered=ordered,
            aggregate=aggregate,
            sort=sort,
            offset=offset,
            on_info=on_info,
        )

        async def step() -> pa.RecordBatch | None:
            try:
                return await anext(agen)
            except StopAsyncIteration:
                return None

        try:
            while (batch := self._runner.call(step())) is not None:
                yield batch
        finally:
            if not self._runner.loop.is_closed():
                self._runner.call(agen.aclose())

    def reader(self, dataset: str, *args: Any, **kwargs: Any) -> pa.RecordBatchReader:
        """The result as a pyarrow RecordBatchReader, read as it streams (DuckDB, Polars,
        ``pyarrow.dataset.write_dataset`` and ADBC take one). Same arguments as stream()."""
        schemas: builtins.list[pa.Schema] = []
        batches = self.stream(dataset, *args, schema_out=schemas, **kwargs)
        first = next(batches, None)
        if not schemas:  # the query ended before its schema: stream() raised, or nothing at all
            raise ServerError("the gateway sent no schema for the query", code="PROTOCOL_ERROR")

        def rest() -> Iterator[pa.RecordBatch]:
            if first is not None:
                yield first
            yield from batches

        return pa.RecordBatchReader.from_batches(schemas[0], rest())


def _to_pandas(table: pa.Table) -> Any:
    if importlib.util.find_spec("pandas") is None:
        raise ImportError("to_pandas needs pandas: pip install 'saeta[pandas]'")
    return table.to_pandas()


def _to_polars(table: pa.Table) -> Any:
    try:
        import polars
    except ImportError:
        raise ImportError("to_polars needs polars: pip install 'saeta[polars]'") from None
    return polars.from_arrow(table)
