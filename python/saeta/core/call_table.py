"""The data calls the gateway expects from connectors, and who may claim each.

A query asks a connector for a partition with a random call id; the connector's DoGet
comes back carrying it (metadata ``saeta-call-id``). The table says what such a DoGet gets:
the pending call, once; or a refusal with its gRPC status, the log code, and whether the
query it aimed at must be failed. Sans-I/O: values in, outcomes out; the shell
(gateway/data_calls.py) attaches the futures and logs.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# Calls whose query ended before the connector's DoGet arrived, remembered (oldest
# forgotten first) so that the late DoGet of a cancelled query is told so quietly rather
# than logged as an unknown call id, which is what a guessing connector sends.
ENDED_REMEMBERED = 4096


@dataclass(frozen=True, slots=True)
class Refused(Generic[T]):
    """A DoGet that serves no query: the gRPC status name and message it is ended with,
    the log code (None: the quiet, usual race of a cancel), and the pending call it
    aimed at when that query must now fail (another tenant's connector took its id)."""

    status: str
    message: str
    log_code: str | None
    log_text: str
    victim: T | None = None


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    tenant: str
    value: T


class CallTable(Generic[T]):
    def __init__(self) -> None:
        self._pending: dict[str, _Entry[T]] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()  # call id -> tenant

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16)

    def expect(self, call_id: str, tenant: str, value: T) -> None:
        self._pending[call_id] = _Entry(tenant, value)

    def drop(self, call_id: str) -> None:
        """Forgets ``call_id``; if its DoGet never came, remembers that it ended."""
        entry = self._pending.pop(call_id, None)
        if entry is not None:
            self._ended[call_id] = entry.tenant
            while len(self._ended) > ENDED_REMEMBERED:
                self._ended.popitem(last=False)

    def claim(self, call_id: object, cn: str | None) -> T | Refused[T]:
        """What a DoGet from certificate CN ``cn`` with ``call_id`` gets: the pending
        call (removed: a call is claimed once), or why not."""
        entry = self._pending.get(call_id) if isinstance(call_id, str) else None
        if entry is None:
            if isinstance(call_id, str) and cn is not None and self._ended.get(call_id) == cn:
                del self._ended[call_id]  # told once: the same id again is unknown
                return Refused(
                    "NOT_FOUND", "the query this data call served has ended", None, "data call after its query ended"
                )
            return Refused("NOT_FOUND", "no such data call", "UNKNOWN_CALL", "DoGet with an unknown call id")
        assert isinstance(call_id, str)
        del self._pending[call_id]
        if entry.tenant != cn:
            # Another tenant's connector guessed or stole a call id: refuse it, and fail the
            # query it aimed at rather than leave it waiting.
            return Refused(
                "PERMISSION_DENIED",
                "no such data call",
                "CALL_TENANT_MISMATCH",
                "DoGet for another tenant's query",
                victim=entry.value,
            )
        return entry.value

    def __len__(self) -> int:
        return len(self._pending)
