"""The connector's reconnect loop: one registered tunnel at a time, dialled again with
equal-jitter backoff (core/backoff.py) until the connector stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from saeta.config import ConnectorConfig
from saeta.connector.sources.base import Source
from saeta.connector.tunnel import Tunnel
from saeta.core.backoff import Backoff
from saeta.errors import SaetaError, TunnelRefused

log = logging.getLogger("saeta.connector")


async def run_forever(cfg: ConnectorConfig, sources: Mapping[str, Source], stop: asyncio.Event) -> None:
    """Keeps one registered tunnel up until ``stop`` is set, reconnecting with backoff
    and jitter (performance.reconnect_delay, doubling up to max_reconnect_delay)."""
    backoff = Backoff(base=cfg.reconnect_delay, cap=cfg.max_reconnect_delay)
    while not stop.is_set():
        tunnel = Tunnel(cfg, sources)
        try:
            await tunnel.register()
            log.info(
                "registered with %s as tenant %s (tunnel %s, %d datasets)",
                cfg.grpc_uri,
                cfg.tenant_id,
                tunnel.tunnel_id,
                len(sources),
            )
            backoff.reset()
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
        except TunnelRefused as err:
            log.warning("tunnel down: %s", err.message)
        finally:
            await tunnel.close()
        if stop.is_set():
            break
        delay = backoff.next_delay()
        log.info("reconnecting in %.3fs", delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
