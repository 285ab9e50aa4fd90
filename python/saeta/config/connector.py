"""The connector's config file (docs/configuration.md, "Connector"): datasets, their
sources and live options, and the SQL Server connection string.

Why one file: it is one process's config file, a dataclass per section, each key
declared once."""

from __future__ import annotations

import itertools
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from saeta import extras
from saeta.config._base import (
    LoggingConfig,
    _logging,
    _Section,
    load_yaml,
    resolve,
)
from saeta.core import tunnel_codec
from saeta.core.aggregation import Limits
from saeta.core.names import is_dataset_name, is_tenant_id

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
    # Columns whose values identify a row (unique, not null): resumable queries read each
    # partition ORDER BY them, so a query can be resumed from a row (docs/sources.md).
    key: tuple[str, ...] = ()


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
    # Distinct gateway replicas to hold a tunnel to at once (docs/scaling.md); one
    # gateway alone takes one whatever this says.
    connections: int = 1
    # performance.compression (docs/tunnel.md, "Compression"): "auto" offers zstd and lz4
    # and compresses a query's batches once the tunnel's round trip is at least
    # compression_rtt_ms (a link where bytes cost more than CPU); "lz4" or "zstd": always
    # that codec when the gateway accepts it; "off": never.
    compression: str = "auto"
    compression_rtt_ms: float = 5.0
    # Data calls may go to the replica that asked for them (docs/scaling.md, "Direct
    # data"), at an address the gateway names; False: only ever to grpc_uri's gateway.
    direct_data: bool = True
    # Bounds on one aggregate at the source (docs/configuration.md, "aggregation").
    aggregation: Limits = field(default_factory=Limits)
    # Prometheus metrics on this local port (docs/metrics.md); None: not served.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"


def _aggregation(root: _Section) -> Limits:
    sec, default = root.section("aggregation"), Limits()
    limits = Limits(
        max_rows=sec.integer("max_result_rows", default.max_rows, 1, 10_000_000),
        memory_mb=sec.integer("memory_mb", default.memory_mb, 16, 1024 * 1024),
        threads=sec.integer("threads", default.threads, 1, 64),
    )
    sec.check_unknown()
    return limits


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
        problem = extras.missing_message("postgresql" if sql.driver == "adbc" else "odbc")
        if problem is not None:
            raise sec.fail("type", problem)
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


MAX_KEY_COLUMNS = 8


def _key(sec: _Section) -> tuple[str, ...]:
    raw = sec.raw("key", None)
    if raw is None:
        return ()
    names = [raw] if isinstance(raw, str) else raw
    if (
        not isinstance(names, list)
        or not 1 <= len(names) <= MAX_KEY_COLUMNS
        or not all(isinstance(n, str) and 0 < len(n) <= 128 for n in names)
        or len(set(names)) != len(names)
    ):
        raise sec.fail("key", f"expected a column name or a list of 1 to {MAX_KEY_COLUMNS} distinct names")
    return tuple(names)


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
    row_key = _key(sec)
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
        key=row_key,
    )


def load_connector_config(path: str | os.PathLike[str]) -> ConnectorConfig:
    file, root = load_yaml(path)
    gw = root.section("gateway", required=True)
    grpc_uri = gw.string("grpc_uri")
    gw.string("transport_mode", "grpc", ("grpc",))
    server_name = gw.string("server_name", None)
    connections = gw.integer("connections", 2, 1, 16)
    direct_data = gw.boolean("direct_data", True)
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
    compression = perf.string("compression", "auto", ("auto", "off", "lz4", "zstd"))
    compression_rtt_ms = perf.number("compression_rtt_ms", 5.0, 0.0, 60_000)
    if compression in ("lz4", "zstd") and not tunnel_codec.available(compression):
        raise perf.fail("compression", f"this pyarrow cannot compress {compression}")
    perf.check_unknown()
    if chunk_bytes > max_message_bytes // 2:
        raise perf.fail("chunk_bytes", "must be at most half of performance.max_message_bytes")
    datasets_raw = root.raw("datasets", {})
    if not isinstance(datasets_raw, Mapping):
        raise root.fail("datasets", "expected a mapping from dataset name to source")
    datasets = {name: _dataset(root, name, value) for name, value in datasets_raw.items()}
    logging_cfg = _logging(root)
    aggregation = _aggregation(root)
    metrics = root.section("metrics")
    metrics_port = metrics.integer("port", None, 0, 65535)
    metrics_host = metrics.string("host", "127.0.0.1")
    metrics.check_unknown()
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
        connections=connections,
        direct_data=direct_data,
        compression=compression,
        compression_rtt_ms=compression_rtt_ms,
        aggregation=aggregation,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
    )


# --------------------------------------------------------------------------- gateway
