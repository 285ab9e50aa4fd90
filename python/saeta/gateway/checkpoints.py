"""A resumable query's side of resumption (docs/protocol.md, "Resuming"): the token it
came with, checked before the connector is asked anything (its signature, session and
query) and then against the partitions the connector names; and its checkpoints: before
each group of binary frames, a ``checkpoint`` text frame with the rows the client will
have once the group is in, how many frames the group has, and the signed token to resume
from there. A group and its checkpoint go out together, so that partitions sending at
once never interleave inside one. The tokens and the bookkeeping are core's
(core/resume_token.py, core/query_progress.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from saeta.core import browser_protocol as bp
from saeta.core import resume_token as rt
from saeta.core.query_progress import Progress
from saeta.gateway.call_relay import Out, QueryContext
from saeta.v1 import tunnel_pb2 as pb

FrameSender = Callable[[int, list[Any]], Awaitable[None]]


class Resuming:
    def __init__(self, keys: rt.ResumeKeys, query: str, token: rt.Token | None) -> None:
        self.keys, self.query, self.token = keys, query, token
        self.able = False  # whether the connector can resume this dataset's partitions
        self.partitions = ""

    @classmethod
    def asked(cls, q: bp.RunQuery | bp.Subscribe, keys: rt.ResumeKeys | None, now: float) -> Resuming | None:
        """The resume side of a query that asked for it (None otherwise). Raises
        ResumeRefused for a token that does not verify for this session and query."""
        if not isinstance(q, bp.RunQuery) or not q.resumable or keys is None:
            return None
        query = rt.query_digest(q.id, q.dataset, q.columns, q.limit, q.ordered, q.filter)
        token = None
        if q.resume is not None:
            token = rt.verify(keys.secret, q.resume.token, keys.session, query, now)
            if token.position.rows != q.resume.rows:
                raise rt.ResumeRefused("resume.rows is not the row count of its token")
        return cls(keys, query, token)

    def progress(self, info: pb.FlightInfoResponse, tickets: Sequence[str]) -> Progress | None:
        """Where the query starts: its token's position (None: from the start). Raises
        ResumeUnavailable when the source cannot resume or its partitions changed."""
        self.able = info.resumable
        self.partitions = rt.partitions_digest(tickets)
        if self.token is None:
            return None
        if not info.resumable:
            raise rt.ResumeUnavailable("the dataset's source cannot resume a query: run it again from the start")
        if self.token.partitions != self.partitions:
            raise rt.ResumeUnavailable("the dataset's partitions changed since the query began: run it again")
        return Progress(len(tickets), self.token.position)

    def checkpoints(self, ctx: QueryContext, query_id: str, out: Out, progress: Progress) -> Checkpoints:
        return Checkpoints(ctx, query_id, out, progress, self)


class Checkpoints:
    def __init__(self, ctx: QueryContext, query_id: str, out: Out, progress: Progress, resuming: Resuming) -> None:
        self.ctx, self.query_id, self.out, self.progress, self.resuming = ctx, query_id, out, progress, resuming
        self._lock = asyncio.Lock()

    def sender(self, index: int) -> FrameSender:
        """How partition ``index``'s pieces go out: a checkpoint, then the piece's frames."""

        async def send(rows: int, payloads: list[Any]) -> None:
            async with self._lock:
                self.progress.sent(index, rows)
                keys = self.resuming.keys
                token = rt.Token(
                    keys.session,
                    self.resuming.query,
                    self.resuming.partitions,
                    self.progress.position(),
                    keys.expires_at,
                )
                text = bp.checkpoint_frame(
                    self.query_id, self.progress.rows, len(payloads), rt.sign(keys.secret, token)
                )
                await self.ctx.send_text(text)
                for payload in payloads:
                    await self.ctx.send_parts((self.out.header, payload))

        return send
