"""Live connectors by tenant, and each tunnel's link: its core state (core/tunnel_link.py)
with the futures its queries wait on."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from saeta.core import filter_codec
from saeta.core.aggregation import Aggregate
from saeta.core.filters import Condition
from saeta.core.paging import Page
from saeta.core.tunnel_link import Request, TunnelLink
from saeta.errors import ConnectorOffline, DatasetNotFound, QueryTimeout, SaetaError
from saeta.gateway.data_calls import DataCalls, LocalCall
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway")


@dataclass(eq=False)
class _Waits:
    """The futures a request's queries wait on, settled from its core Request."""

    info: asyncio.Future[pb.FlightInfoResponse] | None = None
    error: asyncio.Future[SaetaError] | None = None
    snapshot: asyncio.Future[int] | None = None


@dataclass(eq=False)
class ConnectorLink:
    """One registered tunnel: core/tunnel_link.py's state, with the futures each request's
    query waits on. ``send`` queues a command for the Control call, ``next_command`` gives
    them to it; answers arrive through ``on_message``; ``close`` fails everything pending."""

    tenant: str
    datasets: frozenset[str]
    version: str
    cert_serial: int | None = None
    direct_data: bool = False  # RegisterRequest.direct_data: sends data where DoGetRequest says
    # The codec this tunnel's data calls may compress record batches with (DoGetRequest.
    # compression): core/tunnel_codec.accepted_codec of what the connector offered; "": none.
    compression: str = ""
    tunnel_id: str = field(default_factory=lambda: secrets.token_hex(8))
    state: TunnelLink = field(default_factory=TunnelLink)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _waits: dict[str, _Waits] = field(default_factory=dict)
    _close_told: bool = False

    @property
    def codecs(self) -> tuple[str, ...]:
        """The codecs its data calls' batches may arrive with: the negotiated one, if any."""
        return (self.compression,) if self.compression else ()

    @property
    def close_reason(self) -> str:
        return self.state.close_reason or ""

    def send(self, msg: pb.GatewayMessage) -> None:
        try:
            self.state.send(msg)
        finally:
            self._wake()

    async def next_command(self) -> pb.GatewayMessage | None:
        """The next command for the Control call; None once the tunnel is closed and
        every command queued before the close has been given."""
        while (msg := self.state.take()) is None and not self.state.closed:
            self._ready.clear()
            await self._ready.wait()
        return msg

    def _wake(self) -> None:
        """After any change: the Control writer looks for commands, and a close (asked
        for, or made by a full queue) reaches every waiting query once."""
        self._ready.set()
        if self.state.closed and not self._close_told:
            self._close_told = True
            for request_id in list(self._waits):
                self._settle(self.state.open(request_id))

    def on_message(self, msg: pb.ConnectorMessage) -> None:
        """Settles what ``msg`` answers (core/tunnel_link.py decides what that is)."""
        changed = self.state.receive(msg)
        if changed is not None:
            self._settle(changed)
        self._wake()

    def _settle(self, request: Request) -> None:
        waits = self._waits.get(request.request_id)
        if waits is None:
            return
        if waits.info is not None and not waits.info.done():
            if request.error is not None:
                waits.info.set_exception(request.error)
            elif request.info is not None:
                waits.info.set_result(request.info)
        if waits.error is not None and request.error is not None and not waits.error.done():
            waits.error.set_result(request.error)
        if waits.snapshot is not None and request.snapshot_rows is not None and not waits.snapshot.done():
            waits.snapshot.set_result(request.snapshot_rows)

    def _waits_of(self, request_id: str) -> _Waits:
        waits = self._waits.get(request_id)
        if waits is None:
            waits = self._waits[request_id] = _Waits()
        return waits

    def _future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def get_flight_info(
        self,
        request_id: str,
        dataset: str,
        columns: tuple[str, ...] | None,
        limit: int | None,
        seconds: float,
        conditions: Sequence[Condition] = (),
        follow: bool = False,
        resumable: bool = False,
        aggregate: Aggregate | None = None,
        page: Page | None = None,
        first_call: LocalCall | None = None,
    ) -> pb.FlightInfoResponse:
        waits = self._waits_of(request_id)
        waits.info = fut = self._future()
        ask = pb.GetFlightInfoRequest(
            path=[dataset],
            request_id=request_id,
            query=filter_codec.query_message(columns, limit, conditions, follow, resumable, aggregate, page),
            first_call=None if first_call is None else first_call.ask,
        )
        try:
            try:
                self._settle(self.state.describe(request_id, ask))
            finally:
                self._wake()
            return await asyncio.wait_for(fut, seconds)
        except TimeoutError:
            raise QueryTimeout(f"the connector did not describe the dataset within {seconds:g}s") from None
        finally:
            waits.info = None

    def watch_errors(self, request_id: str) -> asyncio.Future[SaetaError]:
        """A future set to the connector's error for ``request_id``, or to
        ConnectorOffline when the tunnel closes. ``unwatch`` when done."""
        waits = self._waits_of(request_id)
        if waits.error is None:
            waits.error = self._future()
            self._settle(self.state.open(request_id))
        return waits.error

    def watch_snapshot(self, request_id: str) -> asyncio.Future[int]:
        """A future set to a subscription's snapshot row count (SnapshotDone)."""
        waits = self._waits_of(request_id)
        waits.snapshot = self._future()
        self._settle(self.state.open(request_id))
        return waits.snapshot

    def unwatch(self, request_id: str) -> None:
        self._waits.pop(request_id, None)
        self.state.forget(request_id)

    def cancel(self, request_id: str) -> None:
        self.state.cancel(request_id)
        self._wake()

    def open_call(self, calls: DataCalls, ask: pb.DoGetRequest, follow: bool) -> LocalCall:
        """A data call for ``ask``: expected in ``calls``, asked for down this tunnel."""
        return LocalCall(calls, self.tenant, self.send, ask)

    def first_call(self, calls: DataCalls, ask: pb.DoGetRequest) -> LocalCall:
        """The plan's first data call (``ask`` without its ticket): expected in ``calls``,
        asked for with the GetFlightInfoRequest it is given to."""
        return LocalCall(calls, self.tenant, None, ask)

    def ask_direct(self, ask: pb.DoGetRequest) -> None:
        """Direct data: ``ask`` (its call_id and data_address another replica's) down this
        tunnel; that replica expects the call and reads it."""
        self.send(pb.GatewayMessage(do_get=ask))

    def close(self, reason: str) -> None:
        self.state.close(reason)
        self._wake()


class ConnectorRegistry:
    """Tenant -> live links, newest last. A tenant may run several connectors (for high
    availability or different datasets); a query goes to the newest one that serves the
    dataset (docs/decisions.md)."""

    def __init__(self) -> None:
        self._links: dict[str, list[ConnectorLink]] = {}
        # Told of each tunnel added (True) and removed (False): the replica's presence.
        self.listeners: list[Callable[[str, bool], None]] = []

    def add(self, link: ConnectorLink) -> None:
        self._links.setdefault(link.tenant, []).append(link)
        for listener in self.listeners:
            listener(link.tenant, True)

    def remove(self, link: ConnectorLink) -> None:
        links = self._links.get(link.tenant, [])
        if link in links:
            links.remove(link)
            for listener in self.listeners:
                listener(link.tenant, False)
        if not links:
            self._links.pop(link.tenant, None)

    def count(self) -> int:
        return sum(len(v) for v in self._links.values())

    def of(self, tenant: str) -> list[ConnectorLink]:
        """``tenant``'s live links, oldest first."""
        return list(self._links.get(tenant, []))

    def online(self, tenant: str) -> bool:
        return bool(self._links.get(tenant))

    def datasets(self, tenant: str) -> set[str]:
        names: set[str] = set()
        for link in self._links.get(tenant, []):
            names |= link.datasets
        return names

    def route(self, tenant: str, dataset: str) -> ConnectorLink:
        """Raises ConnectorOffline when the tenant has no live connector, DatasetNotFound
        when none of its connectors serves ``dataset``."""
        links = self._links.get(tenant)
        if not links:
            raise ConnectorOffline("the data source's connector is offline")
        for link in reversed(links):
            if dataset in link.datasets:
                return link
        raise DatasetNotFound(f"no dataset {dataset!r}")

    def links(self) -> list[ConnectorLink]:
        return [link for links in self._links.values() for link in links]

    def close_all(self, reason: str) -> None:
        for links in list(self._links.values()):
            for link in list(links):
                link.close(reason)
