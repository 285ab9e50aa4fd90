"""Configuration: each process's file is parsed and validated once, at startup, into a
frozen dataclass. Every refusal names the file and the dotted key (``ConfigError``).
Relative paths resolve against the config file's folder. Keys are documented in
docs/configuration.md."""

from __future__ import annotations

import itertools
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from saeta.core import browser_protocol as bp
from saeta.core.names import is_dataset_name, is_tenant_id
from saeta.core.quotas import QuotaCaps
from saeta.core.session_token import MIN_SECRET_CHARS
from saeta.errors import ConfigError

MAX_CONFIG_BYTES = 1024 * 1024
_REQUIRED: Any = object()


class _Section:
    """Typed access to one mapping of a config file, with error messages naming the key."""

    def __init__(self, file: Path, data: Mapping[str, Any], prefix: str = "") -> None:
        self.file, self.data, self.prefix = file, data, prefix
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.key(name)}: {problem}")

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if default is _REQUIRED:
                raise self.fail(name, "missing (required)")
            return default
        return self.data[name]

    def section(self, name: str, required: bool = False) -> _Section:
        value = self.raw(name, _REQUIRED if required else {})
        if not isinstance(value, Mapping):
            raise self.fail(name, f"expected a mapping, got {type(value).__name__}")
        return _Section(self.file, value, f"{self.key(name)}.")

    def string(self, name: str, default: Any = _REQUIRED, choices: tuple[str, ...] = ()) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {type(value).__name__}")
        if choices and value not in choices:
            raise self.fail(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(self, name: str, default: Any = _REQUIRED, lo: int = 0, hi: int = 2**31) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.fail(name, f"expected an integer from {lo} to {hi}, got {value!r}")
        return value

    def number(self, name: str, default: Any = _REQUIRED, lo: float = 0.0, hi: float = 1e9) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.fail(name, f"expected a number from {lo} to {hi}, got {value!r}")
        return float(value)

    def boolean(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default)
        if value is default:
            return value
        if not isinstance(value, bool):
            raise self.fail(name, f"expected true or false, got {type(value).__name__}")
        return value

    def str_list(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.raw(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "expected a list of strings")
        return tuple(value)

    def readable_file(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.string(name, default)
        if value is default:  # an absent optional key (raw() raised for a required one)
            return value
        path = resolve(self.file, value)
        if not path.is_file():
            raise self.fail(name, f"file not found: {path}")
        if not os.access(path, os.R_OK):
            raise self.fail(name, f"file not readable: {path}")
        return path

    def secret(self, name: str) -> str:
        value: str = self.string(name)
        if len(value) < MIN_SECRET_CHARS:
            raise self.fail(name, f"must be at least {MIN_SECRET_CHARS} characters")
        return value

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def resolve(config_file: Path, value: str) -> Path:
    """A path from a config file: absolute, or relative to the file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config_file.parent / path)


def load_yaml(path: str | os.PathLike[str]) -> tuple[Path, _Section]:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{file}: larger than {MAX_CONFIG_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{file}: expected a mapping at the top level")
    return file.resolve(), _Section(file.resolve(), data)


# --------------------------------------------------------------------------- logging


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class LoggingConfig:
    level: LogLevel = "INFO"
    format: LogFormat = "text"


def _logging(root: _Section) -> LoggingConfig:
    sec = root.section("logging")
    level = sec.string("level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise sec.fail("level", f"expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    cfg = LoggingConfig(level=level, format=sec.string("format", "text", ("text", "json")))
    sec.check_unknown()
    return cfg


# --------------------------------------------------------------------------- connector

SourceType = Literal["csv", "json", "parquet", "postgresql", "sqlserver", "odbc"]
SOURCE_TYPES: tuple[SourceType, ...] = ("csv", "json", "parquet", "postgresql", "sqlserver", "odbc")
FILE_TYPES = ("csv", "json", "parquet")
SQL_DIALECTS = ("postgresql", "sqlserver")
MAX_PARTITION_BOUNDS = 255
_PASSWORD_KEY = re.compile(r"(?:^|;)\s*(?:pwd|password)\s*=", re.IGNORECASE)
_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


@dataclass(frozen=True)
class KeyRanges:
    """Partitions of a database dataset by ranges of one column: rows where it is null, below
    the first bound, between each pair of bounds, and from the last bound up."""

    column: str
    bounds: tuple[str | int | float, ...]  # increasing; converted to the column's type when used


@dataclass(frozen=True)
class SqlDataset:
    """A database dataset: a table, or a query with named parameters (``:name``)."""

    uri: str  # postgresql: the URI, without the password; ODBC: the connection string, without it
    password_env: str | None
    password_file: Path | None
    table: tuple[str, ...] | None  # (schema, name) or (name,)
    query: str | None
    parameters: Mapping[str, str | int | float | bool | None]
    driver: Literal["adbc", "odbc"] = "adbc"
    dialect: str = "postgresql"
    user: str | None = None  # ODBC: given to the driver apart from the connection string
    partition_by: KeyRanges | None = None
    max_text_size: int = 4096  # ODBC: bytes per value of an unbounded text column


@dataclass(frozen=True)
class LiveConfig:
    """How subscriptions follow a dataset (docs/sources.md, "Live data")."""

    cursor: str | None  # databases: a column that only grows; files: None
    poll_seconds: float


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    type: SourceType
    paths: tuple[str, ...]  # absolute paths or globs; empty for a database
    options: Mapping[str, Any] = field(default_factory=dict)
    sql: SqlDataset | None = None
    columns: tuple[str, ...] | None = None  # the columns exposed at all; None = every column
    live: LiveConfig | None = None  # None: subscriptions are refused


@dataclass(frozen=True)
class ConnectorConfig:
    file: Path
    grpc_uri: str
    server_name: str | None
    ca_cert: Path
    client_cert: Path
    client_key: Path
    tenant_id: str
    max_chunk_size: int
    chunk_bytes: int
    reconnect_delay: float
    max_reconnect_delay: float
    connect_timeout: float
    max_message_bytes: int
    max_concurrent_reads: int
    max_subscriptions: int
    memory_trim_seconds: float
    datasets: Mapping[str, DatasetConfig]
    logging: LoggingConfig


def _dataset(root: _Section, name: str, value: Any) -> DatasetConfig:
    if not isinstance(name, str) or not is_dataset_name(name):
        raise root.fail(f"datasets.{name}", "dataset names are 1-128 of A-Z a-z 0-9 _ . -")
    if not isinstance(value, Mapping):
        raise root.fail(f"datasets.{name}", "expected a mapping with type and path")
    sec = _Section(root.file, value, f"datasets.{name}.")
    kind = sec.string("type", choices=SOURCE_TYPES)
    columns_list = sec.str_list("columns", None)
    columns = tuple(columns_list) if columns_list is not None else None
    if columns is not None and (not columns or len(set(columns)) != len(columns)):
        raise sec.fail("columns", "expected a non-empty list of distinct column names")
    live = _live(sec, kind)
    if kind not in FILE_TYPES:
        sql = _sql_dataset(root, sec, kind)
        sec.check_unknown()
        return DatasetConfig(name=name, type=kind, paths=(), sql=sql, columns=columns, live=live)
    raw_paths = sec.str_list("path")
    if not raw_paths:
        raise sec.fail("path", "expected at least one path or glob")
    paths = tuple(str(resolve(root.file, p)) for p in raw_paths)
    options = sec.section("options").data
    sec.check_unknown()
    return DatasetConfig(name=name, type=kind, paths=paths, options=dict(options), columns=columns, live=live)


def _live(sec: _Section, kind: str) -> LiveConfig | None:
    """``live``: how a subscription follows the dataset. Files can always be followed (the
    key only tunes the poll); a database needs a cursor column."""
    raw = sec.raw("live", None)
    if raw is None:
        return LiveConfig(None, 1.0) if kind in FILE_TYPES else None
    if not isinstance(raw, Mapping):
        raise sec.fail("live", "expected a mapping (cursor, poll_seconds)")
    live = _Section(sec.file, raw, sec.key("live") + ".")
    cursor = live.string("cursor", None) if kind not in FILE_TYPES else None
    if kind not in FILE_TYPES and cursor is None:
        raise live.fail("cursor", "a database dataset is followed by a cursor column: give its name")
    poll = live.number("poll_seconds", 1.0, 0.05, 3600)
    live.check_unknown()
    return LiveConfig(cursor, poll)


def braced(value: str) -> str:
    """An ODBC connection string attribute value, in braces when it needs them."""
    if not value or any(c in value for c in ";{}= ") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def sqlserver_connection_string(
    server: str, port: int, database: str, driver: str, encrypt: bool, trust_server_certificate: bool
) -> str:
    """The connection string for Microsoft's ODBC Driver 17/18 for SQL Server, or FreeTDS
    (named in ``driver``), without credentials (they are given to the driver apart)."""
    if "freetds" in driver.lower():
        keys = [("Driver", driver), ("Server", server), ("Port", str(port)), ("Database", database)]
        keys.append(("TDS_Version", "7.4"))
        keys.append(("Encryption", "require" if encrypt else "request"))
    else:
        keys = [("Driver", driver), ("Server", f"tcp:{server},{port}"), ("Database", database)]
        keys.append(("Encrypt", "yes" if encrypt else "no"))
        keys.append(("TrustServerCertificate", "yes" if trust_server_certificate else "no"))
    return "".join(f"{k}={braced(v)};" for k, v in keys)


def _sql_location(sec: _Section, kind: str) -> tuple[str, str, str, str | None]:
    """(driver, dialect, uri or connection string, user) of a database dataset."""
    if kind == "postgresql":
        uri = sec.string("uri")
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise sec.fail("uri", "expected postgresql://user@host[:port]/database")
        if parts.password is not None:
            raise sec.fail("uri", "the password must not be in the URI: use password_env or password_file")
        return "adbc", "postgresql", uri, None
    if kind == "odbc":
        conn = sec.string("connection_string")
        if _PASSWORD_KEY.search(conn):
            raise sec.fail("connection_string", "no password here: use password_env or password_file")
        dialect = sec.string("dialect", choices=SQL_DIALECTS)
        return "odbc", dialect, conn, sec.string("user", None)
    server = sec.string("server")
    database = sec.string("database")
    port = sec.integer("port", 1433, 1, 65535)
    driver = sec.string("driver", "ODBC Driver 18 for SQL Server")
    encrypt = sec.boolean("encrypt", True)
    trust = sec.boolean("trust_server_certificate", False)
    if "freetds" in driver.lower() and encrypt and not trust:
        # FreeTDS checks a server's certificate only against a `ca file` of freetds.conf,
        # which the connector neither writes nor sees: the default "verified" cannot be kept.
        raise sec.fail(
            "trust_server_certificate",
            "FreeTDS does not verify the server's certificate from a connection string: set it to true to "
            "accept an unverified (still encrypted) connection, or use driver: ODBC Driver 18 for SQL Server",
        )
    conn = sqlserver_connection_string(server, port, database, driver, encrypt, trust)
    return "odbc", "sqlserver", conn, sec.string("user")


def _key_ranges(sec: _Section) -> KeyRanges | None:
    raw = sec.raw("partition_by", None)
    if raw is None:
        return None
    part = _Section(sec.file, raw if isinstance(raw, Mapping) else {}, sec.key("partition_by") + ".")
    if not isinstance(raw, Mapping):
        raise sec.fail("partition_by", "expected a mapping with column and bounds")
    column = part.string("column")
    bounds = part.raw("bounds")
    if not isinstance(bounds, list) or not 1 <= len(bounds) <= MAX_PARTITION_BOUNDS:
        raise part.fail("bounds", f"expected a list of 1 to {MAX_PARTITION_BOUNDS} values")
    if not all(isinstance(b, str | int | float) and not isinstance(b, bool) for b in bounds):
        raise part.fail("bounds", "bounds are numbers or strings (dates, times, decimals as strings)")
    if len({type(b) is str for b in bounds}) > 1:
        raise part.fail("bounds", "bounds are all numbers or all strings")
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise part.fail("bounds", "bounds must increase")
    part.check_unknown()
    return KeyRanges(column, tuple(bounds))


def _sql_dataset(root: _Section, sec: _Section, kind: str) -> SqlDataset:
    driver, dialect, uri, user = _sql_location(sec, kind)
    password_env = sec.string("password_env", None)
    password_file_value = sec.string("password_file", None)
    password_file = resolve(root.file, password_file_value) if password_file_value is not None else None
    table_value = sec.string("table", None)
    query = sec.string("query", None)
    if (table_value is None) == (query is None):
        raise sec.fail("table", "give exactly one of table and query")
    table = None
    if table_value is not None:
        table = tuple(table_value.split("."))
        if len(table) > 2 or not all(_SQL_NAME.fullmatch(p) for p in table):
            raise sec.fail("table", "expected name or schema.name (letters, digits, _ and $)")
    if query is not None and len(query) > 100_000:
        raise sec.fail("query", "longer than 100,000 characters")
    params = sec.section("parameters").data
    for key, val in params.items():
        if not (isinstance(key, str) and _SQL_NAME.fullmatch(key)):
            raise sec.fail(f"parameters.{key}", "parameter names are letters, digits and _")
        if not (val is None or isinstance(val, str | int | float | bool)):
            raise sec.fail(f"parameters.{key}", "expected a string, number, boolean or null")
    partition_by = _key_ranges(sec)
    max_text_size = sec.integer("max_text_size", 4096, 16, 16 * 1024 * 1024) if driver == "odbc" else 4096
    return SqlDataset(
        uri=uri,
        password_env=password_env,
        password_file=password_file,
        table=table,
        query=query,
        parameters=dict(params),
        driver="odbc" if driver == "odbc" else "adbc",
        dialect=dialect,
        user=user,
        partition_by=partition_by,
        max_text_size=max_text_size,
    )


def load_connector_config(path: str | os.PathLike[str]) -> ConnectorConfig:
    file, root = load_yaml(path)
    gw = root.section("gateway", required=True)
    grpc_uri = gw.string("grpc_uri")
    gw.string("transport_mode", "grpc", ("grpc",))
    server_name = gw.string("server_name", None)
    gw.check_unknown()
    mtls = root.section("mtls", required=True)
    ca_cert = mtls.readable_file("ca_cert")
    client_cert = mtls.readable_file("client_cert")
    client_key = mtls.readable_file("client_key")
    mtls.check_unknown()
    tenant = root.section("tenant", required=True)
    tenant_id = tenant.string("id")
    if not is_tenant_id(tenant_id):
        raise tenant.fail("id", "tenant ids are 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)")
    tenant.check_unknown()
    perf = root.section("performance")
    max_chunk_size = perf.integer("max_chunk_size", 16384, 1, 10_000_000)
    chunk_bytes = perf.integer("chunk_bytes", 1024 * 1024, 1024, 64 * 1024 * 1024)
    reconnect_delay = perf.number("reconnect_delay", 5.0, 0.01, 3600)
    max_reconnect_delay = perf.number("max_reconnect_delay", 60.0, 0.01, 86400)
    connect_timeout = perf.number("connect_timeout", 10.0, 0.1, 3600)
    max_message_bytes = perf.integer("max_message_bytes", 16 * 1024 * 1024, 64 * 1024, 2**31 - 1)
    max_concurrent_reads = perf.integer("max_concurrent_reads", 8, 1, 256)
    max_subscriptions = perf.integer("max_subscriptions", 64, 1, 10_000)
    connector_trim = perf.number("memory_trim_seconds", 10.0, 0.0, 3600)
    perf.check_unknown()
    if chunk_bytes > max_message_bytes // 2:
        raise perf.fail("chunk_bytes", "must be at most half of performance.max_message_bytes")
    datasets_raw = root.raw("datasets", {})
    if not isinstance(datasets_raw, Mapping):
        raise root.fail("datasets", "expected a mapping from dataset name to source")
    datasets = {name: _dataset(root, name, value) for name, value in datasets_raw.items()}
    logging_cfg = _logging(root)
    root.check_unknown()
    return ConnectorConfig(
        file=file,
        grpc_uri=grpc_uri,
        server_name=server_name,
        ca_cert=ca_cert,
        client_cert=client_cert,
        client_key=client_key,
        tenant_id=tenant_id,
        max_chunk_size=max_chunk_size,
        chunk_bytes=chunk_bytes,
        reconnect_delay=reconnect_delay,
        max_reconnect_delay=max(max_reconnect_delay, reconnect_delay),
        connect_timeout=connect_timeout,
        max_message_bytes=max_message_bytes,
        max_concurrent_reads=max_concurrent_reads,
        max_subscriptions=max_subscriptions,
        memory_trim_seconds=connector_trim,
        datasets=datasets,
        logging=logging_cfg,
    )


# --------------------------------------------------------------------------- gateway

RelayChoice = Literal["auto", "rust", "python"]


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


def _hosts(root: _Section) -> tuple[str, ...]:
    """``allowed_hosts``: names a request's Host header may give for this service besides
    the loopback names (DNS rebinding), lowercased."""
    names = root.str_list("allowed_hosts", ())
    for i, name in enumerate(names):
        if not name or len(name) > 253 or any(c in name for c in "/:@ "):
            raise root.fail(f"allowed_hosts[{i}]", f"expected a host name without port or scheme, got {name!r}")
    return tuple(n.lower() for n in names)


def _origins(root: _Section) -> tuple[str, ...]:
    """``allowed_origins``: exact browser origins, ``scheme://host[:port]``."""
    origins: tuple[str, ...] = root.str_list("allowed_origins", ())
    for i, origin in enumerate(origins):
        if "://" not in origin or origin.rstrip("/") != origin or len(origin) > 512:
            raise root.fail(f"allowed_origins[{i}]", f"expected scheme://host[:port] without a path, got {origin!r}")
    return origins


def _redis_url(root: _Section) -> str | None:
    url: str | None = root.string("redis_url", None)
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        raise root.fail("redis_url", "expected a redis://, rediss:// or unix:// URL")
    return url


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
    tunnels.check_unknown()
    memory_trim_seconds = root.number("memory_trim_seconds", 10.0, 0.0, 3600)
    relay = root.string("relay", "auto", ("auto", "rust", "python"))
    arrow_validation = root.string("arrow_validation", "full", ("full", "framing"))
    logging_cfg = _logging(root)
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
    )


# --------------------------------------------------------------------------- control plane


@dataclass(frozen=True)
class ControlPlaneConfig:
    file: Path
    host: str
    port: int
    database: Path
    secret_key: str
    admin_token: str | None
    admin_token_file: Path
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    redis_url: str | None
    gateway_url: str | None
    max_session_seconds: int
    logging: LoggingConfig


def default_admin_token_file() -> Path:
    """Where the control plane keeps its generated admin token unless told otherwise, and
    where the CLI looks for it: the user's state folder (as Jupyter keeps its tokens in its
    runtime folder), so that on one host the CLI finds it by itself."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "saeta" / "admin-token"


def load_control_plane_config(path: str | os.PathLike[str]) -> ControlPlaneConfig:
    file, root = load_yaml(path)
    host = root.string("host", "127.0.0.1")
    port = root.integer("port", 8090, 0, 65535)
    database = resolve(file, root.string("database", "control-plane.sqlite3"))
    if not database.parent.is_dir():
        raise root.fail("database", f"folder does not exist: {database.parent}")
    secret = root.secret("tableros_secret_key")
    admin_token = root.string("admin_token", None)
    if admin_token is not None and len(admin_token) < 16:
        raise root.fail("admin_token", "must be at least 16 characters")
    token_file = root.string("admin_token_file", None)
    admin_token_file = resolve(file, token_file) if token_file is not None else default_admin_token_file()
    allowed_hosts = _hosts(root)
    allowed_origins = _origins(root)
    redis_url = _redis_url(root)
    gateway_url = root.string("gateway_url", None)
    if gateway_url is not None and not gateway_url.startswith(("http://", "https://")):
        raise root.fail("gateway_url", "expected the gateway's http:// or https:// base URL")
    max_session_seconds = root.integer("max_session_seconds", 7 * 86400, 1, 366 * 86400)
    logging_cfg = _logging(root)
    root.check_unknown()
    return ControlPlaneConfig(
        file=file,
        host=host,
        port=port,
        database=database,
        secret_key=secret,
        admin_token=admin_token,
        admin_token_file=admin_token_file,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        redis_url=redis_url,
        gateway_url=gateway_url.rstrip("/") if gateway_url else None,
        max_session_seconds=max_session_seconds,
        logging=logging_cfg,
    )
