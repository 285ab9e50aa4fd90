"""Live connectors by tenant, and each tunnel's pending requests."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from saeta.core import filter_codec
from saeta.core.connector_answers import Described, Echo, Failed, SnapshotSize, sort_message
from saeta.core.filters import Condition
from saeta.errors import (
    ConnectorOffline,
    DatasetNotFound,
    QueryTimeout,
    SaetaError,
)
from saeta.v1 import tunnel_pb2 as pb

log = logging.getLogger("saeta.gateway")

# Commands and heartbeat answers queued for a connector's Control call. A connector reads
# them as they come; one that reads nothing (while it floods heartbeats) has its tunnel
# dropped here instead of growing the gateway's memory without end.
MAX_OUTBOX = 4096
BACKLOG_REASON = "the connector reads nothing of its Control call (CONTROL_BACKLOG)"


@dataclass(eq=False)
class ConnectorLink:
    """One registered tunnel. ``send`` queues a command for the Control call; answers
    arrive through ``on_message``; ``close`` fails everything pending."""

    tenant: str
    datasets: frozenset[str]
    version: str
    cert_serial: int | None = None
    tunnel_id: str = field(default_factory=lambda: secrets.token_hex(8))
    outbox: asyncio.Queue[pb.GatewayMessage | None] = field(default_factory=asyncio.Queue)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str = ""
    _waiting: dict[str, asyncio.Future[pb.FlightInfoResponse]] = field(default_factory=dict)
    _errors: dict[str, asyncio.Future[SaetaError]] = field(default_factory=dict)
    _snapshots: dict[str, asyncio.Future[int]] = field(default_factory=dict)

    def send(self, msg: pb.GatewayMessage) -> None:
        if self.closed.is_set():
            raise ConnectorOffline("the connector went offline")
        self._queue(msg)
        if self.closed.is_set():
            raise ConnectorOffline("the connector went offline")

    def _queue(self, msg: pb.GatewayMessage) -> None:
        if self.outbox.qsize() >= MAX_OUTBOX:
            self.close(BACKLOG_REASON)
            return
        self.outbox.put_nowait(msg)

    def on_message(self, msg: pb.ConnectorMessage) -> None:
        """Settles what ``msg`` answers (core/connector_answers.py)."""
        answer = sort_message(msg)
        if isinstance(answer, Described):
            fut = self._waiting.pop(answer.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(answer.info)
        elif isinstance(answer, Failed):
            fut = self._waiting.pop(answer.request_id, None)
            if fut is not None and not fut.done():
                fut.set_exception(answer.error)
            efut = self._errors.get(answer.request_id)
            if efut is not None and not efut.done():
                efut.set_result(answer.error)
        elif isinstance(answer, SnapshotSize):
            sfut = self._snapshots.get(answer.request_id)
            if sfut is not None and not sfut.done():
                sfut.set_result(answer.rows)
        elif isinstance(answer, Echo) and not self.closed.is_set():
            self._queue(answer.reply)

    async def get_flight_info(
        self,
        request_id: str,
        dataset: str,
        columns: tuple[str, ...] | None,
        limit: int | None,
        seconds: float,
        conditions: Sequence[Condition] = (),
        follow: bool = False,
    ) -> pb.FlightInfoResponse:
        fut: asyncio.Future[pb.FlightInfoResponse] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = fut
        try:
            self.send(
                pb.GatewayMessage(
                    get_flight_info=pb.GetFlightInfoRequest(
                        path=[dataset],
                        request_id=request_id,
                        query=pb.Query(
                            columns=columns or (),
                            limit=-1 if limit is None else limit,
                            filter=filter_codec.to_proto(conditions),
                            follow=follow,
                        ),
                    )
                )
            )
            return await asyncio.wait_for(fut, seconds)
        except TimeoutError:
            raise QueryTimeout(f"the connector did not describe the dataset within {seconds:g}s") from None
        finally:
            self._waiting.pop(request_id, None)

    def watch_errors(self, request_id: str) -> asyncio.Future[SaetaError]:
        """A future set to the connector's error for ``request_id``, or to
        ConnectorOffline when the tunnel closes. ``unwatch`` when done."""
        fut = self._errors.get(request_id)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            if self.closed.is_set():
                fut.set_result(ConnectorOffline("the connector went offline"))
            self._errors[request_id] = fut
        return fut

    def watch_snapshot(self, request_id: str) -> asyncio.Future[int]:
        """A future set to a subscription's snapshot row count (SnapshotDone)."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._snapshots[request_id] = fut
        return fut

    def unwatch(self, request_id: str) -> None:
        self._errors.pop(request_id, None)
        self._snapshots.pop(request_id, None)

    def cancel(self, request_id: str) -> None:
        if not self.closed.is_set():
            self._queue(pb.GatewayMessage(cancel=pb.CancelRequest(request_id=request_id)))

    def close(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        self.outbox.put_nowait(None)
        offline = ConnectorOffline("the connector went offline")
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(offline)
        for efut in self._errors.values():
            if not efut.done():
                efut.set_result(offline)
        self._waiting.clear()


class ConnectorRegistry:
    """Tenant -> live links, newest last. A tenant may run several connectors (for high
    availability or different datasets); a query goes to the newest one that serves the
    dataset (docs/decisions.md)."""

    def __init__(self) -> None:
        self._links: dict[str, list[ConnectorLink]] = {}

    def add(self, link: ConnectorLink) -> None:
        self._links.setdefault(link.tenant, []).append(link)

    def remove(self, link: ConnectorLink) -> None:
        links = self._links.get(link.tenant, [])
        if link in links:
            links.remove(link)
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
