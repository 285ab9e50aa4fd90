"""The gateway process: the gRPC tunnel server and the HTTP/WebSocket server in one
event loop, sharing the connector registry.

Why one file: it wires the process's parts together and holds its routes, start-up and
drain; each part is a module of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING

import grpc.aio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from saeta import memory_trim
from saeta import relay as relay_seam
from saeta.config import GatewayConfig
from saeta.core import browser_protocol as bp
from saeta.core.origins import is_loopback_peer, origin_allowed
from saeta.core.quotas import Quotas
from saeta.core.session_limits import SessionCaps, SessionLimits
from saeta.core.session_token import fingerprint
from saeta.errors import ControlPlaneUnavailable, SaetaError, SessionRevoked, TooManySockets, Unauthorized
from saeta.gateway import http_query, http_server, pages
from saeta.gateway.audit import AuditLog, Outcomes
from saeta.gateway.browser import CLOSE_TRY_AGAIN_LATER, BrowserSocket, SocketLimits
from saeta.gateway.call_slots import CallSlots
from saeta.gateway.crl import CrlWatcher
from saeta.gateway.data_calls import DataCalls
from saeta.gateway.flight_server import FlightService
from saeta.gateway.flight_server import server_credentials as flight_credentials
from saeta.gateway.flight_server import server_options as flight_options
from saeta.gateway.metrics import GatewayMetrics
from saeta.gateway.peer_link import PeerClients
from saeta.gateway.peer_server import PeerService
from saeta.gateway.presence import Presence
from saeta.gateway.registry import ConnectorRegistry
from saeta.gateway.revocation import InProcessRevocations, RedisRevocations, Revocations
from saeta.gateway.router import Router
from saeta.gateway.sessions import MAX_CALLS_IN_FLIGHT, SessionValidator
from saeta.gateway.tunnel_server import TunnelService, server_credentials, server_options
from saeta.metrics_page import metrics_response
from saeta.web_tls import server_context, warn_if_plaintext

if TYPE_CHECKING:
    from saeta.gateway.data_plane import RustDataPlane

log = logging.getLogger("saeta.gateway")
CONTROL_PLANE_LIMITS = httpx.Limits(max_connections=MAX_CALLS_IN_FLIGHT, max_keepalive_connections=MAX_CALLS_IN_FLIGHT)

PROBE_SECONDS = 5.0  # how often /readyz's view of the control plane is refreshed


class Gateway:
    def __init__(self, cfg: GatewayConfig, revocations: Revocations | None = None) -> None:
        self.cfg = cfg
        self.relay = relay_seam.load(cfg.relay)
        self.registry = ConnectorRegistry()
        self.calls = DataCalls()
        self.revocations = revocations or _revocations(cfg)
        trust = ssl.create_default_context(cafile=cfg.control_plane_ca) if cfg.control_plane_ca else True
        self.http = httpx.AsyncClient(timeout=cfg.connect_seconds, limits=CONTROL_PLANE_LIMITS, verify=trust)
        self.sessions = SessionValidator(
            cfg.secret_key, cfg.control_plane_url, self.revocations, self.http, cfg.session_cache_seconds
        )
        self.sockets: set[BrowserSocket] = set()
        self.session_limits = SessionLimits(
            SessionCaps(cfg.max_sockets_per_session, cfg.max_queries_per_session, cfg.max_subscriptions_per_session)
        )
        self.socket_limits = SocketLimits(
            self.session_limits,
            CallSlots(cfg.max_calls_per_tenant, cfg.max_partitions_per_session),
            Quotas(cfg.quotas),
        )
        self.revocations.subscribe(self._on_revoked)
        self.grpc_ready = False
        # Names the Host header may give for the own-origin check: allowed_hosts, and the
        # address the gateway listens on when it is a specific one.
        bound = () if cfg.host in ("0.0.0.0", "::", "") else (cfg.host.lower().strip("[]"),)
        self._hosts = cfg.allowed_hosts + bound
        self.draining = False  # set on SIGTERM: no new socket is accepted from then on
        self.http_streams: set[http_query.HttpStream] = set()  # POST /query answers being streamed
        self.tunnels = TunnelService(
            cfg,
            self.registry,
            self.calls,
            CrlWatcher(cfg.crl, cfg.ca_cert.read_bytes(), self._on_crl_change),
            self.relay,
        )
        self.data_plane: RustDataPlane | None = None
        self.revocations.subscribe_crl(self.tunnels.crl.accept_pushed)
        # One of several replicas (docs/scaling.md): presence in Redis, peer calls both ways.
        self.presence: Presence | None = None
        self.peers: PeerClients | None = None
        self.peer_service: PeerService | None = None
        replica = cfg.replica
        if replica is not None and cfg.redis_url is not None:
            self.presence = Presence(
                cfg.redis_url, replica.id, replica.peer_address, replica.presence_seconds, cfg.connect_seconds
            )
            self.registry.listeners.append(self.presence.on_tunnel)
            self.presence.on_replicas = self.socket_limits.quotas.share
            self.peers = PeerClients(cfg, replica, self.relay)
            self.peer_service = PeerService(
                cfg, self.registry, self.calls, self.socket_limits.slots, self.tunnels.crl, self.relay
            )
        self.router = Router(self.registry, self.presence, self.peers)
        self.metrics = GatewayMetrics(self._metric_state, self.relay.IMPLEMENTATION)
        self.audit = AuditLog(cfg.audit_file)
        self.outcomes = Outcomes(self.metrics, self.audit, replica.id if replica is not None else "")
        if isinstance(self.revocations, RedisRevocations):
            self.revocations.on_delay = self.metrics.revocation_delay.observe
        self.flight = FlightService(self) if cfg.flight.port is not None else None
        self.flight_port: int | None = None  # the Flight endpoint's port once listening
        self.tls = server_context(cfg.https)  # TLS on http_port; a certificate that does not load stops the start

    def reload_certificates(self) -> None:
        """SIGHUP: the https certificate read again now (it is also polled)."""
        if self.tls is not None:
            self.tls.reload()

    def _on_crl_change(self, revoked: frozenset[int]) -> None:
        self.tunnels.cut_revoked(revoked)

    def _on_revoked(self, sid: str) -> None:
        for sock in list(self.sockets):
            sock.on_revoked(sid)
        for stream in list(self.http_streams):
            stream.on_revoked(sid)
        if self.flight is not None:
            self.flight.on_revoked(sid)

    # --- HTTP

    def app(self) -> Starlette:
        routes: list[Route | WebSocketRoute | Mount] = [
            *pages.routes(),
            Route("/healthz", self.healthz),
            Route("/livez", self.healthz),
            Route("/readyz", self.readyz),
            Route("/metrics", self.metrics_page),
            WebSocketRoute("/stream/{session_id}", self.stream),
            Route("/query", self.http_query, methods=["POST"]),
        ]
        return Starlette(routes=routes)

    async def http_query(self, request: Request) -> Response:
        return await http_query.handle(self, request)

    @property
    def own_hosts(self) -> tuple[str, ...]:
        """Names the Host header may give for the own-origin check."""
        return self._hosts

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        revocation = self.revocations.status()
        reachable = self.sessions.reachable
        ready = self._ready()
        body = {
            "ready": ready,
            "draining": self.draining,
            "control_plane": {"reachable": reachable},
            "connectors": self.registry.count(),
            "sockets": len(self.sockets),
            "relay": self.relay.IMPLEMENTATION,
            "revocation": revocation,
            "revoked_certificates": len(self.tunnels.crl.revoked),
            **({"replica": self.presence.status()} if self.presence is not None else {}),
        }
        peer = request.client.host if request.client else None
        if self.cfg.readyz_details != "everyone" and not is_loopback_peer(peer):
            body = {"ready": ready}  # a load balancer needs the status; the rest is the operator's
        return JSONResponse(body, status_code=200 if ready else 503)

    def _metric_state(self) -> dict[str, tuple[str, float]]:
        """The gauges /metrics reads when scraped."""
        revocation = self.revocations.status()
        reachable = self.sessions.reachable
        https = {}
        if self.tls is not None:
            https["saeta_gateway_https_certificate_expiry_timestamp_seconds"] = (
                "when the https certificate being served expires (Unix time)",
                self.tls.not_after.timestamp(),
            )
        redis = {}
        if "connected" in revocation:  # with Redis
            redis = {
                "saeta_gateway_redis_connected": (
                    "1 while the revocation subscription to Redis is up",
                    float(bool(revocation["connected"])),
                ),
                "saeta_gateway_revocation_age_seconds": (
                    "how old the revocation state is (since Redis last answered)",
                    float(revocation["age_seconds"]) if revocation["age_seconds"] is not None else -1.0,
                ),
            }
        return (
            https
            | redis
            | {
                "saeta_gateway_ready": ("1 while /readyz answers 200", float(self._ready())),
                "saeta_gateway_draining": ("1 from SIGTERM on", float(self.draining)),
                "saeta_gateway_tunnels": ("connectors' tunnels held by this gateway", float(self.registry.count())),
                "saeta_gateway_sockets": ("browser sockets open", float(len(self.sockets))),
                "saeta_gateway_http_streams": ("POST /query answers being streamed", float(len(self.http_streams))),
                "saeta_gateway_flight_streams": (
                    "Flight DoGets being streamed",
                    float(len(self.flight.streams) if self.flight is not None else 0),
                ),
                "saeta_gateway_revocation_fresh": (
                    "1 while the revocation state is fresh",
                    float(bool(revocation["fresh"])),
                ),
                "saeta_gateway_control_plane_reachable": (
                    "1 when the control plane last answered, 0 when it did not, -1 before any answer",
                    -1.0 if reachable is None else float(reachable),
                ),
                "saeta_gateway_revoked_certificates": (
                    "connector certificates the CRL revokes",
                    float(len(self.tunnels.crl.revoked)),
                ),
            }
        )

    def _ready(self) -> bool:
        revocation = self.revocations.status()
        reachable = self.sessions.reachable
        return self.grpc_ready and bool(revocation["fresh"]) and not self.draining and reachable is not False

    async def metrics_page(self, request: Request) -> Response:
        """Prometheus' text format; who may read it follows ``metrics_access``."""
        return metrics_response(request, self.metrics.registry, self.cfg.metrics_access)

    async def stream(self, ws: WebSocket) -> None:
        token = ws.path_params["session_id"]
        origin = ws.headers.get("origin")
        host = ws.headers.get("host")
        if not origin_allowed(origin, self.cfg.allowed_origins, host, ws.url.scheme == "wss", self._hosts):
            log.warning("socket refused code=ORIGIN_REFUSED origin=%.200r host=%.200r", origin, host)
            await ws.close(bp.CLOSE_POLICY)  # before accept: the handshake fails with HTTP 403
            return
        if self.draining:
            await self._refuse_draining(ws, token)
            return
        try:
            async with asyncio.timeout(self.cfg.handshake_seconds):
                session = await self.sessions.validate(token)
        except TimeoutError:
            err = ControlPlaneUnavailable("session check took too long")
            await self._refuse(ws, CLOSE_TRY_AGAIN_LATER, "session check timed out, retry", token, err)
            return
        except SessionRevoked:
            await self._refuse(ws, bp.CLOSE_REVOKED, "session revoked", token)
            return
        except Unauthorized as err:
            await self._refuse(ws, bp.CLOSE_SESSION_INVALID, "session invalid or expired", token, err)
            return
        except ControlPlaneUnavailable as err:  # also REVOCATION_STALE
            await self._refuse(ws, CLOSE_TRY_AGAIN_LATER, f"{err.code}: retry later", token, err)
            return
        if not self.session_limits.open_socket(session.sid):
            n = self.cfg.max_sockets_per_session
            refused = TooManySockets(f"the session has {n} sockets open already (limits.max_sockets_per_session)")
            await self._refuse(ws, bp.CLOSE_TOO_MANY_SOCKETS, f"at most {n} sockets per session", token, refused)
            return
        try:
            await ws.accept()
            sock = BrowserSocket(
                ws,
                token,
                session,
                self.cfg,
                self.router,
                self.calls,
                self.sessions,
                self.relay,
                self.socket_limits,
                self.outcomes,
            )
            self.sockets.add(sock)
            log.info("socket open tenant=%s user=%s session=%s", session.tenant, session.user_id, sock.fp)
            try:
                if self.draining:  # the stop came during the session check or accept: the drain's list missed it
                    await sock.close(bp.CLOSE_GOING_AWAY, "gateway shutting down")
                await sock.run()
            finally:
                self.sockets.discard(sock)
                log.info("socket closed tenant=%s session=%s", session.tenant, sock.fp)
        finally:
            self.session_limits.close_socket(session.sid)

    async def _refuse_draining(self, ws: WebSocket, token: str) -> None:
        err = SaetaError("the gateway is shutting down: reconnect", code="GATEWAY_DRAINING")
        await self._refuse(ws, bp.CLOSE_GOING_AWAY, "gateway shutting down", token, err)

    async def _refuse(self, ws: WebSocket, code: int, reason: str, token: str, err: SaetaError | None = None) -> None:
        log.info(
            "socket refused code=%s close=%d session=%s: %s",
            err.code if err else "SESSION_REVOKED",
            code,
            fingerprint(token),
            err.message if err else reason,
        )
        # Accept first so the browser sees our close code, not a bare HTTP 403.
        await ws.accept()
        await ws.close(code, reason)

    # --- process

    async def serve(self, stop: asyncio.Event) -> None:
        """Runs both servers until ``stop`` is set, then drains and closes."""
        await self.revocations.start()
        if self.presence is not None:
            await self.presence.start()
        self.tunnels.crl.poll()  # revoked certificates are refused from the first handshake
        crl_task = asyncio.create_task(self.tunnels.crl.run(), name="crl-watch")
        probe_task = asyncio.create_task(self._probe_control_plane(), name="control-plane-probe")
        trim_task = asyncio.create_task(
            memory_trim.trim_while_running(self.cfg.memory_trim_seconds), name="memory-trim"
        )
        grpc_server = grpc.aio.server(options=server_options(self.cfg))
        grpc_server.add_generic_rpc_handlers(
            [self.tunnels.handlers(), *([self.peer_service.handlers()] if self.peer_service else [])]
        )
        address = f"{self.cfg.host}:{self.cfg.grpc_port}"
        if grpc_server.add_secure_port(address, server_credentials(self.cfg)) == 0:
            raise SaetaError(f"cannot listen for tunnels on {address}", code="LISTEN_FAILED")
        await grpc_server.start()
        flight_server = await self._start_flight()
        self._start_data_plane()
        self.grpc_ready = True
        server = http_server.build(self.cfg, self.app(), self.tls)
        http_task = asyncio.create_task(server.serve())
        reload_task = (
            asyncio.create_task(self.tls.watch(self.cfg.https.reload_seconds), name="https-reload")
            if self.tls is not None
            else None
        )
        warn_if_plaintext("the gateway", self.cfg.host, self.cfg.http_port, self.tls is not None)
        log.info(
            "gateway listening %s=%s:%d grpc=%s data=%s flight=%s relay=%s",
            "https" if self.tls is not None else "http",
            self.cfg.host,
            self.cfg.http_port,
            address,
            self.tunnels.data_port or "grpc",
            self.flight_port or "off",
            self.relay.IMPLEMENTATION,
        )
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        log.info("gateway stopping: no new sockets, closing %d open ones with 1001", len(self.sockets))
        self.draining = True
        self.grpc_ready = False
        if self.presence is not None:  # first: the other replicas stop routing here
            await self.presence.close()
        for sock in list(self.sockets):
            await sock.close(bp.CLOSE_GOING_AWAY, "gateway shutting down")
        for stream in list(self.http_streams):
            stream.end(SaetaError("the gateway is shutting down: run the query again", code="GATEWAY_DRAINING"))
        if self.flight is not None:
            self.flight.drain()
        server.should_exit = True
        self.registry.close_all("gateway shutting down")
        await grpc_server.stop(grace=5)
        if flight_server is not None:
            await flight_server.stop(grace=5)
        if self.data_plane is not None:
            self.data_plane.close()
        with contextlib.suppress(asyncio.CancelledError):
            await http_task
        stop_task.cancel()
        crl_task.cancel()
        trim_task.cancel()
        probe_task.cancel()
        if reload_task is not None:
            reload_task.cancel()
        await self.http.aclose()
        if self.peers is not None:
            await self.peers.close()
        await self.revocations.close()
        self.audit.close()
        if http_task.done() and not http_task.cancelled() and http_task.exception():
            raise SaetaError("the HTTP server failed to start", code="LISTEN_FAILED")
        log.info("gateway stopped")

    async def _probe_control_plane(self) -> None:
        """Readiness follows the control plane: asked every PROBE_SECONDS, each time
        bounded by timeouts.connect_seconds (a hung one is not answering)."""
        while True:
            try:
                async with asyncio.timeout(self.cfg.connect_seconds):
                    await self.sessions.probe()
            except TimeoutError:
                self.sessions.reachable = False
            await asyncio.sleep(PROBE_SECONDS)

    async def _start_flight(self) -> grpc.aio.Server | None:
        """The Arrow Flight / Flight SQL endpoint on flight.port, when configured."""
        flight, fcfg = self.flight, self.cfg.flight
        if flight is None or fcfg.port is None or fcfg.cert is None or fcfg.key is None:
            return None
        server = grpc.aio.server(options=flight_options(fcfg.max_message_bytes, self.cfg.handshake_seconds))
        server.add_generic_rpc_handlers([flight.handlers()])
        address = f"{self.cfg.host}:{fcfg.port}"
        port = server.add_secure_port(address, flight_credentials(fcfg.cert.read_bytes(), fcfg.key.read_bytes()))
        if port == 0:
            raise SaetaError(f"cannot listen for Flight clients on {address}", code="LISTEN_FAILED")
        await server.start()
        self.flight_port = port
        return server

    def _start_data_plane(self) -> None:
        """DoGet from Rust on data_port, when configured and the Rust relay is in use."""
        if self.cfg.data_port is None:
            return
        if self.relay.IMPLEMENTATION != "rust":
            log.warning("data_port %d unused: the Python relay serves DoGet on grpc_port", self.cfg.data_port)
            if self.peers is not None and self.peers.data_address is not None:
                log.warning("replica.data_address unused: without the data plane, forwarded data is relayed")
                self.peers.data_address = None
            return
        # Imported here: the data plane is the Rust extension's, absent where it is not built.
        from saeta.gateway.data_plane import RustDataPlane

        plane = RustDataPlane(self.cfg, self.tunnels.claim_data_call)
        plane.start(self.cfg.data_port)
        self.data_plane = plane
        self.tunnels.data_port = plane.port


def _revocations(cfg: GatewayConfig) -> Revocations:
    if cfg.redis_url is None:
        return InProcessRevocations()
    return RedisRevocations(cfg.redis_url, cfg.revocation_stale_seconds, cfg.connect_seconds)
