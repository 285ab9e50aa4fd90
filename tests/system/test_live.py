"""Subscriptions with real processes: the snapshot, then rows appended to files as they
come, filters on them, unsubscribe, the raw frames of the protocol, and a file that
vanishes while followed."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pyarrow as pa
import pytest
from saeta.client import AsyncClient, ServerError
from websockets.asyncio.client import connect

from tests.system.harness import Deployment

pytestmark = pytest.mark.system

LIVE = {"poll_seconds": 0.1}


def append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


@pytest.fixture
def running(deployment: Deployment) -> Deployment:
    data = deployment.root / "data"
    data.mkdir()
    (data / "log.csv").write_text("id,valor,nivel\n1,1.5,info\n2,2.5,error\n")
    (data / "events.jsonl").write_text(json.dumps({"id": 1, "msg": "hola"}) + "\n")
    deployment.start_control_plane()
    deployment.start_gateway()
    deployment.start_connector(
        "acme",
        {
            "log": {"type": "csv", "path": "data/log*.csv", "live": LIVE},
            "events": {"type": "json", "path": "data/events.jsonl", "live": LIVE},
        },
    )
    return deployment


async def _next_rows(it: object, want: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    while len(rows) < want:
        batch = await asyncio.wait_for(anext(it), 30)  # type: ignore[call-overload]
        rows += batch.to_pylist()
    return rows


def test_snapshot_then_appended_rows_then_unsubscribe(running: Deployment) -> None:
    log = running.root / "data" / "log.csv"

    async def main() -> None:
        async with await AsyncClient.connect(running.ws_url, running.session("acme")) as client:
            snapshots: list[int] = []
            it = client.subscribe("log", ["id", "nivel"], on_snapshot=snapshots.append, query_id="s1")
            assert await _next_rows(it, 2) == [{"id": 1, "nivel": "info"}, {"id": 2, "nivel": "error"}]
            append(log, "3,3.5,warn\n4,4.5,info\n")
            assert await _next_rows(it, 2) == [{"id": 3, "nivel": "warn"}, {"id": 4, "nivel": "info"}]
            assert snapshots == [2]
            (running.root / "data" / "log-2.csv").write_text("id,valor,nivel\n5,5.5,debug\n")
            assert await _next_rows(it, 1) == [{"id": 5, "nivel": "debug"}]
            await client.unsubscribe("s1")
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(it), 30)
            # The socket goes on: a plain query after it.
            table = await client.query("log", ["id"])
            assert sorted(table.column("id").to_pylist()) == [1, 2, 3, 4, 5]

    asyncio.run(main())


def test_filter_applies_to_live_rows(running: Deployment) -> None:
    events = running.root / "data" / "events.jsonl"

    async def main() -> None:
        async with await AsyncClient.connect(running.ws_url, running.session("acme")) as client:
            it = client.subscribe("events", filter=[["id", ">", 1], ["msg", "!=", "ruido"]])
            lines = [{"id": 2, "msg": "ruido"}, {"id": 3, "msg": "señal"}, {"id": 1, "msg": "vieja"}]
            append(events, "".join(json.dumps(r) + "\n" for r in lines))
            assert await _next_rows(it, 1) == [{"id": 3, "msg": "señal"}]
            await it.aclose()

    asyncio.run(main())


def test_raw_frames_of_a_subscription(running: Deployment) -> None:
    log = running.root / "data" / "log.csv"

    async def main() -> None:
        url = f"{running.ws_url}/stream/{running.session('acme')}"
        async with connect(url, compression=None, max_size=None) as ws:
            await ws.send(json.dumps({"action": "subscribe", "id": "live", "dataset": "log", "columns": ["id"]}))
            info = json.loads(await ws.recv())
            assert (info["type"], info["partitions"], info["total_records"]) == ("info", 1, None)
            stream = bytearray()
            texts = []
            while True:
                msg = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(msg, str):
                    texts.append(json.loads(msg))
                    if texts[-1]["type"] == "snapshot":
                        break
                else:
                    stream += msg[8:]
            assert texts == [{"type": "snapshot", "id": "live", "rows": 2}]
            append(log, "7,7.5,x\n")
            msg = await asyncio.wait_for(ws.recv(), 30)
            assert isinstance(msg, bytes)
            stream += msg[8:]
            await ws.send(json.dumps({"action": "unsubscribe", "id": "live"}))
            while True:
                msg = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(msg, str):
                    end = json.loads(msg)
                    break
                stream += msg[8:]
            assert end == {"type": "end", "id": "live", "rows": 3, "bytes": len(stream)}
            table = pa.ipc.open_stream(bytes(stream)).read_all()
            assert table.column("id").to_pylist() == [1, 2, 7]
            # Subscriptions take no limit and no order.
            await ws.send(json.dumps({"action": "subscribe", "id": "x", "dataset": "log", "limit": 3}))
            reply = json.loads(await ws.recv())
            assert (reply["code"], reply["id"]) == ("BAD_REQUEST", "x")

    asyncio.run(main())


def test_a_vanished_file_ends_the_subscription_with_an_error(running: Deployment) -> None:
    async def main() -> None:
        async with await AsyncClient.connect(running.ws_url, running.session("acme")) as client:
            it = client.subscribe("events")
            assert len(await _next_rows(it, 1)) == 1
            (running.root / "data" / "events.jsonl").unlink()
            with pytest.raises(ServerError) as info:
                await asyncio.wait_for(_next_rows(it, 1), 30)
            assert info.value.code == "QUERY_FAILED" and "events.jsonl vanished" in info.value.message
            assert (await client.query("log")).num_rows == 2  # nothing else is affected

    asyncio.run(main())


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_subscriber_that_does_not_read_holds_the_connector_back(running: Deployment) -> None:
    connector = next(p for p in running.procs if p.name == "connector-acme")
    log = running.root / "data" / "log.csv"
    row = "1," + "9" * 20 + ".5," + "x" * 70 + "\n"  # about 100 bytes

    async def main() -> None:
        url = f"{running.ws_url}/stream/{running.session('acme')}"
        # A small receive queue: once it is full the client stops reading its socket.
        async with connect(url, compression=None, max_size=None, max_queue=2) as ws:
            await ws.send(json.dumps({"action": "subscribe", "id": "slow", "dataset": "log"}))
            while True:  # read up to the snapshot frame, then stop reading
                msg = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(msg, str) and json.loads(msg)["type"] == "snapshot":
                    break
            before = _rss_mib(connector.popen.pid)
            with log.open("a") as fh:
                for _ in range(20):
                    fh.write(row * 100_000)  # 200 MB in all
            await asyncio.sleep(5)  # time to read far ahead, were nothing holding it back
            grown = _rss_mib(connector.popen.pid) - before
            assert grown < 96, f"connector grew {grown:.0f} MiB while its subscriber read nothing"
            # Then the subscriber reads again and gets rows; unsubscribe ends it cleanly.
            got = 0
            while got < 50:  # frames of about 1 MiB
                msg = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(msg, bytes):
                    got += 1
            await ws.send(json.dumps({"action": "unsubscribe", "id": "slow"}))
            while True:
                msg = await asyncio.wait_for(ws.recv(), 60)
                if isinstance(msg, str):
                    assert json.loads(msg)["type"] == "end"
                    break

    asyncio.run(main())


def _oracle(rows: list[tuple[int, float, str]], width: float) -> dict[tuple[str, float], dict[str, object]]:
    """The live aggregate computed again from every row: by nivel and bucket of id."""
    out: dict[tuple[str, float], dict[str, object]] = {}
    for id_, valor, nivel in rows:
        key = (nivel, math.floor(id_ / width) * width)
        cell = out.setdefault(key, {"count": 0, "sum_valor": 0.0, "max_valor": None, "last": None, "t": None})
        cell["count"] += 1  # type: ignore[operator]
        cell["sum_valor"] += valor  # type: ignore[operator]
        cell["max_valor"] = valor if cell["max_valor"] is None else max(cell["max_valor"], valor)  # type: ignore[call-overload]
        if cell["t"] is None or id_ > cell["t"]:  # type: ignore[operator]
            cell["last"], cell["t"] = valor, id_
    return {k: {n: v for n, v in c.items() if n != "t"} for k, c in out.items()}


def test_a_live_aggregate_replaces_the_buckets_new_rows_change(running: Deployment) -> None:
    """The snapshot's aggregate, then after each append only the rows of the (group,
    bucket) keys the new rows touched, each with its whole new value; applied by key, the
    client's table equals the aggregate of every row."""
    log = running.root / "data" / "log.csv"
    rows = [(1, 1.5, "info"), (2, 2.5, "error")]
    spec = {
        "group_by": ["nivel"],
        "bucket": {"column": "id", "width": 10},
        "measures": [
            {"op": "count"},
            {"op": "sum", "column": "valor"},
            {"op": "max", "column": "valor"},
            {"op": "last", "column": "valor", "as": "last"},
        ],
    }

    async def main() -> None:
        async with await AsyncClient.connect(running.ws_url, running.session("acme")) as client:
            snapshots: list[int] = []
            it = client.subscribe("log", aggregate=spec, on_snapshot=snapshots.append, query_id="agg")
            held: dict[tuple[str, float], dict[str, object]] = {}

            async def take(want: int) -> list[dict[str, object]]:
                got = await _next_rows(it, want)
                for r in got:
                    held[(r.pop("nivel"), r.pop("id"))] = r  # type: ignore[arg-type]
                return got

            assert len(await take(2)) == 2 and held == _oracle(rows, 10)
            new = [(3, 3.5, "info"), (4, 0.5, "info"), (15, 9.0, "error")]
            append(log, "".join(f"{i},{v},{n}\n" for i, v, n in new))
            rows.extend(new)
            changed = await take(2)  # info in [0, 10) changed, error in [10, 20) is new
            assert len(changed) == 2 and held == _oracle(rows, 10)
            more = [(12, 7.0, "error")]
            append(log, "12,7.0,error\n")
            rows.extend(more)
            assert len(await take(1)) == 1 and held == _oracle(rows, 10)
            assert snapshots == [2]
            await client.unsubscribe("agg")
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(it), 30)
            with pytest.raises(ServerError) as err:
                bad = {"bucket": {"column": "id", "count": 10}, "measures": [{"op": "count"}]}
                await anext(client.subscribe("log", aggregate=bad))
            assert err.value.code == "BAD_REQUEST" and "aggregate.bucket.count" in str(err.value)

    asyncio.run(main())
