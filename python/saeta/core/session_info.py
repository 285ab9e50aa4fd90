"""The control plane's answer about a session (docs/control-plane.md), validated."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from saeta.core.names import is_tenant_id
from saeta.errors import ControlPlaneUnavailable

MAX_PERMISOS = 10_000


@dataclass(frozen=True, slots=True)
class SessionInfo:
    sid: str
    user_id: str
    cuenta_id: str
    tenant: str  # the control plane's edge_id
    datasets: frozenset[str] | None  # None = every dataset of the tenant ("*")
    expires_at: int  # unix seconds

    def allows(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets


def _expiry(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return int(parsed.timestamp())
    raise ControlPlaneUnavailable("control plane answer: expires_at is not a time")


def parse_session_info(sid: str, body: Any) -> SessionInfo:
    """Validates the JSON body of GET /api/sessions/{id}. A malformed answer is the
    control plane's fault: ControlPlaneUnavailable (retryable), never a grant."""
    if not isinstance(body, dict):
        raise ControlPlaneUnavailable("control plane answer is not a JSON object")
    user_id, cuenta_id, edge_id = body.get("user_id"), body.get("cuenta_id"), body.get("edge_id")
    if not isinstance(user_id, str | int) or not isinstance(edge_id, str) or not is_tenant_id(edge_id):
        raise ControlPlaneUnavailable("control plane answer lacks user_id or a valid edge_id")
    permisos = body.get("permisos")
    datasets: frozenset[str] | None
    if permisos == "*":
        datasets = None
    elif isinstance(permisos, list) and len(permisos) <= MAX_PERMISOS and all(isinstance(p, str) for p in permisos):
        datasets = frozenset(permisos)
    else:
        raise ControlPlaneUnavailable('control plane answer: permisos must be a list of names or "*"')
    return SessionInfo(
        sid=sid,
        user_id=str(user_id),
        cuenta_id="" if cuenta_id is None else str(cuenta_id),
        tenant=edge_id,
        datasets=datasets,
        expires_at=_expiry(body.get("expires_at")),
    )
