"""The connector's reconnect loop: ``gateway.connections`` registered tunnels to distinct
gateway replicas (docs/scaling.md), each dialled again with equal-jitter backoff
(core/backoff.py) until the connector stops. All dial the one ``gateway.grpc_uri`` (the
load balancer's); each registration names the replicas already held, and one of those
answers "already held", so the dialling goes on until the tunnels reach distinct ones. A
gateway that is the only one (it names no replica) gets one tunnel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from saeta.config import ConnectorConfig
from saeta.connector.metrics import ConnectorMetrics
from saeta.connector.sources.base import Source
from saeta.connector.tunnel import AlreadyHeld, Tunnel
from saeta.core.backoff import Backoff
from saeta.errors import SaetaError, TunnelRefused

log = logging.getLogger("saeta.connector")

# How often a spare tunnel slot looks again whether the gateway became several replicas.
SPARE_CHECK_SECONDS = 30.0


@dataclass
class _Held:
    """The replicas the connector's tunnels are registered with, by slot; and whether the
    gateway said it is the only one."""

    by_slot: dict[int, str] = field(default_factory=dict)
    alone: bool = False
    first_tried: dict[int, asyncio.Event] = field(default_factory=dict)

    def others(self, slot: int) -> tuple[str, ...]:
        return tuple(sorted(r for s, r in self.by_slot.items() if s != slot and r))


async def run_forever(
    cfg: ConnectorConfig, sources: Mapping[str, Source], stop: asyncio.Event, metrics: ConnectorMetrics | None = None
) -> None:
    """Keeps ``cfg.connections`` tunnels up until ``stop`` is set, each reconnecting with
    backoff and jitter (performance.reconnect_delay, doubling up to max_reconnect_delay)."""
    held = _Held(first_tried={slot: asyncio.Event() for slot in range(cfg.connections)})
    reads = asyncio.Semaphore(cfg.max_concurrent_reads)
    await asyncio.gather(
        *(_keep_one(cfg, sources, stop, slot, held, reads, metrics) for slot in range(cfg.connections))
    )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _keep_one(
    cfg: ConnectorConfig,
    sources: Mapping[str, Source],
    stop: asyncio.Event,
    slot: int,
    held: _Held,
    reads: asyncio.Semaphore,
    metrics: ConnectorMetrics | None = None,
) -> None:
    """One tunnel slot. Slot N first waits for slot N-1's first try, so that the first
    registrations name the replicas already held."""
    if slot > 0:
        await held.first_tried[slot - 1].wait()
    backoff = Backoff(base=cfg.reconnect_delay, cap=cfg.max_reconnect_delay)
    while not stop.is_set():
        if slot > 0 and held.alone:  # one gateway: this slot stays spare
            held.first_tried[slot].set()
            await _wait(stop, SPARE_CHECK_SECONDS)
            continue
        tunnel = Tunnel(cfg, sources, reads, metrics)
        registered = False
        try:
            await tunnel.register(held=held.others(slot))
            registered = True
            if metrics is not None:
                metrics.registrations.labels("ok").inc()
                metrics.tunnels.inc()
            held.alone = not tunnel.replica_id
            held.by_slot[slot] = tunnel.replica_id
            held.first_tried[slot].set()
            log.info(
                "registered with %s as tenant %s (tunnel %s, replica %s, %d datasets)",
                cfg.grpc_uri,
                cfg.tenant_id,
                tunnel.tunnel_id,
                tunnel.replica_id or "-",
                len(sources),
            )
            backoff.reset()
            if slot > 0 and held.alone:
                continue  # closed below: the gateway turned out to be alone
            await _serve(tunnel, stop)
        except AlreadyHeld as err:
            log.info("tunnel %d: %s; dialling again", slot, err.message)
        except TunnelRefused as err:
            if metrics is not None and not registered:
                metrics.registrations.labels("refused").inc()
            log.warning("tunnel down: %s", err.message)
        finally:
            if metrics is not None and registered:
                metrics.tunnels.dec()
            held.by_slot.pop(slot, None)
            held.first_tried[slot].set()
            await tunnel.close()
        if stop.is_set():
            break
        delay = backoff.next_delay()
        log.info("reconnecting in %.3fs", delay)
        await _wait(stop, delay)


async def _serve(tunnel: Tunnel, stop: asyncio.Event) -> None:
    serve = asyncio.create_task(tunnel.serve())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({serve, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if serve.done():
        serve.result()
    else:
        serve.cancel()
        with contextlib.suppress(asyncio.CancelledError, SaetaError):
            await serve
