"""Browser message floods against a real gateway: every message gets its answer (an error
frame, or the refusal of a query past the socket's limit), the gateway's memory does not
grow with what was sent, and a client that floods without ever reading is dropped (its
close frame, 4008, cannot reach it) instead of holding the gateway's connection forever."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from saeta.core.browser_protocol import MAX_TEXT_FRAME_BYTES
from saeta.demo_data import ventas
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from benchmarks.procstat import peak_rss
from tests.system.harness import Deployment, Proc

pytestmark = pytest.mark.system
MiB = 1024 * 1024
FRAME = MAX_TEXT_FRAME_BYTES - 1024  # each large message just under the 64 KiB limit


def _flood() -> list[str | bytes]:
    """One round of hostile messages: large malformed ones, deep nesting, binary frames,
    filters over their limits, unknown actions, and cheap valid ones."""
    too_many_values = json.dumps(
        {"action": "query", "id": "v", "dataset": "v", "filter": [["id", "in", list(range(9000))]]}
    )
    return [
        "{" + "x" * FRAME,  # invalid JSON
        "[" * (FRAME // 2) + "]" * (FRAME // 2),  # nesting far past any sane depth
        b"\x00" * FRAME,  # binary frames are not accepted
        too_many_values[:FRAME] if len(too_many_values) > FRAME else too_many_values,
        json.dumps({"action": "drop", "id": "u", "pad": "p" * (FRAME - 100)}),
        json.dumps({"action": "query", "id": 7, "dataset": ["v"]}),  # wrong types
        json.dumps({"action": "list"}),
        json.dumps({"action": "cancel", "id": "nothing-running"}),  # a no-op: no answer
    ]


ANSWERED_PER_ROUND = 7  # every message of a round but the cancel


@pytest.fixture
def site(deployment: Deployment) -> tuple[Deployment, Proc]:
    deployment.start_control_plane()
    gateway = deployment.start_gateway(websocket={"stalled_seconds": 3})
    data = deployment.root / "data"
    data.mkdir()
    pq.write_table(ventas(200_000), data / "v.parquet", row_group_size=4096)
    deployment.start_connector("acme", {"v": {"type": "parquet", "path": "data/v.parquet"}})
    return deployment, gateway


async def _flood_and_read(url: str, rounds: int) -> Counter[str]:
    """Sends ``rounds`` rounds while reading every answer; returns the answers by kind."""
    answers: Counter[str] = Counter()
    async with connect(url, compression=None, max_size=None) as ws:

        async def read() -> None:
            while sum(answers.values()) < rounds * ANSWERED_PER_ROUND:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                answers[frame.get("code") or frame["type"]] += 1

        reader = asyncio.create_task(read())
        for _ in range(rounds):
            for message in _flood():
                await ws.send(message)
        await reader
    return answers


def test_a_flood_of_bad_messages_is_answered_and_memory_stays_flat(site: tuple[Deployment, Proc]) -> None:
    deployment, gateway = site
    url = f"{deployment.ws_url}/stream/{deployment.session('acme')}"
    asyncio.run(_flood_and_read(url, 20))  # warm-up: imports, allocator arenas, caches
    rounds = 400  # about 100 MiB of messages
    with peak_rss({"gateway": gateway.popen.pid}) as rss:
        answers = asyncio.run(_flood_and_read(url, rounds))
    assert answers == Counter({"BAD_REQUEST": 6 * rounds, "datasets": rounds}), answers
    growth = (rss["gateway"][1] - rss["gateway"][0]) / MiB
    print(f"\nflood: {rounds * sum(map(len, _flood())) / MiB:.0f} MiB sent, gateway RSS +{growth:.1f} MiB")
    assert growth < 32, f"the gateway grew by {growth:.1f} MiB during the flood"


def test_a_flood_of_queries_past_the_limit_is_refused_one_by_one(site: tuple[Deployment, Proc]) -> None:
    deployment, gateway = site
    sent = 2000

    async def main() -> tuple[Counter[str], int, set[str]]:
        ends: Counter[str] = Counter()
        running: set[str] = set()
        most = 0
        reasons: set[str] = set()
        url = f"{deployment.ws_url}/stream/{deployment.session('acme')}"
        async with connect(url, compression=None, max_size=None) as ws:
            for i in range(sent):
                await ws.send(json.dumps({"action": "query", "id": f"q{i}", "dataset": "v"}))
            while sum(ends.values()) < sent:
                frame = await asyncio.wait_for(ws.recv(), 120)
                if isinstance(frame, str):
                    message = json.loads(frame)
                    if message["type"] == "info":
                        running.add(message["id"])
                        most = max(most, len(running))
                    if message["type"] in ("end", "error"):
                        running.discard(message["id"])
                        ends[message.get("code") or "end"] += 1
                        if message.get("code") == "TOO_MANY_QUERIES":
                            reasons.add(message["message"])
        return ends, most, reasons

    with peak_rss({"gateway": gateway.popen.pid}) as rss:
        ends, most, reasons = asyncio.run(main())
    # Every query ends once: the ones past the socket's limit at once, the others whole,
    # and never more than the socket's 16 (limits.max_queries_per_socket) ran at once.
    assert ends["TOO_MANY_QUERIES"] > 0 and ends["end"] >= 16, ends
    assert 0 < most <= 16, most
    assert reasons == {"at most 16 queries at once on one socket"}, reasons
    assert ends["TOO_MANY_QUERIES"] + ends["end"] == sent, ends
    growth = (rss["gateway"][1] - rss["gateway"][0]) / MiB
    print(f"\nquery flood: {dict(ends)}, gateway RSS +{growth:.1f} MiB")
    assert growth < 96, f"the gateway grew by {growth:.1f} MiB during the flood"


def test_a_client_that_floods_without_reading_is_dropped(site: tuple[Deployment, Proc]) -> None:
    deployment, gateway = site

    async def main() -> int:
        url = f"{deployment.ws_url}/stream/{deployment.session('acme')}"
        sent = 0
        # max_queue=1: the client's library stops reading the socket at once, as a stuck
        # browser tab would; answers pile up in the gateway's direction.
        async with connect(url, compression=None, max_queue=1, close_timeout=1) as ws:
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(120):
                    while True:
                        await ws.send(json.dumps({"action": "list", "pad": "p" * 4096}))
                        sent += 1
        return sent

    with peak_rss({"gateway": gateway.popen.pid}) as rss:
        sent = asyncio.run(main())
    growth = (rss["gateway"][1] - rss["gateway"][0]) / MiB
    print(f"\nflood without reading: {sent} messages sent before the gateway dropped it, RSS +{growth:.1f} MiB")
    log = gateway.text()
    assert "socket stalled, closing code=CLIENT_TOO_SLOW tenant=acme" in log
    assert "socket dropped tenant=acme" in log  # the close frame could not go out
    assert "Exception in ASGI application" not in log
    assert growth < 32, f"the gateway grew by {growth:.1f} MiB while its answers piled up"


def test_invalid_unicode_is_refused_and_a_flood_of_it_logs_a_bounded_amount(site: tuple[Deployment, Proc]) -> None:
    """A lone surrogate (a JSON ``\\uD800`` escape, which no UTF-8 encoder accepts) in any
    field is a BAD_REQUEST answered on a socket that stays open; 5,000 of them write a
    bounded number of log lines and no traceback."""
    deployment, gateway = site
    hostile = [
        ('{"action":"nope","id":"\\ud800"}', None),
        ('{"action":"query","id":"\\udfff","dataset":"v"}', None),
        ('{"action":"query","id":"a","dataset":"v","filter":[["id","=","\\ud800"]]}', "a"),
        ('{"action":"query","id":"b","dataset":"v","columns":["\\udbff"]}', "b"),
    ]
    flood = 5000

    async def main() -> None:
        url = f"{deployment.ws_url}/stream/{deployment.session('acme')}"
        async with connect(url, compression=None, max_size=None) as ws:
            for text, rid in hostile:
                await ws.send(text)
                reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert (reply["type"], reply["code"], reply["id"]) == ("error", "BAD_REQUEST", rid), text
            for i in range(flood):
                await ws.send(hostile[i % len(hostile)][0])
            for _ in range(flood):
                reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert reply["code"] == "BAD_REQUEST"
            # The socket still answers a good query.
            await ws.send(json.dumps({"action": "query", "id": "ok", "dataset": "v", "limit": 3}))
            while isinstance(frame := await asyncio.wait_for(ws.recv(), 30), bytes) or json.loads(frame)["type"] in (
                "info",
            ):
                pass
            assert json.loads(frame) == {"type": "end", "id": "ok", "rows": 3, "bytes": json.loads(frame)["bytes"]}

    before = gateway.text().count("\n")
    asyncio.run(main())
    log = gateway.text()
    lines = log.count("\n") - before
    print(f"\n{flood + len(hostile)} messages with lone surrogates: {lines} gateway log lines")
    assert "Traceback" not in log and "query crashed" not in log
    assert lines < 200, f"{lines} log lines for {flood} bad requests"
