"""The `saeta` command (docs/cli.md). Exit codes: 0 ok, 1 failure, 2 usage or config."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from saeta import __version__
from saeta.errors import SaetaError


def _certs_init(args: argparse.Namespace) -> int:
    from saeta import certs

    files = certs.init_ca(Path(args.dir), tuple(args.server_name or ()), force=args.force)
    print(f"CA: {Path(args.dir) / 'ca.crt'}\nserver: {files.cert} {files.key}")
    return 0


def _certs_issue(args: argparse.Namespace) -> int:
    from saeta import certs

    files = certs.issue_client(Path(args.dir), args.tenant)
    print(f"client certificate for {args.tenant}: {files.cert} {files.key}")
    return 0


def _certs_revoke(args: argparse.Namespace) -> int:
    from saeta import certs

    directory = Path(args.dir)
    new, pem = certs.revoke(directory, args.target)
    for serial in sorted(new):
        print(f"revoked serial {serial:x}")
    if not new:
        print("already revoked")
    print(f"CRL: {directory / certs.CRL_FILE}")
    redis_url = args.redis_url or os.environ.get("SAETA_REDIS_URL")
    if redis_url:
        from saeta.redis_bus import connect, publish_crl

        async def push() -> None:
            client = connect(redis_url)
            try:
                await publish_crl(client, pem)
            finally:
                await client.aclose()

        try:
            asyncio.run(push())
        except Exception as exc:
            print(f"REDIS_UNAVAILABLE: the CRL is written but was not pushed to {redis_url}: {exc}", file=sys.stderr)
            return 1
        print("pushed to every gateway through Redis")
    return 0


def _connector_run(args: argparse.Namespace) -> int:
    from saeta import logs
    from saeta.config import load_connector_config
    from saeta.connector import runner

    cfg = load_connector_config(args.config)
    logs.configure(cfg.logging, "connector")
    asyncio.run(runner.run(cfg))
    return 0


def _connector_test(args: argparse.Namespace) -> int:
    from saeta import logs
    from saeta.config import load_connector_config
    from saeta.connector import runner

    try:
        cfg = load_connector_config(args.config)
    except SaetaError as err:
        print(f"FAIL config: {err}")
        return 1
    logs.configure(cfg.logging, "connector")
    results = asyncio.run(runner.check(cfg))
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
    failed = [r for r in results if not r.ok]
    print("connector test: " + ("passed" if not failed else f"{len(failed)} check(s) failed"))
    return 1 if failed else 0


def _connector_service(args: argparse.Namespace) -> int:
    from pathlib import Path

    from saeta.config import load_connector_config

    config = Path(args.config)
    try:
        load_connector_config(config)  # refuse to install a service that could not start
    except SaetaError as err:
        print(f"FAIL config: {err}")
        return 2
    try:
        if sys.platform == "win32":
            from saeta.connector.service import windows

            lines = windows.handle(args.action, str(config.resolve()))
        else:
            from saeta.connector.service import systemd

            unit = systemd.unit(config, args.name, user=args.user)
            unit_dir = Path(args.unit_dir) if args.unit_dir else systemd.UNIT_DIR
            if args.action == "install":
                lines = systemd.install(unit, unit_dir)
            elif args.action == "remove":
                lines = systemd.remove(unit, unit_dir)
            else:
                lines = systemd.control(args.action, unit)
    except (SaetaError, OSError) as err:
        print(f"FAIL {args.action}: {err}")
        return 1
    print("\n".join(lines))
    return 0


def _gateway(args: argparse.Namespace) -> int:
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
        await Gateway(cfg).serve(stop)

    asyncio.run(main())
    return 0


def _control_plane(args: argparse.Namespace) -> int:
    import uvicorn

    from saeta import logs
    from saeta.config import load_control_plane_config
    from saeta.control_plane import admin_token
    from saeta.control_plane.app import ControlPlane
    from saeta.control_plane.store import SessionStore

    cfg = load_control_plane_config(args.config)
    logs.configure(cfg.logging, "control-plane")
    token = cfg.admin_token or admin_token.load_or_create(cfg.admin_token_file)
    store = SessionStore(cfg.database)
    app = ControlPlane(cfg, store, token).app()
    # No access log: lookups carry session ids in their paths.
    uvicorn.run(app, host=cfg.host, port=cfg.port, access_log=False, log_config=None, lifespan="on")
    store.close()
    return 0


def _admin_request(url: str, token: str, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (operator-given URL)
            result: dict[str, Any] = json.loads(resp.read())
            return result
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read())
            raise SaetaError(detail.get("message", str(exc)), code=detail.get("code", "HTTP_ERROR")) from None
        except ValueError:
            raise SaetaError(f"control plane answered {exc.code}", code="HTTP_ERROR") from None
    except urllib.error.URLError as exc:
        raise SaetaError(f"cannot reach {url}: {exc.reason}", code="CONTROL_PLANE_UNAVAILABLE") from None


def _admin_token(args: argparse.Namespace) -> str:
    """--token, else $SAETA_ADMIN_TOKEN, else the file named by --token-file or
    $SAETA_ADMIN_TOKEN_FILE, else the file the control plane writes by default."""
    from saeta.config import default_admin_token_file

    token: str | None = args.token or os.environ.get("SAETA_ADMIN_TOKEN")
    if token:
        return token
    named = args.token_file or os.environ.get("SAETA_ADMIN_TOKEN_FILE")
    path = Path(named) if named else default_admin_token_file()
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SaetaError(
            f"no admin token: pass --token or --token-file, or set SAETA_ADMIN_TOKEN ({path}: {exc.strerror})",
            code="ADMIN_TOKEN_MISSING",
        ) from None


def _session_issue(args: argparse.Namespace) -> int:
    datasets: Any = "*" if args.datasets in (None, "*") else [d for d in args.datasets.split(",") if d]
    body = {
        "tenant": args.tenant,
        "user_id": args.user,
        "cuenta_id": args.cuenta or "",
        "datasets": datasets,
        "ttl_seconds": args.ttl,
    }
    result = _admin_request(f"{args.control_plane.rstrip('/')}/api/sessions", _admin_token(args), "POST", body)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result["expires_at"]))
    print(f"session for {args.user} on tenant {args.tenant}, expires {expires}:", file=sys.stderr)
    if result.get("dashboard_url"):
        print(f"dashboard: {result['dashboard_url']}", file=sys.stderr)
    print(result["session_id"])
    return 0


def _session_revoke(args: argparse.Namespace) -> int:
    url = f"{args.control_plane.rstrip('/')}/api/sessions/{args.session_id}/revoke"
    answer = _admin_request(url, _admin_token(args), "POST", {})
    pushed = isinstance(answer, dict) and answer.get("pushed")
    late = " (not pushed through Redis: gateways apply it when their cached check expires)"
    print("revoked" + ("" if pushed else late))
    return 0


def _query(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from saeta.client import AsyncClient

    try:
        conditions = json.loads(args.filter) if args.filter else None
    except ValueError:
        print('saeta query: --filter must be JSON, e.g. \'[["total", ">", 100]]\'', file=sys.stderr)
        return 2
    if args.follow and args.limit is not None:
        print("saeta query: --follow takes no --limit", file=sys.stderr)
        return 2

    async def main() -> int:
        columns = args.columns.split(",") if args.columns else None
        started = time.perf_counter()
        rows = nbytes = batches = 0
        sink = None
        writer = None

        def snapshot_done(count: int) -> None:
            print(f"  snapshot: {count:,} rows; following (Ctrl-C stops)", file=sys.stderr)

        async with await AsyncClient.connect(args.gateway, args.session) as client:
            if args.follow:
                source = client.subscribe(args.dataset, columns, filter=conditions, on_snapshot=snapshot_done)
            else:
                source = client.stream(args.dataset, columns, args.limit, filter=conditions)
            async for batch in source:
                if args.output and writer is None:
                    sink = pa.OSFile(args.output, "wb")
                    writer = pa.ipc.new_stream(sink, batch.schema)
                if writer is not None:
                    writer.write_batch(batch)
                rows += batch.num_rows
                nbytes += batch.nbytes
                batches += 1
                if not args.quiet and (args.follow or batches % 20 == 1):
                    print(f"  {rows:>12,} rows  {nbytes / 1e6:9.1f} MB", file=sys.stderr)
        if writer is not None and sink is not None:
            writer.close()
            sink.close()
        elapsed = time.perf_counter() - started
        print(
            f"{args.dataset}: {rows:,} rows, {batches} batches, {nbytes / 1e6:.1f} MB in {elapsed:.2f}s "
            f"({rows / elapsed:,.0f} rows/s, {nbytes / 1e6 / elapsed:.1f} MB/s)"
        )
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:  # --follow: the socket closes, which ends the subscription
        return 0


def _demo(args: argparse.Namespace) -> int:
    from saeta import demo

    state = Path(args.state_dir) if args.state_dir else demo.default_state_dir()
    redis_port = None if args.no_redis else args.redis_port
    ports = demo.Ports(args.http_port, args.grpc_port, args.data_port, args.control_plane_port)
    return demo.run(state, ports, args.ventas_rows, redis_port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saeta", description="Stream Arrow data from your sites to browsers.")
    p.add_argument("--version", action="version", version=f"saeta {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    certs_cmd = sub.add_parser("certs", help="the private CA and its certificates")
    certs = certs_cmd.add_subparsers(dest="sub", required=True)
    c = certs.add_parser("init", help="create the CA (if missing) and a fresh server certificate")
    c.add_argument("--dir", required=True)
    c.add_argument("--server-name", action="append", help="extra DNS name or IP for the server certificate")
    c.add_argument("--force", action="store_true", help="replace an existing CA (invalidates every client certificate)")
    c.set_defaults(fn=_certs_init)
    c = certs.add_parser("issue", help="issue a connector's client certificate (CN = tenant)")
    c.add_argument("tenant")
    c.add_argument("--dir", required=True)
    c.set_defaults(fn=_certs_issue)
    c = certs.add_parser("revoke", help="revoke a tenant's certificates or one serial (rewrites DIR/crl.pem)")
    c.add_argument("target", metavar="TENANT|SERIAL")
    c.add_argument("--dir", required=True)
    c.add_argument("--redis-url", help="also push the CRL to the gateways (default: $SAETA_REDIS_URL)")
    c.set_defaults(fn=_certs_revoke)

    conn = sub.add_parser("connector", help="the on-premises connector").add_subparsers(dest="sub", required=True)
    c = conn.add_parser("run", help="serve datasets to the gateway until stopped")
    c.add_argument("--config", required=True)
    c.set_defaults(fn=_connector_run)
    c = conn.add_parser("test", help="check config, datasets and the gateway connection, then exit")
    c.add_argument("--config", required=True)
    c.set_defaults(fn=_connector_test)

    c = conn.add_parser("service", help="install, start, stop or remove the connector as a system service")
    c.add_argument("action", choices=("install", "start", "stop", "remove"))
    c.add_argument("--config", required=True)
    c.add_argument("--name", default="saeta-connector", help="service name (Linux; default saeta-connector)")
    c.add_argument("--user", help="run as this user (Linux)")
    c.add_argument("--unit-dir", help="where the systemd unit goes (default /etc/systemd/system)")
    c.set_defaults(fn=_connector_service)

    c = sub.add_parser("gateway", help="run the gateway")
    c.add_argument("--config", required=True)
    c.set_defaults(fn=_gateway)

    c = sub.add_parser("control-plane", help="run the reference control plane")
    c.add_argument("--config", required=True)
    c.set_defaults(fn=_control_plane)

    sess = sub.add_parser("session", help="issue or revoke browser sessions").add_subparsers(dest="sub", required=True)
    c = sess.add_parser("issue", help="print a new session id (last line of stdout)")
    c.add_argument("--control-plane", required=True, metavar="URL")
    c.add_argument("--tenant", required=True)
    c.add_argument("--user", required=True)
    c.add_argument("--cuenta")
    c.add_argument("--datasets", help='comma-separated dataset names, or "*" (default)')
    c.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    _token_arguments(c)
    c.set_defaults(fn=_session_issue)
    c = sess.add_parser("revoke", help="revoke a session")
    c.add_argument("session_id")
    c.add_argument("--control-plane", required=True, metavar="URL")
    _token_arguments(c)
    c.set_defaults(fn=_session_revoke)

    c = sub.add_parser("query", help="stream a dataset from a gateway to this terminal")
    c.add_argument("dataset")
    c.add_argument("--gateway", required=True, metavar="URL", help="ws:// or wss:// URL of the gateway")
    c.add_argument("--session", required=True)
    c.add_argument("--columns", help="comma-separated")
    c.add_argument("--limit", type=int)
    c.add_argument("--filter", metavar="JSON", help='conditions, e.g. \'[["total", ">", 100]]\' (docs/protocol.md)')
    c.add_argument("--follow", action="store_true", help="subscribe: the snapshot, then new rows until Ctrl-C")
    c.add_argument("--output", help="write the result as an Arrow IPC stream file")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(fn=_query)

    c = sub.add_parser("demo", help="run a whole deployment on this machine")
    c.add_argument("--state-dir")
    c.add_argument("--http-port", type=int, default=8081)
    c.add_argument("--grpc-port", type=int, default=50051)
    c.add_argument(
        "--data-port", type=int, default=50052, help="the gateway's data plane for query data (0: on the tunnel port)"
    )
    c.add_argument("--control-plane-port", type=int, default=8090)
    c.add_argument("--ventas-rows", type=int, default=2_000_000)
    c.add_argument("--redis-port", type=int, default=6380, help="port of the demo's own redis-server")
    c.add_argument("--no-redis", action="store_true", help="revocations in process, no redis-server")
    c.set_defaults(fn=_demo)
    return p


def _token_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("--token", help="admin token (default: $SAETA_ADMIN_TOKEN)")
    c.add_argument(
        "--token-file",
        help="file holding the admin token (default: $SAETA_ADMIN_TOKEN_FILE, else the control plane's "
        "default admin_token_file, ~/.local/state/saeta/admin-token)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.fn(args)
        return code
    except SaetaError as err:
        print(f"saeta: {err}", file=sys.stderr)
        return 2 if err.code == "CONFIG_INVALID" else 1
    except KeyboardInterrupt:
        return 130
