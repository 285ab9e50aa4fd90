"""A whole scenario with every process logging JSON lines at DEBUG: queries, a filter, a
bad request, a subscription, a revocation, a forged session. Afterwards no session id
appears in any log (only its fingerprint), every line of every log is one JSON object,
and each refusal is one line with its code and the tenant."""

from __future__ import annotations

import asyncio
import json

import pytest
from saeta.client import AsyncClient, ServerError, SocketClosed
from saeta.core.session_token import fingerprint

from tests.system.harness import Deployment, wait_for

pytestmark = pytest.mark.system
JSON_LOGS = {"logging": {"format": "json", "level": "DEBUG"}}


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

    async def main() -> None:
        async with await AsyncClient.connect(deployment.ws_url, sessions[0]) as client:
            assert (await client.query("t")).num_rows == 1000
            assert (await client.query("t", filter=[["id", "<", 10]])).num_rows == 10
            with pytest.raises(ServerError):
                await client.query("t", filter=[["nope", "=", 1]])
            with pytest.raises(ServerError):
                await client.query("missing")
            it = client.subscribe("t", query_id="live")
            await asyncio.wait_for(anext(it), 30)
            await client.unsubscribe("live")
            await it.aclose()
        async with await AsyncClient.connect(deployment.ws_url, sessions[1]) as client:
            deployment.revoke(sessions[1])
            closed = await asyncio.wait_for(client.wait_closed(), 30)
            assert closed.close_code == 4003
        forged = sessions[2][:-4] + ("AAAA" if not sessions[2].endswith("AAAA") else "BBBB")
        with pytest.raises(SocketClosed):
            async with await AsyncClient.connect(deployment.ws_url, forged) as client:
                await client.list()

    asyncio.run(main())
    wait_for(lambda: "code=SESSION_REVOKED" in gateway.text() or "revoked" in gateway.text(), 30, "the revocation")
    for proc in deployment.procs:
        proc.stop()
    logs = {p.name: p.text() for p in deployment.procs}
    for name, text in logs.items():
        for secret in sessions:
            assert secret not in text, f"a session id in the {name} log"
            assert secret.split(".")[-1] not in text, f"a session signature in the {name} log"
        for line in text.splitlines():
            entry = json.loads(line)  # every line is one JSON object
            assert {"ts", "level", "logger", "msg"} <= entry.keys(), line
    refusals = [json.loads(line)["msg"] for line in logs["gateway"].splitlines() if "code=" in line]
    assert any("code=BAD_REQUEST" in m and "tenant=acme" in m for m in refusals), refusals
    assert any("code=DATASET_NOT_FOUND" in m and "tenant=acme" in m for m in refusals), refusals
    # Sessions appear as fingerprints, which let an operator follow one without its id.
    assert fingerprint(sessions[0]) in logs["gateway"]
