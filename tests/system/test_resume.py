"""Resumable queries with real processes (docs/protocol.md, "Resuming"): a stream cut
after some checkpoints carries on, on a new socket, from the last committed one, and the
rows before and after are the query's rows exactly (no row lost, none repeated); forged,
tampered and other sessions' tokens are refused with RESUME_REFUSED and no data; the
Python client reconnects and resumes by itself when its connection is reset."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta.client import AsyncClient
from saeta.demo_data import ventas
from websockets.asyncio.client import ClientConnection, connect

from tests.system.harness import BIG_ROWS, Deployment, big_dataset
from tests.system.tcp_proxy import TcpProxy

pytestmark = pytest.mark.system

ROWS = 200_000


@pytest.fixture
def running(deployment: Deployment) -> Deployment:
    data = deployment.root / "data"
    data.mkdir()
    pq.write_table(ventas(ROWS, seed=9), data / "ventas.parquet", row_group_size=8192)
    deployment.start_control_plane()
    deployment.start_gateway()
    deployment.start_connector(
        "acme",
        {"ventas": {"type": "parquet", "path": ["data/ventas.parquet"] * 4}, "big": big_dataset(deployment.root)},
    )
    return deployment


QUERY = {"action": "query", "id": "q1", "dataset": "ventas", "ordered": True, "resumable": True}


async def _read_until(ws: ClientConnection, committed_wanted: int) -> tuple[list[bytes], tuple[int, str], int]:
    """Reads a resumable query's frames until ``committed_wanted`` checkpoints have had
    all their frames; the stream's payloads up to there, the last committed (rows,
    token), and the data frames read."""
    payloads: list[bytes] = []
    pending: list[list[Any]] = []
    committed: tuple[int, str] | None = None
    commits = 0
    while commits < committed_wanted:
        message = await asyncio.wait_for(ws.recv(), 30)
        if isinstance(message, str):
            frame = json.loads(message)
            assert frame["type"] in ("info", "checkpoint"), frame
            if frame["type"] == "checkpoint":
                pending.append([frame["frames"], frame["rows"], frame["token"]])
            continue
        payloads.append(message[8:])
        if pending:
            pending[0][0] -= 1
            if pending[0][0] == 0:
                _, rows, token = pending.pop(0)
                committed = (rows, token)
                commits += 1
    assert committed is not None
    return payloads, committed, len(payloads)


async def _rest(ws: ClientConnection) -> tuple[list[bytes], dict[str, Any], dict[str, Any]]:
    """The payloads of a resumed stream, its info frame and its end frame."""
    payloads: list[bytes] = []
    info: dict[str, Any] = {}
    while True:
        message = await asyncio.wait_for(ws.recv(), 30)
        if isinstance(message, bytes):
            payloads.append(message[8:])
            continue
        frame = json.loads(message)
        if frame["type"] == "info":
            info = frame
        elif frame["type"] == "end":
            return payloads, info, frame
        elif frame["type"] == "error":
            raise AssertionError(frame)


def _table(payloads: list[bytes]) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(b"".join(payloads))).read_all()


def test_a_cut_stream_resumes_from_its_last_checkpoint_with_no_row_lost_or_repeated(running: Deployment) -> None:
    session = running.session("acme")
    url = f"{running.ws_url}/stream/{session}"
    expected = pa.concat_tables([pq.read_table(running.root / "data" / "ventas.parquet")] * 4)

    async def main() -> None:
        async with connect(url, compression=None, max_size=2**24) as ws:
            await ws.send(json.dumps(QUERY))
            before, (rows, token), _frames = await _read_until(ws, 3)
        # The first socket is gone mid-query (beyond its checkpoints the gateway had sent more).
        assert 0 < rows < 4 * ROWS
        head = _table([*before, b"\xff\xff\xff\xff\x00\x00\x00\x00"])
        assert head.num_rows == rows
        async with connect(url, compression=None, max_size=2**24) as ws:
            await ws.send(json.dumps({**QUERY, "resume": {"token": token, "rows": rows}}))
            after, info, end = await _rest(ws)
        assert info["resumable"] is True and info["resumed_rows"] == rows
        tail = _table(after)
        assert head.schema.equals(tail.schema)
        assert end["rows"] == 4 * ROWS
        assert pa.concat_tables([head, tail]).equals(expected)

    asyncio.run(main())


def test_forged_tampered_and_other_sessions_tokens_are_refused_with_no_data(running: Deployment) -> None:
    first, second = running.session("acme", "u1"), running.session("acme", "u2")

    async def main() -> None:
        async with connect(f"{running.ws_url}/stream/{first}", compression=None, max_size=2**24) as ws:
            await ws.send(json.dumps(QUERY))
            _, (rows, token), _ = await _read_until(ws, 1)
        body, mac = token.split(".")
        attempts = {
            "another session's": (second, token, rows),
            "tampered": (first, body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac, rows),
            "forged": (first, "eyJ2IjoxfQ." + mac, rows),
            "another row count": (first, token, rows + 1),
        }
        for what, (session, text, claimed) in attempts.items():
            async with connect(f"{running.ws_url}/stream/{session}", compression=None) as ws:
                await ws.send(json.dumps({**QUERY, "resume": {"token": text, "rows": claimed}}))
                answer = await asyncio.wait_for(ws.recv(), 30)
                assert isinstance(answer, str), f"{what}: data before the refusal"
                frame = json.loads(answer)
                assert (frame["type"], frame["code"], frame["id"]) == ("error", "RESUME_REFUSED", "q1"), what
                # Nothing else follows for that query: a list is answered next.
                await ws.send(json.dumps({"action": "list"}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "datasets", what

    asyncio.run(main())
    assert running.procs[1].text().count("code=RESUME_REFUSED") == 4


def test_the_python_client_reconnects_and_resumes_when_its_connection_is_reset(running: Deployment) -> None:
    proxy = TcpProxy(("127.0.0.1", running.http_port)).start()
    expected_ids = pq.read_table(running.root / "data" / "big.parquet", columns=["id"]).column("id")
    try:

        async def main() -> None:
            url = f"ws://127.0.0.1:{proxy.port}"
            async with await AsyncClient.connect(url, running.session("acme"), resume=True) as client:
                rows = 0
                counts: dict[int, int] = {}
                resets = 0
                async for batch in client.stream("big", ["id"]):
                    rows += batch.num_rows
                    for value in batch.column("id").to_pylist():
                        counts[value] = counts.get(value, 0) + 1
                    if resets < 2 and rows >= (resets + 1) * BIG_ROWS // 4:
                        proxy.reset()  # the connection drops mid-query
                        resets += 1
                assert resets == 2
                assert rows == BIG_ROWS
                # Every row of every partition once: 16 copies of the file, each id 16 times.
                assert len(counts) == len(expected_ids)
                assert set(counts.values()) == {16}

        asyncio.run(main())
    finally:
        proxy.stop()
    assert proxy.accepted >= 3
