"""Direct data's bookkeeping on the asking replica (gateway/peer_direct.py): the call it
expects is the tenant's alone, and a holder whose connector could not send direct is
relayed through for a while without asking again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from saeta import certs, relay
from saeta.config import load_gateway_config
from saeta.core.call_table import Refused
from saeta.core.presence import Holder
from saeta.errors import QueryFailed
from saeta.gateway.data_calls import DataCalls
from saeta.gateway.peer_direct import DirectCall, RelayMemory
from saeta.gateway.peer_link import PeerCall, PeerClients
from saeta.v1 import peer_pb2 as peer
from saeta.v1 import tunnel_pb2 as pb


def _peers(tmp_path: Path) -> PeerClients:
    """A replica's real peer clients (no channel is opened until a call is made)."""
    certs.init_ca(tmp_path / "certs")
    certs.issue_replica(tmp_path / "certs", "a")
    cfg_file = tmp_path / "gw.yaml"
    cfg_file.write_text(
        json.dumps(
            {
                "tableros_secret_key": "s" * 40,
                "control_plane_url": "http://cp",
                "redis_url": "redis://127.0.0.1:6379/0",
                "data_port": 50052,
                "replica": {
                    "id": "a",
                    "peer_address": "127.0.0.1:50051",
                    "cert": "certs/replicas/a/replica.crt",
                    "key": "certs/replicas/a/replica.key",
                    "data_address": "127.0.0.1:9101",
                },
            }
        )
    )
    cfg = load_gateway_config(cfg_file)
    assert cfg.replica is not None
    return PeerClients(cfg, cfg.replica, relay.load("python"))


def test_the_expected_call_is_claimed_only_by_the_tenants_certificate(tmp_path: Path) -> None:
    peers = _peers(tmp_path)

    async def main() -> None:
        calls = DataCalls()
        holder = Holder("b", "127.0.0.1:50051")
        fetch = peer.PeerFetch(tenant_id="acme", do_get=pb.DoGetRequest(ticket="t", call_id="theirs"))
        relayed = PeerCall(peers, holder, fetch, None)
        call = DirectCall(peers, holder, fetch, calls, None, relayed)
        # The holder is asked for this replica's call id and data address, the rest as given.
        assert call.fetch.data_address == "127.0.0.1:9101"
        assert call.fetch.do_get.call_id == call.pending.call_id != "theirs"
        assert call.fetch.do_get.ticket == "t" and fetch.data_address == ""
        # Another tenant's DoGet with the id is refused, and fails the query it aimed at.
        assert isinstance(calls.claim(call.pending.call_id, "other"), Refused)
        assert isinstance(call.pending.arrived.exception(), QueryFailed)
        second = DirectCall(peers, holder, fetch, calls, None, relayed)
        assert calls.claim(second.pending.call_id, "acme") is second.pending
        await peers.close()

    asyncio.run(main())


def test_a_holder_that_cannot_send_direct_is_relayed_through_for_a_while() -> None:
    now = [100.0]
    memory = RelayMemory(seconds=60, now=lambda: now[0])
    assert not memory.relayed("b:1", "acme")
    memory.remember("b:1", "acme")
    assert memory.relayed("b:1", "acme")
    assert not memory.relayed("b:1", "other") and not memory.relayed("c:1", "acme")
    now[0] += 59.9
    assert memory.relayed("b:1", "acme")
    now[0] += 0.2
    assert not memory.relayed("b:1", "acme")


def test_the_memory_is_bounded() -> None:
    memory = RelayMemory(seconds=60, now=lambda: 0.0)
    for n in range(25_000):
        memory.remember(f"h{n}", "acme")
    assert len(memory) <= 10_000
