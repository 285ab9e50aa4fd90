"""The plan's first data call, asked for with the plan (docs/tunnel.md, "The first data
call"): a fresh query's GetFlightInfoRequest carries the DoGetRequest of its first
partition, so the connector starts sending as soon as it has planned, one round trip of
the tunnel sooner than when the gateway asks once the FlightInfoResponse is in.

It is asked for only when a call slot of the tenant is free at once (it holds that slot
from then on, as the partition's call would), and given back unused when the connector
did not start it (one of before the field) or the query never reaches partition 0."""

from __future__ import annotations

from collections.abc import Sequence

from saeta.core.filters import Condition
from saeta.core.tunnel_codec import Abort
from saeta.gateway.call_relay import QueryContext, data_ask
from saeta.gateway.data_calls import LocalCall
from saeta.v1 import tunnel_pb2 as pb


class FirstCall:
    def __init__(self, ctx: QueryContext, call: LocalCall, slot: bool) -> None:
        self._ctx, self.call, self._slot = ctx, call, slot
        self._taken = self._closed = False

    @classmethod
    def asked(
        cls, ctx: QueryContext, request_id: str, limit: int | None, conditions: Sequence[Condition]
    ) -> FirstCall | None:
        """The first call to ask for with the plan; None when the link cannot (a peer
        link) or no call slot of the tenant is free now (the query does not wait for one
        before its plan)."""
        slots = ctx.slots
        if slots is not None and not slots.try_take(ctx.link.tenant, ctx.owner):
            return None
        call = ctx.link.first_call(ctx.calls, data_ask(ctx, request_id, "", limit, conditions, 0))
        if call is None:
            if slots is not None:
                slots.give_back(ctx.link.tenant, ctx.owner)
            return None
        return cls(ctx, call, slots is not None)

    def answered(self, info: pb.FlightInfoResponse) -> None:
        """The connector's plan is in: unless it started the call, the call is forgotten
        and its slot given back (partition 0 is then asked for as any other)."""
        if not (info.first_call_started and info.partitions):
            self.close()

    def take(self, index: int, skip: int) -> FirstCall | None:
        """Itself, once, for partition 0 read from its start, while it is still open."""
        if self._closed or self._taken or index != 0 or skip != 0:
            return None
        self._taken = True
        return self

    def close(self) -> None:
        """Forgets the call (unless relayed: relay_partition finishes it) and gives back
        its slot; again is a no-op."""
        if self._closed:
            return
        self._closed = True
        if not self._taken:
            self.call.finish(Abort("the query ended before its first partition"))
        if self._slot and self._ctx.slots is not None:
            self._ctx.slots.give_back(self._ctx.link.tenant, self._ctx.owner)
