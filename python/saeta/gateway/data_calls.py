"""DoGet calls expected from connectors: the query side creates one (with a random call
id sent in DoGetRequest), the tunnel server hands the arriving call's message iterator
over, and the query side reads it and says when the call may end."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass(eq=False)
class PendingCall:
    call_id: str
    tenant: str
    arrived: asyncio.Future[AsyncIterator[bytes]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # Set by the query side: None = answer OK, a string = abort the call with CANCELLED.
    finished: asyncio.Future[str | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def finish(self, abort_reason: str | None = None) -> None:
        if not self.finished.done():
            self.finished.set_result(abort_reason)


class DataCalls:
    def __init__(self) -> None:
        self._pending: dict[str, PendingCall] = {}

    def expect(self, tenant: str) -> PendingCall:
        call = PendingCall(secrets.token_hex(16), tenant)
        self._pending[call.call_id] = call
        return call

    def claim(self, call_id: str) -> PendingCall | None:
        """The pending call for ``call_id``, removed so it can be claimed only once."""
        return self._pending.pop(call_id, None)

    def drop(self, call: PendingCall) -> None:
        self._pending.pop(call.call_id, None)
