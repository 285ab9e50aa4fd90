"""A tenant's data calls in flight, shared fairly among its sessions.

Each partition a query fetches holds one slot while its data call is open. A session holds
at most ``per_owner`` slots and the tenant at most ``total``: one session (however many
sockets and queries it opens, however slowly it reads) can never take its connector's
calls from the others, and the tenant never fills the HTTP/2 connection its data calls
share. When slots free up they go round-robin to the sessions that wait, not first come
first served: a session that queued a hundred partitions waits behind one that queued a
single one. Sans-I/O: waiters are opaque tokens, and the shell wakes the ones granted."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

Owner = TypeVar("Owner", bound=Hashable)  # a session
Waiter = TypeVar("Waiter", bound=Hashable)  # one partition's request for a slot


class FairSlots(Generic[Owner, Waiter]):
    def __init__(self, total: int, per_owner: int) -> None:
        if total < 1 or per_owner < 1:
            raise ValueError("slot counts must be at least 1")
        self.total, self.per_owner = total, per_owner
        self._held: dict[Owner, int] = {}
        self._waiting: OrderedDict[Owner, deque[Waiter]] = OrderedDict()  # rotation order
        self._in_use = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    def held(self, owner: Owner) -> int:
        return self._held.get(owner, 0)

    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def _may_take(self, owner: Owner) -> bool:
        return self._in_use < self.total and self.held(owner) < self.per_owner

    def _take(self, owner: Owner) -> None:
        self._in_use += 1
        self._held[owner] = self.held(owner) + 1

    def request(self, owner: Owner, waiter: Waiter) -> bool:
        """True: ``owner`` holds one more slot now. False: ``waiter`` is queued, and is
        among what ``release`` returns once it is granted."""
        if owner not in self._waiting and self._may_take(owner):
            self._take(owner)
            return True
        self._waiting.setdefault(owner, deque()).append(waiter)
        return False

    def cancel(self, owner: Owner, waiter: Waiter) -> bool:
        """Takes a queued ``waiter`` back; False when it is not queued (granted already,
        and so holding a slot the caller must release)."""
        queue = self._waiting.get(owner)
        if queue is None or waiter not in queue:
            return False
        queue.remove(waiter)
        if not queue:
            del self._waiting[owner]
        return True

    def release(self, owner: Owner) -> list[Waiter]:
        """``owner`` gives a slot back; returns the waiters granted a slot by it, in turn."""
        left = self.held(owner) - 1
        if left < 0:
            raise ValueError("release without a slot held")
        if left:
            self._held[owner] = left
        else:
            del self._held[owner]
        self._in_use -= 1
        return self._grant()

    def _grant(self) -> list[Waiter]:
        """Round-robin over waiting owners: each turn grants the first waiter of the first
        owner in rotation that may take a slot, then moves that owner to the back."""
        granted: list[Waiter] = []
        while self._in_use < self.total:
            owner = next((o for o in self._waiting if self.held(o) < self.per_owner), None)
            if owner is None:
                break
            queue = self._waiting[owner]
            granted.append(queue.popleft())
            self._take(owner)
            del self._waiting[owner]
            if queue:
                self._waiting[owner] = queue  # to the back of the rotation
        return granted
