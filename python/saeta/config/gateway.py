"""The gateway's config file (docs/configuration.md, "Gateway").

Why one file: the gateway's sections are read in one pass over one document, each key
checked against the others it depends on (replica and redis_url, flight and tls)."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from saeta.config._base import (
    LoggingConfig,
    _hosts,
    _logging,
    _origins,
    _redis_url,
    _Section,
    load_yaml,
    resolve,
)
from saeta.config.https import LOOPBACK_PROXIES, HttpsConfig, forwarded_allow_ips, https_section
from saeta.core import browser_protocol as bp
from saeta.core.grpc_target import is_host_port
from saeta.core.names import is_tenant_id
from saeta.core.quotas import QuotaCaps

RelayChoice = Literal["auto", "rust", "python"]


@dataclass(frozen=True)
class ReplicaConfig:
    """One of several gateways (docs/scaling.md): its id, the address its peers call it
    at, the replica-role certificate it calls them with, and (direct data) the address
    connectors reach its data port at."""

    id: str
    peer_address: str
    cert: Path
    key: Path
    server_name: str | None
    presence_seconds: float
    data_address: str | None = None


@dataclass(frozen=True)
class FlightConfig:
    """The Arrow Flight / Flight SQL endpoint (docs/flight.md): off without a port; TLS
    always, with the gateway's server certificate unless ``cert``/``key`` name another."""

    port: int | None = None
    cert: Path | None = None
    key: Path | None = None
    max_message_bytes: int = 2 * 1024 * 1024
    max_endpoints: int = 4


@dataclass(frozen=True)
class GatewayConfig:
    file: Path
    host: str
    http_port: int
    grpc_port: int
    data_port: int | None
    query_seconds: float
    connect_seconds: float
    secret_key: str
    ca_cert: Path
    server_cert: Path
    server_key: Path
    crl: Path
    control_plane_url: str
    allowed_origins: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    readyz_details: str
    redis_url: str | None
    revocation_stale_seconds: float
    ping_interval_seconds: float
    ping_timeout_seconds: float
    handshake_seconds: float
    stalled_seconds: float
    max_frame_bytes: int
    session_cache_seconds: float
    heartbeat_seconds: int
    max_message_bytes: int
    max_queries_per_socket: int
    max_partitions_in_flight: int
    max_unauthenticated_connections: int
    max_sockets_per_session: int
    max_queries_per_session: int
    max_subscriptions_per_session: int
    max_partitions_per_session: int
    max_calls_per_tenant: int
    quotas: QuotaCaps
    max_tunnels_per_tenant: int
    same_certificate: Literal["newest", "refuse"]
    memory_trim_seconds: float
    relay: RelayChoice
    arrow_validation: Literal["full", "framing"]
    logging: LoggingConfig
    replica: ReplicaConfig | None = None
    flight: FlightConfig = FlightConfig()
    metrics_access: Literal["loopback", "everyone", "off"] = "loopback"
    # tunnels.compression: "auto" accepts compressed record batches in the first codec a
    # connector offers that this gateway can decompress (docs/tunnel.md, "Compression");
    # "off" never asks for them.
    tunnel_compression: Literal["auto", "off"] = "auto"
    https: HttpsConfig = field(default_factory=HttpsConfig)
    audit_file: str | None = None  # the audit log's file, "-" for stdout; None: no audit log
    control_plane_ca: Path | None = None  # the CA of the control plane's https certificate; None: the system's
    forwarded_allow_ips: tuple[str, ...] = LOOPBACK_PROXIES


def _tls_file(root: _Section, tls: _Section, key: str, default_name: str) -> Path:
    if key in tls.data:
        path: Path = tls.readable_file(key)
        return path
    tls.used.add(key)
    # The seed's auto-detection: certs/<name> next to the config file.
    guess = root.file.parent / "certs" / default_name
    if not guess.is_file():
        raise tls.fail(key, f"missing, and {guess} does not exist (the default location)")
    return guess


def _replica(root: _Section, redis_url: str | None, data_port: int | None) -> ReplicaConfig | None:
    """The ``replica`` section: absent on a gateway that is the only one."""
    if "replica" not in root.data:
        root.used.add("replica")
        return None
    sec = root.section("replica")
    if redis_url is None:
        raise root.fail("redis_url", "required with replica: replicas find each other through Redis")
    default_id = f"{socket.gethostname()[:40]}-{secrets.token_hex(3)}"
    replica_id = sec.string("id", default_id)
    if not is_tenant_id(replica_id):
        raise sec.fail("id", "expected 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)")
    peer_address = sec.string("peer_address")
    host, _, port = peer_address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in peer_address:
        raise sec.fail(
            "peer_address", f"expected HOST:PORT (this replica's grpc_port as its peers reach it), got {peer_address!r}"
        )
    cfg = ReplicaConfig(
        id=replica_id,
        peer_address=peer_address,
        cert=sec.readable_file("cert"),
        key=sec.readable_file("key"),
        server_name=sec.string("server_name", None),
        presence_seconds=sec.number("presence_seconds", 15.0, 2.0, 3600),
        data_address=sec.string("data_address", None),
    )
    if cfg.data_address is not None:
        if data_port is None:
            raise sec.fail("data_address", "needs data_port: it is where connectors reach this replica's data port")
        if not is_host_port(cfg.data_address):
            raise sec.fail(
                "data_address",
                f"expected HOST:PORT (this replica's data_port as connectors reach it), got {cfg.data_address!r}",
            )
    sec.check_unknown()
    return cfg


def _flight(root: _Section, server_cert: Path, server_key: Path) -> FlightConfig:
    """The ``flight`` section: absent, no Flight endpoint."""
    sec = root.section("flight")
    port = sec.integer("port", None, 0, 65535)
    cert = sec.readable_file("cert", None) or server_cert
    key = sec.readable_file("key", None) or server_key
    if ("cert" in sec.data) != ("key" in sec.data):
        raise sec.fail("cert" if "key" in sec.data else "key", "cert and key go together (else the gateway's own)")
    cfg = FlightConfig(
        port=port,
        cert=cert,
        key=key,
        max_message_bytes=sec.integer("max_message_bytes", FlightConfig.max_message_bytes, 64 * 1024, 64 * 1024 * 1024),
        max_endpoints=sec.integer("max_endpoints", FlightConfig.max_endpoints, 1, 64),
    )
    sec.check_unknown()
    return cfg


def load_gateway_config(path: str | os.PathLike[str]) -> GatewayConfig:
    file, root = load_yaml(path)
    host = root.string("host", "0.0.0.0")
    http_port = root.integer("http_port", 8081, 0, 65535)
    grpc_port = root.integer("grpc_port", 50051, 0, 65535)
    data_port = root.integer("data_port", None, 1, 65535)
    root.string("transport_mode", "grpc", ("grpc",))
    timeouts = root.section("timeouts")
    query_seconds = timeouts.number("query_seconds", 60.0, 0.1, 86400)
    connect_seconds = timeouts.number("connect_seconds", 10.0, 0.1, 3600)
    timeouts.check_unknown()
    secret = root.secret("tableros_secret_key")
    tls = root.section("tls")
    ca_cert = _tls_file(root, tls, "ca_cert", "ca.crt")
    server_cert = _tls_file(root, tls, "server_cert", "server.crt")
    server_key = _tls_file(root, tls, "server_key", "server.key")
    # The CA's revocation list: watched, so it may appear after the gateway started.
    crl_value = tls.string("crl", None)
    crl = resolve(file, crl_value) if crl_value is not None else ca_cert.parent / "crl.pem"
    tls.check_unknown()
    control_plane_url = root.string("control_plane_url")
    if not control_plane_url.startswith(("http://", "https://")):
        raise root.fail("control_plane_url", "expected an http:// or https:// URL")
    allowed_origins = _origins(root)
    allowed_hosts = _hosts(root)
    readyz_details = root.string("readyz_details", "loopback", ("loopback", "everyone"))
    metrics_access = root.string("metrics_access", "loopback", ("loopback", "everyone", "off"))
    https = https_section(root)
    proxies = forwarded_allow_ips(root)
    control_plane_ca = root.readable_file("control_plane_ca", None)
    audit = root.section("audit")
    audit_value = audit.string("file", None)
    audit_file = audit_value if audit_value in (None, "-") else str(resolve(file, audit_value))
    if audit_file not in (None, "-") and not Path(audit_file).parent.is_dir():
        raise audit.fail("file", f"folder does not exist: {Path(audit_file).parent}")
    audit.check_unknown()
    redis_url = _redis_url(root)
    revocation = root.section("revocation")
    revocation_stale_seconds = revocation.number("stale_seconds", 10.0, 0.5, 86400)
    revocation.check_unknown()
    websocket = root.section("websocket")
    ping_interval = websocket.number("ping_interval_seconds", 20.0, 0.1, 3600)
    ping_timeout = websocket.number("ping_timeout_seconds", 20.0, 0.1, 3600)
    handshake_seconds = websocket.number("handshake_seconds", 10.0, 0.1, 3600)
    stalled_seconds = websocket.number("stalled_seconds", 30.0, 0.5, 3600)
    max_frame_bytes = websocket.integer(
        "max_frame_bytes", bp.DEFAULT_MAX_FRAME_BYTES, bp.MIN_MAX_FRAME_BYTES, 64 * 1024 * 1024
    )
    websocket.check_unknown()
    session_cache_seconds = root.number("session_cache_seconds", 5.0, 0.0, 3600)
    heartbeat_seconds = root.integer("heartbeat_seconds", 10, 1, 3600)
    limits = root.section("limits")
    max_message_bytes = limits.integer("max_message_bytes", 16 * 1024 * 1024, 64 * 1024, 2**31 - 1)
    max_queries = limits.integer("max_queries_per_socket", 16, 1, 10_000)
    max_partitions = limits.integer("max_partitions_in_flight", 4, 1, 64)
    max_unauthenticated = limits.integer("max_unauthenticated_connections", 1024, 1, 1_000_000)
    per_session = {
        "sockets": limits.integer("max_sockets_per_session", 8, 1, 10_000),
        "queries": limits.integer("max_queries_per_session", 32, 1, 100_000),
        "subscriptions": limits.integer("max_subscriptions_per_session", 8, 1, 10_000),
        "partitions": limits.integer("max_partitions_per_session", 16, 1, 10_000),
    }
    # A connector's data calls share one HTTP/2 connection of at most 256 streams (the
    # data plane's), which subscriptions use too: the tenant's queries keep below it.
    max_calls_per_tenant = limits.integer("max_calls_per_tenant", 128, 1, 192)
    limits.check_unknown()
    quotas = root.section("quotas")
    defaults = QuotaCaps()
    quota_caps = QuotaCaps(
        **{
            name: quotas.integer(name, getattr(defaults, name), 0, 2**40)
            for name in (
                "queries_per_minute_per_user",
                "queries_per_minute_per_tenant",
                "concurrent_queries_per_user",
                "concurrent_queries_per_tenant",
                "bytes_per_second_per_user",
                "bytes_per_second_per_tenant",
            )
        }
    )
    quotas.check_unknown()
    tunnels = root.section("tunnels")
    max_tunnels_per_tenant = tunnels.integer("max_per_tenant", 8, 1, 1000)
    same_certificate = tunnels.string("same_certificate", "newest", ("newest", "refuse"))
    tunnel_compression = tunnels.string("compression", "auto", ("auto", "off"))
    tunnels.check_unknown()
    memory_trim_seconds = root.number("memory_trim_seconds", 10.0, 0.0, 3600)
    relay = root.string("relay", "auto", ("auto", "rust", "python"))
    arrow_validation = root.string("arrow_validation", "full", ("full", "framing"))
    logging_cfg = _logging(root)
    replica = _replica(root, redis_url, data_port)
    flight = _flight(root, server_cert, server_key)
    root.check_unknown()
    return GatewayConfig(
        file=file,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        data_port=data_port,
        query_seconds=query_seconds,
        connect_seconds=connect_seconds,
        secret_key=secret,
        ca_cert=ca_cert,
        server_cert=server_cert,
        server_key=server_key,
        crl=crl,
        control_plane_url=control_plane_url.rstrip("/"),
        allowed_origins=allowed_origins,
        allowed_hosts=allowed_hosts,
        readyz_details=readyz_details,
        redis_url=redis_url,
        revocation_stale_seconds=revocation_stale_seconds,
        ping_interval_seconds=ping_interval,
        ping_timeout_seconds=ping_timeout,
        handshake_seconds=handshake_seconds,
        stalled_seconds=stalled_seconds,
        max_frame_bytes=max_frame_bytes,
        session_cache_seconds=session_cache_seconds,
        heartbeat_seconds=heartbeat_seconds,
        max_message_bytes=max_message_bytes,
        max_queries_per_socket=max_queries,
        max_partitions_in_flight=max_partitions,
        max_unauthenticated_connections=max_unauthenticated,
        max_sockets_per_session=per_session["sockets"],
        max_queries_per_session=per_session["queries"],
        max_subscriptions_per_session=per_session["subscriptions"],
        max_partitions_per_session=per_session["partitions"],
        max_calls_per_tenant=max_calls_per_tenant,
        quotas=quota_caps,
        max_tunnels_per_tenant=max_tunnels_per_tenant,
        same_certificate=same_certificate,
        memory_trim_seconds=memory_trim_seconds,
        relay=relay,
        arrow_validation=arrow_validation,
        logging=logging_cfg,
        replica=replica,
        flight=flight,
        metrics_access=metrics_access,
        tunnel_compression=tunnel_compression,
        https=https,
        forwarded_allow_ips=proxies,
        control_plane_ca=control_plane_ca,
        audit_file=audit_file,
    )


# --------------------------------------------------------------------------- control plane
