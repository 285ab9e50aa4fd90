"""A whole scenario with every process logging JSON lines at DEBUG: queries, a filter, a
bad request, a subscription, a revocation, a forged session. Afterwards no session id
appears in any log (only its fingerprint) nor in any frame or close reason the clients
received, every line of every log is one JSON object, and each refusal is one line with
its code and the tenant."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from saeta.client import AsyncClient, ServerError, SocketClosed
from saeta.core.session_token import fingerprint
from websockets.asyncio.client import connect

from tests.system.harness import Deployment, wait_for

pytestmark = pytest.mark.system
JSON_LOGS = {"logging": {"format": "json", "level": "DEBUG"}}

# Each makes the gateway or the connector answer with an error frame.
BAD_REQUESTS: list[Any] = [
    "{not json",
    {"action": "drop", "id": "a"},
    {"action": "query", "id": "b", "dataset": "t", "limit": -1},
    {"action": "query", "id": "c", "dataset": "t", "filter": [["nope", "=", 1]]},
    {"action": "query", "id": "d", "dataset": "t", "filter": [["id", "like", 1]]},
    {"action": "query", "id": "e", "dataset": "secret/../t"},
    {"action": "query", "id": "f", "dataset": "t", "columns": ["id", "hidden"]},
    {"action": "subscribe", "id": "g", "dataset": "missing"},
]


async def _error_frames(url: str) -> list[str]:
    """Sends each bad request on a raw socket and returns every text frame received."""
    frames: list[str] = []
    async with connect(url, compression=None) as ws:
        for request in BAD_REQUESTS:
            await ws.send(request if isinstance(request, str) else json.dumps(request))
            frame = await asyncio.wait_for(ws.recv(), 30)
            assert isinstance(frame, str) and json.loads(frame)["type"] == "error", frame
            frames.append(frame)
    return frames


def test_a_whole_scenario_logs_json_and_never_a_session_id(deployment: Deployment) -> None:
    data = deployment.root / "data"
    data.mkdir()
    (data / "t.csv").write_text("id,v\n" + "".join(f"{i},{i / 2}\n" for i in range(1000)))
    deployment.start_control_plane(**JSON_LOGS)
    gateway = deployment.start_gateway(**JSON_LOGS)
    deployment.start_connector(
        "acme", {"t": {"type": "csv", "path": "data/t.csv", "live": {"poll_seconds": 0.1}}}, log=JSON_LOGS["logging"]
    )
    sessions = [deployment.session("acme") for _ in range(3)]

    received: list[str] = []  # every error frame and close reason the clients got

    async def main() -> None:
        received.extend(await _error_frames(f"{deployment.ws_url}/stream/{sessions[0]}"))
        async with await AsyncClient.connect(deployment.ws_url, sessions[0]) as client:
            assert (await client.query("t")).num_rows == 1000
            assert (await client.query("t", filter=[["id", "<", 10]])).num_rows == 10
            for bad in ({"dataset": "t", "filter": [["nope", "=", 1]]}, {"dataset": "missing"}):
                with pytest.raises(ServerError) as refused:
                    await client.query(**bad)
                received.append(str(refused.value))
            it = client.subscribe("t", query_id="live")
            await asyncio.wait_for(anext(it), 30)
            await client.unsubscribe("live")
            await it.aclose()
        async with await AsyncClient.connect(deployment.ws_url, sessions[1]) as client:
            deployment.revoke(sessions[1])
            closed = await asyncio.wait_for(client.wait_closed(), 30)
            assert closed.close_code == 4003
            received.append(str(closed))
        forged = sessions[2][:-4] + ("AAAA" if not sessions[2].endswith("AAAA") else "BBBB")
        for refused_id in (forged, sessions[1]):  # a forged one, and the revoked one again
            with pytest.raises(SocketClosed) as closed_at_once:
                async with await AsyncClient.connect(deployment.ws_url, refused_id) as client:
                    await client.list()
            received.append(str(closed_at_once.value))

    asyncio.run(main())
    wait_for(lambda: "code=SESSION_REVOKED" in gateway.text() or "revoked" in gateway.text(), 30, "the revocation")
    for proc in deployment.procs:
        proc.stop()
    logs = {p.name: p.text() for p in deployment.procs}
    assert len(received) == len(BAD_REQUESTS) + 5, received
    for name, text in {**logs, "clients": "\n".join(received)}.items():
        for secret in sessions:
            assert secret not in text, f"a session id in what the {name} wrote or received"
            assert secret.split(".")[-1] not in text, f"a session signature in what the {name} wrote or received"
    for text in logs.values():
        for line in text.splitlines():
            entry = json.loads(line)  # every line is one JSON object
            assert {"ts", "level", "logger", "msg"} <= entry.keys(), line
    refusals = [json.loads(line)["msg"] for line in logs["gateway"].splitlines() if "code=" in line]
    assert any("code=BAD_REQUEST" in m and "tenant=acme" in m for m in refusals), refusals
    assert any("code=DATASET_NOT_FOUND" in m and "tenant=acme" in m for m in refusals), refusals
    # The context is in fields too, not only inside msg: a log pipeline filters on them.
    entries = [json.loads(line) for line in logs["gateway"].splitlines()]
    coded = [(e.get("code"), e.get("tenant")) for e in entries]
    assert ("BAD_REQUEST", "acme") in coded and ("DATASET_NOT_FOUND", "acme") in coded, coded
    assert any(e.get("session") == fingerprint(sessions[0]) for e in entries)
    # Sessions appear as fingerprints, which let an operator follow one without its id.
    assert fingerprint(sessions[0]) in logs["gateway"]
