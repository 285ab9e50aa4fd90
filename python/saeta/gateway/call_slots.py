"""The asyncio shell of core/fair_slots.py: one FairSlots per tenant, a partition waits
for its slot on a future, and gives it back however it ends (done, failed, cancelled,
even cancelled the moment it was granted)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from saeta.core.fair_slots import FairSlots


class CallSlots:
    def __init__(self, per_tenant: int, per_session: int) -> None:
        self.per_tenant, self.per_session = per_tenant, per_session
        self._tenants: dict[str, FairSlots[str, asyncio.Future[None]]] = {}

    def of(self, tenant: str) -> FairSlots[str, asyncio.Future[None]]:
        slots = self._tenants.get(tenant)
        if slots is None:
            slots = self._tenants[tenant] = FairSlots(self.per_tenant, self.per_session)
        return slots

    @contextlib.asynccontextmanager
    async def hold(self, tenant: str, session: str) -> AsyncIterator[None]:
        """Holds one of ``tenant``'s call slots for ``session`` for the block's length,
        waiting for one first if need be (its turn comes round-robin among sessions)."""
        slots = self.of(tenant)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not slots.request(session, waiter):
            try:
                await waiter
            except asyncio.CancelledError:
                if slots.cancel(session, waiter):
                    raise
                # Granted as we were cancelled: the slot is ours to give back.
                self._release(tenant, session)
                raise
        try:
            yield
        finally:
            self._release(tenant, session)

    def try_take(self, tenant: str, session: str) -> bool:
        """One of ``tenant``'s slots for ``session`` if one is free now, without waiting
        (False: none taken); given back with ``give_back``."""
        slots = self.of(tenant)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if slots.request(session, waiter):
            return True
        slots.cancel(session, waiter)
        if slots.in_use == 0 and slots.waiting() == 0:
            del self._tenants[tenant]
        return False

    def give_back(self, tenant: str, session: str) -> None:
        """A slot ``try_take`` took."""
        self._release(tenant, session)

    def _release(self, tenant: str, session: str) -> None:
        slots = self._tenants[tenant]
        for granted in slots.release(session):
            if not granted.done():
                granted.set_result(None)
        if slots.in_use == 0 and slots.waiting() == 0:
            del self._tenants[tenant]
