"""Resumable subscriptions with real processes (docs/protocol.md, "Resuming"): the Python
client's connection reset twice in the middle of a snapshot larger than every buffer on
the path, and once after it while rows are appended, carries on each time from its last
checkpoint: every row once, none twice, the snapshot announced once; a subscription's
token does not resume a query, nor a query's a subscription."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from saeta.client import AsyncClient
from websockets.asyncio.client import connect

from tests.system.harness import Deployment
from tests.system.tcp_proxy import TcpProxy

pytestmark = pytest.mark.system

# About 60 MB of CSV, 50 MB of Arrow: more than the tunnel's windows and queues, the
# socket buffers and the proxy's put together, so the first resets fall inside the snapshot.
SNAPSHOT_ROWS = 1_000_000
NOTE = "x" * 32
APPENDED = 500


def write_rows(path: Path, first: int, count: int, header: bool = False) -> None:
    with path.open("a") as fh:
        if header:
            fh.write("id,valor,nota\n")
        fh.writelines(f"{i},{i % 1000}.5,{NOTE}\n" for i in range(first, first + count))


@pytest.fixture
def running(deployment: Deployment) -> Deployment:
    data = deployment.root / "data"
    data.mkdir()
    write_rows(data / "log.csv", 0, SNAPSHOT_ROWS, header=True)
    deployment.start_control_plane()
    deployment.start_gateway()
    deployment.start_connector("acme", {"log": {"type": "csv", "path": "data/log*.csv", "live": {"poll_seconds": 0.1}}})
    return deployment


def test_a_subscription_resumes_across_resets_with_no_row_lost_or_repeated(running: Deployment) -> None:
    proxy = TcpProxy(("127.0.0.1", running.http_port)).start()
    log = running.root / "data" / "log.csv"
    try:

        async def main() -> None:
            url = f"ws://127.0.0.1:{proxy.port}"
            async with await AsyncClient.connect(url, running.session("acme"), resume=True) as client:
                counts: dict[int, int] = {}
                snapshots: list[int] = []
                resets = 0

                def on_snapshot(rows: int) -> None:
                    nonlocal resets
                    snapshots.append(rows)
                    proxy.reset()  # after the snapshot: rows are appended while the client reconnects
                    resets += 1
                    write_rows(log, SNAPSHOT_ROWS, APPENDED)
                    (running.root / "data" / "log-2.csv").write_text("id,valor,nota\n")
                    write_rows(running.root / "data" / "log-2.csv", 2 * SNAPSHOT_ROWS, APPENDED)

                it = client.subscribe("log", on_snapshot=on_snapshot)
                while len(counts) < SNAPSHOT_ROWS + 2 * APPENDED:
                    batch = await asyncio.wait_for(anext(it), 60)
                    for value in batch.column("id").to_pylist():
                        counts[value] = counts.get(value, 0) + 1
                    if resets < 2 and len(counts) >= (resets + 1) * SNAPSHOT_ROWS // 3:
                        proxy.reset()  # mid-snapshot
                        resets += 1
                await it.aclose()
                assert resets == 3 and client.resumes >= 3
                assert snapshots == [SNAPSHOT_ROWS]
                assert set(counts.values()) == {1}
                expected = {*range(SNAPSHOT_ROWS + APPENDED), *range(2 * SNAPSHOT_ROWS, 2 * SNAPSHOT_ROWS + APPENDED)}
                assert set(counts) == expected

        asyncio.run(main())
    finally:
        proxy.stop()
    assert proxy.accepted >= 4


def test_tokens_resume_only_their_own_kind_of_stream(running: Deployment) -> None:
    session = running.session("acme")

    async def first_token(action: str) -> tuple[str, int]:
        async with connect(f"{running.ws_url}/stream/{session}", max_size=None) as ws:
            await ws.send(json.dumps({"action": action, "id": "x", "dataset": "log", "resumable": True}))
            while True:
                message = await asyncio.wait_for(ws.recv(), 30)
                if isinstance(message, str) and json.loads(message)["type"] == "checkpoint":
                    frame = json.loads(message)
                    assert frame["token"], frame
                    return str(frame["token"]), int(frame["rows"])

    async def answer(action: str, token: tuple[str, int]) -> dict[str, object]:
        async with connect(f"{running.ws_url}/stream/{session}", max_size=None) as ws:
            resume = {"token": token[0], "rows": token[1]}
            await ws.send(
                json.dumps({"action": action, "id": "x", "dataset": "log", "resumable": True, "resume": resume})
            )
            while True:
                message = await asyncio.wait_for(ws.recv(), 30)
                assert isinstance(message, str), "no data before the refusal"
                frame = json.loads(message)
                if frame["type"] == "error":
                    return dict(frame)

    async def main() -> None:
        for mine, other in (("subscribe", "query"), ("query", "subscribe")):
            frame = await answer(other, await first_token(mine))
            assert frame["code"] == "RESUME_REFUSED" and "another query" in str(frame["message"]), frame

    asyncio.run(main())
