"""ConnectorLink, the shell around core/tunnel_link.py: the futures a query waits on are
settled by the connector's answers, and the Control writer gets every command queued
before a close, then None. An event loop, no tunnel."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from saeta.errors import ConnectorOffline, DatasetNotFound, QueryTimeout
from saeta.gateway.registry import ConnectorLink, ConnectorRegistry
from saeta.v1 import tunnel_pb2 as pb


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Runs an async test in a fresh event loop (no asyncio plugin here)."""

    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())

    return run


def link(tenant: str = "acme", datasets: tuple[str, ...] = ("ventas",)) -> ConnectorLink:
    return ConnectorLink(tenant=tenant, datasets=frozenset(datasets), version="t")


async def _describe(
    one: ConnectorLink, answer: pb.ConnectorMessage | None, seconds: float = 5.0
) -> pb.FlightInfoResponse:
    asking = asyncio.ensure_future(one.get_flight_info("r1", "ventas", None, None, seconds))
    sent = await one.next_command()
    assert sent is not None and sent.get_flight_info.request_id == "r1"
    if answer is not None:
        one.on_message(answer)
    return await asking


@in_loop
async def test_a_flight_info_answer_settles_the_wait() -> None:
    one = link()
    answer = pb.ConnectorMessage(flight_info=pb.FlightInfoResponse(request_id="r1", total_records=9))
    info = await _describe(one, answer)
    assert info.total_records == 9


@in_loop
async def test_an_error_fails_the_wait_and_reaches_the_watcher() -> None:
    one = link()
    errors = one.watch_errors("r1")
    answer = pb.ConnectorMessage(error=pb.QueryError(request_id="r1", code="DATASET_NOT_FOUND", message="no"))
    with pytest.raises(DatasetNotFound):
        await _describe(one, answer)
    assert isinstance(errors.result(), DatasetNotFound)
    one.unwatch("r1")


@in_loop
async def test_no_answer_is_a_timeout() -> None:
    with pytest.raises(QueryTimeout):
        await _describe(link(), None, seconds=0.05)


@in_loop
async def test_a_close_fails_every_wait_and_ends_the_writer_after_what_was_queued() -> None:
    one = link()
    errors = one.watch_errors("r1")
    snapshot = one.watch_snapshot("r1")
    asking = asyncio.ensure_future(one.get_flight_info("r1", "ventas", None, None, 5.0))
    await asyncio.sleep(0)
    one.cancel("r0")
    one.close("tunnel ended")
    with pytest.raises(ConnectorOffline):
        await asking
    assert isinstance(errors.result(), ConnectorOffline)
    assert not snapshot.done()  # the errors future is what wakes a subscription
    first, second, third = [await one.next_command() for _ in range(3)]
    assert first is not None and first.HasField("get_flight_info")
    assert second is not None and second.cancel.request_id == "r0"
    assert third is None
    assert isinstance(one.watch_errors("late").result(), ConnectorOffline)
    with pytest.raises(ConnectorOffline):
        one.send(pb.GatewayMessage(cancel=pb.CancelRequest(request_id="x")))


@in_loop
async def test_a_snapshot_size_reaches_its_subscription() -> None:
    one = link()
    snapshot = one.watch_snapshot("s1")
    one.on_message(pb.ConnectorMessage(snapshot_done=pb.SnapshotDone(request_id="s1", rows=12)))
    assert snapshot.result() == 12


@in_loop
async def test_the_writer_waits_for_a_command() -> None:
    one = link()
    waiting = asyncio.ensure_future(one.next_command())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    one.on_message(pb.ConnectorMessage(heartbeat=pb.Heartbeat(sent_unix_ms=3)))
    echoed = await asyncio.wait_for(waiting, 5)
    assert echoed is not None and echoed.heartbeat.sent_unix_ms == 3


def test_the_registry_routes_to_the_newest_link_that_serves_the_dataset() -> None:
    registry = ConnectorRegistry()
    with pytest.raises(ConnectorOffline):
        registry.route("acme", "ventas")
    old = link(datasets=("ventas", "stock"))
    new = link(datasets=("ventas",))
    registry.add(old)
    registry.add(new)
    assert registry.route("acme", "ventas") is new
    assert registry.route("acme", "stock") is old
    with pytest.raises(DatasetNotFound):
        registry.route("acme", "nope")
    assert registry.datasets("acme") == {"ventas", "stock"}
    registry.remove(new)
    assert registry.route("acme", "ventas") is old and registry.count() == 1
