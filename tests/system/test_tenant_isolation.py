"""One user cannot stall their tenant or take the gateway's memory: the attack that did
(one session, four sockets, sixteen queries each on a 16-partition dataset, nothing read)
now holds at most the session's share of the connector's data calls, bounded memory, and
another user of the same tenant gets a whole answer beside it. benchmarks/one_user.py
measures the same attack with and without the limits."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from benchmarks.one_user import MiB, attack, other_user, start
from benchmarks.procstat import rss_bytes, settled_rss
from tests.system.harness import BIG_FILE_ROWS, Deployment, big_dataset

pytestmark = pytest.mark.system
PARTITIONS_PER_SESSION = 16  # the gateway's default limits.max_partitions_per_session
# Measured (benchmarks/stuck_sessions.py, 4 MiB HTTP/2 windows): about 8 MiB per stuck data
# call in the gateway and 15 in the connector; with the 16 MiB windows of issue 19 this test
# measured +259 MiB for 16 calls. Without the limits this attack held 256 calls (2.5 and 4.8 GB).
PER_CALL_MIB = {"gateway": 24, "connector": 48}
CONSTANT_MIB = {"gateway": 64, "connector": 96}


def test_one_session_cannot_stall_its_tenant_or_take_the_memory(deployment: Deployment) -> None:
    gateway, connector = start(deployment)
    pids = {"gateway": gateway.popen.pid, "connector": connector.popen.pid}
    attacker = f"{deployment.ws_url}/stream/{deployment.session('acme', user='attacker')}"
    victim = f"{deployment.ws_url}/stream/{deployment.session('acme', user='victim')}"

    async def main() -> tuple[dict[str, float], int, float]:
        await other_user(victim)  # warm-up
        base = {n: rss_bytes(p) for n, p in pids.items()}
        async with AsyncExitStack() as stack:
            assert await attack(stack, attacker, sockets=4, queries=16) == 4
            held = await settled_rss(pids)
            rows, seconds = await other_user(victim)
        return {n: (held[n] - base[n]) / MiB for n in pids}, rows, seconds

    grown, rows, seconds = asyncio.run(main())
    print(
        f"\none session, 4 sockets x 16 queries read nothing: gateway +{grown['gateway']:.0f} MiB, connector "
        f"+{grown['connector']:.0f} MiB; another user read {rows:,} rows in {seconds:.2f} s beside it"
    )
    assert rows == BIG_FILE_ROWS  # whole, not TIMEOUT
    for name in pids:
        bound = PARTITIONS_PER_SESSION * PER_CALL_MIB[name] + CONSTANT_MIB[name]
        assert grown[name] < bound, f"{name} grew {grown[name]:.0f} MiB (bound {bound})"


async def _text(ws: Any) -> dict[str, Any]:
    """The socket's next text frame (binary ones, other queries' data, are skipped)."""
    while isinstance(frame := await asyncio.wait_for(ws.recv(), 30), bytes):
        pass
    message: dict[str, Any] = json.loads(frame)
    return message


def test_a_session_past_its_sockets_and_queries_is_refused_with_codes(deployment: Deployment) -> None:
    """Over all its sockets, one session gets at most limits.max_sockets_per_session sockets
    (the next is closed with 4029) and max_queries_per_session queries (TOO_MANY_QUERIES);
    another session of the same user is not held back by it."""
    deployment.start_control_plane()
    deployment.start_gateway(limits={"max_sockets_per_session": 3, "max_queries_per_session": 4})
    deployment.start_connector("acme", {"big": big_dataset(deployment.root)})
    url = f"{deployment.ws_url}/stream/{deployment.session('acme')}"
    other = f"{deployment.ws_url}/stream/{deployment.session('acme')}"

    async def main() -> tuple[int | None, list[str], str]:
        async with AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(connect(url, compression=None, max_size=None, close_timeout=1))
                for _ in range(3)
            ]
            async with connect(url, compression=None) as fourth:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(fourth.recv(), 30)
                refused_with = fourth.close_code
            # Two queries on each of two sockets: the session's four; a fifth on the third.
            for s, ws in enumerate(sockets[:2]):
                for q in range(2):
                    await ws.send(json.dumps({"action": "query", "id": f"s{s}q{q}", "dataset": "big"}))
                    assert (await _text(ws))["id"] == f"s{s}q{q}"  # its info frame
            await sockets[2].send(json.dumps({"action": "query", "id": "fifth", "dataset": "big"}))
            codes = [(await _text(sockets[2])).get("code", "?")]
            async with connect(other, compression=None) as ws:
                await ws.send(json.dumps({"action": "query", "id": "o", "dataset": "big", "limit": 5}))
                while (
                    isinstance(frame := await asyncio.wait_for(ws.recv(), 30), bytes)
                    or json.loads(frame)["type"] == "info"
                ):
                    pass
                other_end = json.loads(frame)["type"]
        return refused_with, codes, other_end

    refused_with, codes, other_end = asyncio.run(main())
    assert refused_with == 4029
    assert codes == ["TOO_MANY_QUERIES"]
    assert other_end == "end"


def test_one_session_cannot_take_the_tenants_subscriptions(deployment: Deployment) -> None:
    """The connector follows a bounded number of subscriptions for its whole tenant; one
    session gets at most limits.max_subscriptions_per_session of them over all its sockets
    (TOO_MANY_QUERIES past it), so another session still follows, and an unsubscribe frees one."""
    data = deployment.root / "data"
    data.mkdir()
    (data / "log.csv").write_text("id,valor\n1,1.5\n2,2.5\n")
    deployment.start_control_plane()
    deployment.start_gateway(limits={"max_subscriptions_per_session": 2})
    # The connector follows 3 for the tenant: without the session's cap, the greedy session
    # would take them all and the other would be refused QUERY_FAILED.
    live = {"log": {"type": "csv", "path": "data/log.csv", "live": {"poll_seconds": 0.2}}}
    deployment.start_connector("acme", live, max_subscriptions=3)
    url = f"{deployment.ws_url}/stream/{deployment.session('acme', user='greedy')}"
    other = f"{deployment.ws_url}/stream/{deployment.session('acme', user='other')}"

    async def answer(ws: Any, qid: str) -> str:
        """The first text frame about ``qid`` after its info frame: snapshot, or error."""
        while True:
            frame = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(frame, str) and (msg := json.loads(frame))["id"] == qid and msg["type"] != "info":
                return str(msg.get("code", msg["type"]))

    async def subscribe(ws: Any, qid: str) -> str:
        await ws.send(json.dumps({"action": "subscribe", "id": qid, "dataset": "log"}))
        return await answer(ws, qid)

    async def main() -> list[str]:
        async with AsyncExitStack() as stack:
            a, b = [await stack.enter_async_context(connect(url, compression=None)) for _ in range(2)]
            seen = [await subscribe(a, "s1"), await subscribe(b, "s2"), await subscribe(a, "s3")]
            async with connect(other, compression=None) as ws:
                seen.append(await subscribe(ws, "o1"))
            await a.send(json.dumps({"action": "unsubscribe", "id": "s1"}))
            assert await answer(a, "s1") == "end"
            seen.append(await subscribe(b, "s4"))
        return seen

    assert asyncio.run(main()) == ["snapshot", "snapshot", "TOO_MANY_QUERIES", "snapshot", "snapshot"]
