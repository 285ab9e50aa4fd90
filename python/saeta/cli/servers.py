"""`saeta gateway`, `saeta control-plane` and `saeta demo`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

from saeta.cli.service import add_service_parser


def run_gateway(args: argparse.Namespace) -> int:
    import signal

    from saeta import logs, process_stats
    from saeta.config import load_gateway_config
    from saeta.gateway.app import Gateway

    cfg = load_gateway_config(args.config)
    logs.configure(cfg.logging, "gateway")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        process_stats.install(loop)
        gateway = Gateway(cfg)
        loop.add_signal_handler(signal.SIGHUP, gateway.reload_certificates)
        await gateway.serve(stop)

    asyncio.run(main())
    return 0


def run_control_plane(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    from saeta import logs, web_tls
    from saeta.config import load_control_plane_config
    from saeta.control_plane import admin_token
    from saeta.control_plane.app import ControlPlane
    from saeta.control_plane.store import SessionStore

    cfg = load_control_plane_config(args.config)
    logs.configure(cfg.logging, "control-plane")
    token = cfg.admin_token or admin_token.load_or_create(cfg.admin_token_file)
    store = SessionStore(cfg.database)
    app = ControlPlane(cfg, store, token).app()
    tls = web_tls.server_context(cfg.https)
    config = uvicorn.Config(
        web_tls.with_hsts(app, cfg.https.hsts_seconds),
        host=cfg.host,
        port=cfg.port,
        proxy_headers=bool(cfg.forwarded_allow_ips),
        forwarded_allow_ips=list(cfg.forwarded_allow_ips),
        access_log=False,  # lookups carry session ids in their paths
        log_config=None,
        lifespan="on",
    )
    config.load()
    server = uvicorn.Server(config)
    if tls is not None:
        config.ssl = tls.context

    async def main() -> None:
        web_tls.warn_if_plaintext("the control plane", cfg.host, cfg.port, tls is not None)
        watch = None
        if tls is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, tls.reload)
            watch = asyncio.create_task(tls.watch(cfg.https.reload_seconds), name="https-reload")
        try:
            await server.serve()
        finally:
            if watch is not None:
                watch.cancel()

    asyncio.run(main())
    store.close()
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from saeta import demo

    state = Path(args.state_dir) if args.state_dir else demo.default_state_dir()
    redis_port = None if args.no_redis else args.redis_port
    ports = demo.Ports(args.http_port, args.grpc_port, args.data_port, args.control_plane_port, args.flight_port)
    return demo.run(state, ports, args.ventas_rows, redis_port)


def _needs_config(
    fn: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser
) -> Callable[[argparse.Namespace], int]:
    """``--config`` is required to run (argparse cannot require it only without a subcommand)."""

    def run(args: argparse.Namespace) -> int:
        if not args.config:
            parser.error("the following arguments are required: --config")
        return fn(args)

    return run


def add_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for role, fn, what in (
        ("gateway", run_gateway, "the gateway"),
        ("control-plane", run_control_plane, "the reference control plane"),
    ):
        c = sub.add_parser(
            role,
            help=f"run {what}",
            description=f"Runs {what} until SIGTERM. Example: saeta {role} --config {role}.yaml",
        )
        c.add_argument("--config", help="its config file (docs/configuration.md)")
        c.set_defaults(fn=_needs_config(fn, c))
        add_service_parser(c.add_subparsers(dest="sub", metavar="{service}"), role)


def add_demo_to(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("demo", help="run a whole deployment on this machine")
    c.add_argument(
        "--state-dir",
        help="where the demo keeps its certificates, data and configs (default ~/.local/state/saeta/demo)",
    )
    c.add_argument("--http-port", type=int, default=8081, help="the gateway's HTTP port: the dashboard (default 8081)")
    c.add_argument("--grpc-port", type=int, default=50051, help="the gateway's tunnel port (default 50051)")
    c.add_argument(
        "--data-port", type=int, default=50052, help="the gateway's data plane for query data (0: on the tunnel port)"
    )
    c.add_argument("--control-plane-port", type=int, default=8090, help="the control plane's port (default 8090)")
    c.add_argument(
        "--flight-port", type=int, default=8815, help="the gateway's Arrow Flight / Flight SQL endpoint (0: off)"
    )
    c.add_argument(
        "--ventas-rows", type=int, default=2_000_000, help="rows of the sample sales dataset (default 2,000,000)"
    )
    c.add_argument("--redis-port", type=int, default=6380, help="port of the demo's own redis-server")
    c.add_argument("--no-redis", action="store_true", help="revocations in process, no redis-server")
    c.set_defaults(fn=run_demo)
