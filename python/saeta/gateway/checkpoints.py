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
from saeta.gateway.call_relay import Follow, Out, QueryContext
from saeta.gateway.data_calls import Resume
from saeta.v1 import tunnel_pb2 as pb

FrameSender = Callable[[int, list[Any]], Awaitable[None]]


class Resuming:
    def __init__(self, keys: rt.ResumeKeys, query: str, token: rt.Token | None) -> None:
        self.keys, self.query, self.token = keys, query, token
        self.able = False  # whether the connector can resume this dataset's partitions
        self.partitions = ""

    @classmethod
    def asked(cls, q: bp.RunQuery | bp.Subscribe, keys: rt.ResumeKeys | None, now: float) -> Resuming | None:
        """The resume side of a query or subscription that asked for it (None otherwise).
        Raises ResumeRefused for a token that does not verify for this session and query."""
        if not q.resumable or keys is None:
            return None
        if isinstance(q, bp.Subscribe):
            query = rt.query_digest(
                q.id, q.dataset, q.columns, None, False, q.filter, subscription=True, aggregate=q.aggregate
            )
        else:
            query = rt.query_digest(
                q.id, q.dataset, q.columns, q.limit, q.ordered, q.filter, aggregate=q.aggregate, page=q.page
            )
        token = None
        if q.resume is not None:
            token = rt.verify(keys.secret, q.resume.token, keys.session, query, now)
            if token.position.rows != q.resume.rows:
                raise rt.ResumeRefused("resume.rows is not the row count of its token")
            if (token.follow is None) != isinstance(q, bp.RunQuery):
                raise rt.ResumeRefused("the resume token is not of this kind of stream")
        return cls(keys, query, token)

    def follow_from(self, info: pb.FlightInfoResponse) -> rt.Follow | None:
        """Where a subscription resumes (None: from its snapshot). Raises ResumeUnavailable
        when its connector cannot resume subscriptions."""
        self.able = info.resumable
        if self.token is None:
            return None
        if not info.resumable:
            raise rt.ResumeUnavailable("the connector cannot resume a subscription: subscribe again")
        return self.token.follow

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


class FollowCheckpoints:
    """A resumable subscription's checkpoints: before each group of binary frames, the
    rows the client will have and the token to resume from there (the connector's last
    resume point, plus the rows of its range sent since); a null token while the source
    cannot read its rows again (a database's snapshot)."""

    def __init__(self, ctx: QueryContext, out: Out, resuming: Resuming, follow: Follow) -> None:
        self.ctx, self.out, self.resuming, self.follow = ctx, out, resuming, follow
        self.rows = follow.base
        self.cursor: bytes | None = follow.cursor or None
        self.skip = follow.skip

    async def resume_at(self, point: Resume) -> None:
        self.cursor, self.skip = point.cursor, point.skip

    async def send(self, rows: int, payloads: list[Any]) -> None:
        self.rows += rows
        self.skip += rows
        keys, text = self.resuming.keys, None
        if self.cursor is not None:
            at = rt.Follow(self.cursor, self.skip, self.follow.announced)
            token = rt.Token(keys.session, self.resuming.query, "", rt.Position(0, (), self.rows), keys.expires_at, at)
            text = rt.sign(keys.secret, token)
        await self.ctx.send_text(bp.checkpoint_frame(self.follow.query_id, self.rows, len(payloads), text))
        for payload in payloads:
            await self.ctx.send_parts((self.out.header, payload))
