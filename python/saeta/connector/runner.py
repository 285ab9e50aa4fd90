"""`saeta connector run` and `saeta connector test`: the shared runner that a systemd
unit or a Windows service wraps."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from saeta import memory_trim, process_stats, stop_signals
from saeta.config import ConnectorConfig
from saeta.connector.metrics import ConnectorMetrics, MetricsServer
from saeta.connector.reconnect import run_forever
from saeta.connector.sources import Source, open_source
from saeta.connector.tunnel import Tunnel
from saeta.errors import SaetaError

log = logging.getLogger("saeta.connector")


def open_sources(cfg: ConnectorConfig) -> dict[str, Source]:
    return {name: open_source(ds, cfg.max_chunk_size) for name, ds in cfg.datasets.items()}


async def run(cfg: ConnectorConfig) -> None:
    """`connector run` (and the systemd unit): serves until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_signals.install(loop, stop)
    process_stats.install(loop)
    await serve(cfg, stop)


async def serve(cfg: ConnectorConfig, stop: asyncio.Event) -> None:
    """The one runner of every way the connector runs (terminal, systemd, Windows
    service): serves until ``stop`` is set, then closes the tunnel and its sources."""
    sources = open_sources(cfg)
    log.info("connector starting tenant=%s gateway=%s datasets=%s", cfg.tenant_id, cfg.grpc_uri, ",".join(sources))
    metrics, server = None, None
    if cfg.metrics_port is not None:
        metrics = ConnectorMetrics(cfg.tenant_id, sources)
        try:
            server = MetricsServer(metrics, cfg.metrics_host, cfg.metrics_port)
        except OSError as exc:
            for source in sources.values():
                source.close()
            where = f"{cfg.metrics_host}:{cfg.metrics_port}"
            raise SaetaError(f"cannot serve metrics on {where}: {exc}", code="LISTEN_FAILED") from exc
        log.info("metrics on http://%s:%d/metrics", cfg.metrics_host, server.port)
    trimmer = asyncio.create_task(memory_trim.trim_while_running(cfg.memory_trim_seconds), name="memory-trim")
    try:
        await run_forever(cfg, sources, stop, metrics)
    finally:
        if server is not None:
            await asyncio.to_thread(server.close)
        trimmer.cancel()
        for source in sources.values():
            source.close()
    log.info("connector stopped")


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str


async def check(cfg: ConnectorConfig) -> list[CheckResult]:
    """What `saeta connector test` reports: each dataset opened and its schema read,
    then one registration with the gateway (as a probe, which takes no traffic)."""
    results: list[CheckResult] = [CheckResult("config", True, str(cfg.file))]
    sources: dict[str, Source] = {}
    for name, ds in cfg.datasets.items():
        try:
            source = open_source(ds, cfg.max_chunk_size)
            schema = await asyncio.to_thread(source.schema)
            plan = await asyncio.to_thread(source.plan, None, None)
            rows = "unknown rows" if plan.total_records is None else f"{plan.total_records} rows"
            results.append(
                CheckResult(
                    f"dataset {name}", True, f"{ds.type}, {len(plan.partitions)} file(s), {len(schema)} columns, {rows}"
                )
            )
            sources[name] = source
        except SaetaError as err:
            results.append(CheckResult(f"dataset {name}", False, str(err)))
    tunnel = Tunnel(cfg, sources)
    try:
        reg = await tunnel.register(probe=True)
        tunnel_id = reg.session_id  # the seed's name for the tunnel id
        detail = f"registered with {cfg.grpc_uri} as {cfg.tenant_id} (tunnel {tunnel_id})"
        results.append(CheckResult("gateway", True, detail))
        if reg.data_port:
            problem = await tunnel.probe_data_port(reg.data_port)
            results.append(CheckResult("data port", problem is None, problem or f"port {reg.data_port} answers"))
    except SaetaError as err:
        results.append(CheckResult("gateway", False, err.message))
    finally:
        await tunnel.close()
        for source in sources.values():
            source.close()
    return results
