"""The query shell (gateway/query.py, call_relay.py) in one event loop, with no socket and
no connector process: a ConnectorLink whose Control commands a small fake connector
answers, the real data-call table, data calls fed from a list of pieces, and the frames
that would reach the browser collected. What the browser sees, and how each data call is
ended for the connector, are checked."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pytest
from saeta import relay as relay_seam
from saeta.core import browser_protocol as bp
from saeta.core import resume_token as rt
from saeta.core.browser_protocol import FRAME_HEADER_BYTES
from saeta.core.tunnel_codec import Abort
from saeta.errors import QueryFailed
from saeta.gateway import call_relay
from saeta.gateway.call_relay import QueryContext
from saeta.gateway.data_calls import Chunk, DataCalls, End, Resume
from saeta.gateway.query import run_query, run_subscription
from saeta.gateway.registry import ConnectorLink
from saeta.relay import EOS
from saeta.v1 import tunnel_pb2 as pb

SCHEMA = pa.schema([("id", pa.int64())])


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


def batch(start: int, rows: int) -> Chunk:
    payload = pa.record_batch([pa.array(range(start, start + rows), pa.int64())], schema=SCHEMA).serialize()
    return Chunk(memoryview(payload.to_pybytes()), rows, payload.size)


class Pieces:
    """A data call's pieces, each after ``delay`` seconds; past the list, it waits forever
    (a followed source with nothing new)."""

    def __init__(self, pieces: Sequence[Chunk | Resume | End], delay: float = 0.0) -> None:
        self.pieces, self.delay = list(pieces), delay

    async def next_piece(self) -> Chunk | Resume | End:
        await asyncio.sleep(self.delay)
        if not self.pieces:
            await asyncio.Event().wait()
        return self.pieces.pop(0)


@dataclass
class FakeConnector:
    """Answers the link's commands: a FlightInfo of ``partitions`` partitions, then each
    DoGet with the next call's pieces; records how the gateway ended each call."""

    link: ConnectorLink
    calls: DataCalls
    data: list[Pieces]
    partitions: int = 1
    snapshot_rows: int | None = None
    resumable: bool = False
    ended: list[Abort | None] = field(default_factory=list)
    asked: list[pb.DoGetRequest] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def serve(self) -> None:
        while (msg := await self.link.next_command()) is not None:
            kind = msg.WhichOneof("msg")
            if kind == "get_flight_info":
                rid = msg.get_flight_info.request_id
                info = pb.FlightInfoResponse(
                    request_id=rid,
                    schema=SCHEMA.serialize().to_pybytes(),
                    partitions=[pb.Partition(ticket=f"t{i}") for i in range(self.partitions)],
                    total_records=-1,
                    resumable=self.resumable,
                )
                self.link.on_message(pb.ConnectorMessage(flight_info=info))
                if self.snapshot_rows is not None:
                    done = pb.SnapshotDone(request_id=rid, rows=self.snapshot_rows)
                    self.link.on_message(pb.ConnectorMessage(snapshot_done=done))
            elif kind == "do_get":
                self.asked.append(msg.do_get)
                claimed = self.calls.claim(msg.do_get.call_id, self.link.tenant)
                assert not hasattr(claimed, "status"), claimed
                claimed.arrived.set_result(self.data.pop(0))  # type: ignore[union-attr]
                self.tasks.append(asyncio.create_task(self._record(claimed.finished)))  # type: ignore[union-attr]

    async def _record(self, finished: Awaitable[Abort | None]) -> None:
        self.ended.append(await finished)


@dataclass
class Browser:
    texts: list[dict[str, Any]] = field(default_factory=list)
    binaries: list[bytes] = field(default_factory=list)

    async def send_text(self, text: str) -> None:
        self.texts.append(json.loads(text))

    async def send_parts(self, parts: Sequence[Any]) -> None:
        self.binaries.append(b"".join(bytes(p) for p in parts))


class Harness:
    """One query's world: the link, the call table, the fake connector and the browser."""

    def __init__(self, data: list[Pieces], **connector: Any) -> None:
        self.link = ConnectorLink(tenant="acme", datasets=frozenset({"ventas"}), version="t")
        self.calls = DataCalls()
        self.fake = FakeConnector(self.link, self.calls, data, **connector)
        self.browser = Browser()
        self.resume_keys: rt.ResumeKeys | None = None

    async def run(self, q: bp.RunQuery | bp.Subscribe, stop: asyncio.Event | None = None) -> None:
        serving = asyncio.create_task(self.fake.serve())
        b = self.browser
        ctx = QueryContext(self.link, self.calls, relay_seam.load("python"), 5.0, b.send_text, b.send_parts, 4)
        ctx.resume_keys = self.resume_keys
        try:
            if isinstance(q, bp.Subscribe):
                assert stop is not None
                await run_subscription(q, 7, ctx, stop)
            else:
                await run_query(q, 7, ctx)
        finally:
            self.link.close("test over")
            await serving
            await asyncio.gather(*self.fake.tasks)


async def _stop_when(stop: asyncio.Event, done: Callable[[], bool]) -> None:
    """Sets ``stop`` once ``done()`` holds, looking every 10 ms (for at most 10 s)."""
    for _ in range(1000):
        if done():
            break
        await asyncio.sleep(0.01)
    stop.set()


@in_loop
async def test_a_query_streams_schema_batches_and_end_and_answers_each_call_ok() -> None:
    h = Harness([Pieces([batch(0, 3), End(3)]), Pieces([batch(3, 2), End(2)])], partitions=2)
    await h.run(bp.RunQuery("q1", "ventas", None, None))
    texts, binaries = h.browser.texts, h.browser.binaries
    assert [t["type"] for t in texts] == ["info", "end"]
    assert texts[0]["stream"] == 7 and texts[0]["partitions"] == 2
    assert texts[1]["rows"] == 5
    assert all(b[:FRAME_HEADER_BYTES] == binaries[0][:FRAME_HEADER_BYTES] for b in binaries)
    assert binaries[-1][FRAME_HEADER_BYTES:] == EOS
    table = pa.ipc.open_stream(b"".join(b[FRAME_HEADER_BYTES:] for b in binaries)).read_all()
    assert sorted(table.column("id").to_pylist()) == [0, 1, 2, 3, 4]
    assert texts[1]["bytes"] == sum(len(b) - FRAME_HEADER_BYTES for b in binaries)
    assert h.fake.ended == [None, None]


@in_loop
async def test_more_rows_than_the_limit_fail_the_query_and_the_call_as_invalid_data() -> None:
    h = Harness([Pieces([batch(0, 3), End(3)])])
    with pytest.raises(QueryFailed, match="more rows than the limit"):
        await h.run(bp.RunQuery("q1", "ventas", None, 2))
    assert h.fake.ended == [Abort("more rows than asked", invalid_data=True)]
    assert not any(t["type"] == "end" for t in h.browser.texts)


@in_loop
async def test_an_end_marker_that_miscounts_fails_the_query() -> None:
    h = Harness([Pieces([batch(0, 3), End(5)])])
    with pytest.raises(QueryFailed, match="announced 5 rows but sent 3"):
        await h.run(bp.RunQuery("q1", "ventas", None, None))
    assert h.fake.ended == [Abort("query stopped")]


@in_loop
async def test_a_subscription_announces_its_snapshot_then_ends_cleanly_when_stopped() -> None:
    stop = asyncio.Event()
    h = Harness([Pieces([batch(0, 2), batch(2, 2), batch(4, 1)], delay=0.01)], snapshot_rows=4)
    stopper = asyncio.ensure_future(_stop_when(stop, lambda: len(h.browser.binaries) >= 4))
    await h.run(bp.Subscribe("s1", "ventas", None), stop)
    await stopper
    texts = h.browser.texts
    assert [t["type"] for t in texts] == ["info", "snapshot", "end"]
    assert texts[1]["rows"] == 4 and texts[2]["rows"] == 5
    assert h.browser.binaries[-1][FRAME_HEADER_BYTES:] == EOS
    assert h.fake.ended == [Abort("unsubscribed")]


@in_loop
async def test_a_resumable_subscriptions_checkpoints_carry_the_connectors_resume_points() -> None:
    stop = asyncio.Event()
    pieces = [Resume(b"c1", 3), batch(0, 2), batch(2, 2), Resume(b"c2", 0), batch(4, 1), Resume(None, 0), batch(5, 1)]
    h = Harness([Pieces(pieces, delay=0.01)], snapshot_rows=4, resumable=True)
    h.resume_keys = rt.ResumeKeys("subscription-test-secret-0123456789abc", rt.session_digest("sid"), 10_000)
    stopper = asyncio.ensure_future(_stop_when(stop, lambda: len(h.browser.binaries) >= 6))
    await h.run(bp.Subscribe("s1", "log", None, (), resumable=True), stop)
    await stopper
    assert h.fake.asked[0].resume_points and not h.fake.asked[0].cursor
    checkpoints = [t for t in h.browser.texts if t["type"] == "checkpoint"]
    assert [c["rows"] for c in checkpoints] == [2, 4, 5, 6]
    assert checkpoints[-1]["token"] is None  # the source cannot read those rows again
    query = rt.query_digest("s1", "log", None, None, False, (), subscription=True)
    follows = [
        rt.verify(h.resume_keys.secret, c["token"], h.resume_keys.session, query, 0).follow for c in checkpoints[:3]
    ]
    assert follows == [rt.Follow(b"c1", 5, -1), rt.Follow(b"c1", 7, -1), rt.Follow(b"c2", 1, 4)]
    assert [t["type"] for t in h.browser.texts if t["type"] != "checkpoint"] == ["info", "snapshot", "end"]


@in_loop
async def test_a_resume_point_that_was_not_asked_for_is_invalid_data() -> None:
    h = Harness([Pieces([batch(0, 2), Resume(b"c1", 0), End(2)])])
    with pytest.raises(QueryFailed, match="resume point that was not asked for"):
        await h.run(bp.RunQuery("q1", "ventas", None, None))
    assert h.fake.ended == [Abort("invalid Arrow data", invalid_data=True)]


@in_loop
async def test_a_subscription_waiting_for_its_snapshot_rows_does_not_spin() -> None:
    """The snapshot's count arrives before its rows, which come slowly: the relay sleeps
    until they come (the old loop kept waking on the already-set count, without end)."""
    stop = asyncio.Event()
    h = Harness([Pieces([batch(0, 2)], delay=0.3)], snapshot_rows=2)
    wakes = 0
    real_wait = asyncio.wait

    async def counted_wait(*args: Any, **kwargs: Any) -> Any:
        nonlocal wakes
        wakes += 1
        return await real_wait(*args, **kwargs)

    call_relay.asyncio.wait = counted_wait  # type: ignore[assignment]
    try:
        told = asyncio.ensure_future(_stop_when(stop, lambda: any(t["type"] == "snapshot" for t in h.browser.texts)))
        await h.run(bp.Subscribe("s1", "ventas", None), stop)
        await told
    finally:
        call_relay.asyncio.wait = real_wait  # type: ignore[assignment]
    assert [t["type"] for t in h.browser.texts] == ["info", "snapshot", "end"]
    assert wakes <= 10, f"the relay woke {wakes} times waiting for 2 rows"
