"""A streamed answer's session, watched while it streams (an HTTP query, a Flight DoGet):
revoked (pushed through Redis, or found when validated again), unknown to the control
plane, or expired, it ends the stream with SESSION_REVOKED or UNAUTHORIZED. It is
validated again as often as a socket's session; a control plane that is down ends
nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from saeta.core.session_info import SessionInfo
from saeta.errors import ControlPlaneUnavailable, SaetaError, SessionRevoked, Unauthorized
from saeta.gateway.sessions import SessionValidator


class SessionWatch:
    def __init__(
        self,
        sessions: SessionValidator,
        token: str,
        session: SessionInfo,
        interval: float,
        end: Callable[[SaetaError], None],
    ) -> None:
        self.sessions, self.token, self.session = sessions, token, session
        self.interval = max(1.0, interval)
        self._end = end
        self._task: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(
            max(0.0, self.session.expires_at - time.time()), lambda: self._end(Unauthorized("the session expired"))
        )
        self._task = asyncio.create_task(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._expiry is not None:
            self._expiry.cancel()

    def on_revoked(self, sid: str) -> None:
        if sid == self.session.sid:
            self._end(SessionRevoked("session revoked"))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.session = await self.sessions.validate(self.token)
            except Unauthorized as err:  # SessionRevoked too
                self._end(err)
            except ControlPlaneUnavailable:
                pass
