"""Direct data's bookkeeping on the asking replica (gateway/peer_direct.py): the call it
expects is the tenant's alone, and a holder whose connector could not send direct is
relayed through for a while without asking again."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from saeta.core.call_table import Refused
from saeta.core.presence import Holder
from saeta.errors import QueryFailed
from saeta.gateway.data_calls import DataCalls
from saeta.gateway.peer_direct import DirectCall, RelayMemory
from saeta.v1 import peer_pb2 as peer
from saeta.v1 import tunnel_pb2 as pb


def test_the_expected_call_is_claimed_only_by_the_tenants_certificate() -> None:
    async def main() -> None:
        calls = DataCalls()
        peers = SimpleNamespace(data_address="127.0.0.1:9101", relay_memory=RelayMemory())
        holder = Holder("b", "127.0.0.1:50051")
        fetch = peer.PeerFetch(tenant_id="acme", do_get=pb.DoGetRequest(ticket="t", call_id="theirs"))
        call = DirectCall(peers, holder, fetch, calls, None, relayed=None)  # type: ignore[arg-type]
        # The holder is asked for this replica's call id and data address, the rest as given.
        assert call.fetch.data_address == "127.0.0.1:9101"
        assert call.fetch.do_get.call_id == call.pending.call_id != "theirs"
        assert call.fetch.do_get.ticket == "t" and fetch.data_address == ""
        # Another tenant's DoGet with the id is refused, and fails the query it aimed at.
        assert isinstance(calls.claim(call.pending.call_id, "other"), Refused)
        assert isinstance(call.pending.arrived.exception(), QueryFailed)
        second = DirectCall(peers, holder, fetch, calls, None, relayed=None)  # type: ignore[arg-type]
        assert calls.claim(second.pending.call_id, "acme") is second.pending

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
