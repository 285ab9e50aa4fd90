"""Where a tenant's query goes: a tunnel on this replica when one serves the dataset,
else (one of several replicas) a replica that holds one, found in Redis
(docs/scaling.md). ``list`` gathers the datasets of the tunnels here and on every
holder."""

from __future__ import annotations

import asyncio
import logging

import grpc.aio

from saeta.core.presence import Holder
from saeta.errors import ConnectorOffline, DatasetNotFound
from saeta.gateway.call_relay import Link
from saeta.gateway.peer_link import PeerClients, RemoteLink
from saeta.gateway.presence import Presence
from saeta.gateway.registry import ConnectorRegistry

log = logging.getLogger("saeta.gateway.peer")


class Router:
    def __init__(
        self, registry: ConnectorRegistry, presence: Presence | None = None, peers: PeerClients | None = None
    ) -> None:
        self.registry, self.presence, self.peers = registry, presence, peers

    async def route(self, tenant: str, dataset: str, owner: str) -> Link:
        """Raises ConnectorOffline when no replica holds a tunnel for the tenant,
        DatasetNotFound when none of the tunnels here serves ``dataset`` and no other
        replica holds one (another replica's answer on the dataset comes at describe
        time)."""
        try:
            return self.registry.route(tenant, dataset)
        except (ConnectorOffline, DatasetNotFound):
            if self.presence is None or self.peers is None:
                raise
            holders = await self.presence.holders(tenant)
            if not holders:
                raise
        presence = self.presence

        async def fresh() -> list[Holder]:
            presence.forget_holders(tenant)
            return await presence.holders(tenant)

        return RemoteLink(tenant, dataset, holders, self.peers, owner, fresh)

    async def datasets(self, tenant: str) -> set[str]:
        """The names the tenant's tunnels serve, here and on the replicas holding one.
        Raises ConnectorOffline when there is none anywhere."""
        names = self.registry.datasets(tenant)
        online = self.registry.online(tenant)
        if self.presence is None or self.peers is None:
            if not online:
                raise ConnectorOffline("the data source's connector is offline")
            return names
        try:
            holders = await self.presence.holders(tenant)
        except ConnectorOffline:
            if not online:
                raise
            return names  # Redis away: what this replica knows
        peers = self.peers
        answers = await asyncio.gather(*(peers.datasets(h, tenant) for h in holders), return_exceptions=True)
        for holder, answer in zip(holders, answers, strict=True):
            if isinstance(answer, grpc.aio.AioRpcError):
                log.info("peer %s did not list tenant=%s: %s", holder.replica_id, tenant, answer.code().name)
            elif isinstance(answer, BaseException):
                raise answer
            elif answer:  # an empty answer: its presence outlived its tunnel
                names.update(answer)
                online = True
        if not online:
            raise ConnectorOffline("the data source's connector is offline")
        return names
