from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from saeta import certs
from saeta.config import (
    KeyRanges,
    LiveConfig,
    braced,
    load_connector_config,
    load_control_plane_config,
    load_gateway_config,
    sqlserver_connection_string,
)
from saeta.errors import ConfigError

SECRET = "s" * 40


def write(tmp_path: Path, obj: Any, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_gateway_defaults_and_cert_autodetection(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    cfg = load_gateway_config(write(tmp_path, {"tableros_secret_key": SECRET, "control_plane_url": "http://cp/"}))
    assert (cfg.http_port, cfg.grpc_port, cfg.query_seconds, cfg.connect_seconds) == (8081, 50051, 60.0, 10.0)
    assert cfg.ca_cert == (tmp_path / "certs/ca.crt").resolve()
    assert cfg.control_plane_url == "http://cp"


def test_connector_seed_keys_and_relative_paths(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    cfg = load_connector_config(
        write(
            tmp_path,
            """
gateway: {grpc_uri: "gw:50051", transport_mode: grpc}
mtls: {ca_cert: certs/ca.crt, client_cert: certs/clients/t1/client.crt, client_key: certs/clients/t1/client.key}
tenant: {id: t1}
performance: {max_chunk_size: 100, reconnect_delay: 2}
logging: {level: debug}
datasets:
  v: {type: csv, path: data/*.csv, options: {delimiter: ";"}}
""",
        )
    )
    assert (cfg.max_chunk_size, cfg.reconnect_delay, cfg.logging.level) == (100, 2.0, "DEBUG")
    assert cfg.datasets["v"].paths == (str(tmp_path.resolve() / "data/*.csv"),)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[1, 2]", "top level"),
        ("a: [", "not valid YAML"),
        ({"control_plane_url": "http://x"}, "tableros_secret_key: missing"),
        ({"tableros_secret_key": SECRET, "control_plane_url": "ftp://x"}, "control_plane_url"),
        ({"tableros_secret_key": SECRET, "control_plane_url": "http://x", "grpc_port": True}, "grpc_port"),
        ({"tableros_secret_key": SECRET, "control_plane_url": "http://x", "typo": 1}, "typo: unknown key"),
        ({"tableros_secret_key": SECRET, "control_plane_url": "http://x", "tls": {"ca_cert": "no.crt"}}, "tls.ca_cert"),
    ],
)
def test_gateway_errors_name_file_and_key(tmp_path: Path, text: Any, key: str) -> None:
    certs.init_ca(tmp_path / "certs")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_gateway_config(path)
    assert str(path.resolve()) in err.value.message or str(path) in err.value.message
    assert key in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_control_plane_config(tmp_path / "nope.yaml")


def test_gateway_browser_and_revocation_keys(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    base = {"tableros_secret_key": SECRET, "control_plane_url": "http://cp"}
    cfg = load_gateway_config(write(tmp_path, base))
    assert cfg.crl == (tmp_path / "certs" / "crl.pem").resolve()
    assert (cfg.redis_url, cfg.allowed_origins, cfg.revocation_stale_seconds) == (None, (), 10.0)
    assert (cfg.handshake_seconds, cfg.ping_interval_seconds, cfg.ping_timeout_seconds) == (10.0, 20.0, 20.0)
    cfg = load_gateway_config(
        write(
            tmp_path,
            {
                **base,
                "redis_url": "redis://r:6379/0",
                "allowed_origins": ["https://app.example.com"],
                "revocation": {"stale_seconds": 3},
                "websocket": {"handshake_seconds": 2},
                "tls": {"crl": "revoked.pem"},
            },
        )
    )
    assert (cfg.redis_url, cfg.allowed_origins, cfg.revocation_stale_seconds, cfg.handshake_seconds) == (
        "redis://r:6379/0",
        ("https://app.example.com",),
        3.0,
        2.0,
    )
    assert cfg.crl == (tmp_path / "revoked.pem").resolve()
    for bad, key in [
        ({"redis_url": "http://r"}, "redis_url"),
        ({"allowed_origins": ["https://app.example.com/"]}, "allowed_origins[0]"),
        ({"allowed_origins": ["app.example.com"]}, "allowed_origins[0]"),
        ({"websocket": {"ping_timeout_seconds": 0}}, "websocket.ping_timeout_seconds"),
        ({"revocation": {"stale": 3}}, "revocation.stale"),
    ]:
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            load_gateway_config(write(tmp_path, {**base, **bad}))


def test_control_plane_redis_and_gateway_url(tmp_path: Path) -> None:
    cfg = load_control_plane_config(
        write(
            tmp_path,
            {
                "tableros_secret_key": SECRET,
                "redis_url": "redis://r/1",
                "gateway_url": "https://gw.example.com/",
            },
        )
    )
    assert (cfg.redis_url, cfg.gateway_url) == ("redis://r/1", "https://gw.example.com")
    with pytest.raises(ConfigError, match="gateway_url"):
        load_control_plane_config(write(tmp_path, {"tableros_secret_key": SECRET, "gateway_url": "gw:8081"}))


CONNECTOR_HEAD = """
gateway: {grpc_uri: "gw:50051"}
mtls: {ca_cert: certs/ca.crt, client_cert: certs/clients/t1/client.crt, client_key: certs/clients/t1/client.key}
tenant: {id: t1}
"""


PG_DATASETS = """
datasets:
  t: {type: postgresql, uri: "postgresql://u@db:5432/ventas", password_env: PGPASS, table: public.pedidos,
      columns: [id, total]}
  q: {type: postgresql, uri: "postgres://u@db/ventas", password_file: secrets/pg.pass,
      query: "SELECT * FROM p WHERE r = :r", parameters: {r: norte}}
"""


def test_postgresql_dataset_keys(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    text = "".join([CONNECTOR_HEAD, PG_DATASETS])
    cfg = load_connector_config(write(tmp_path, text))
    t, q = cfg.datasets["t"].sql, cfg.datasets["q"].sql
    assert t is not None and q is not None
    assert (t.table, cfg.datasets["t"].columns, t.password_env, t.query) == (
        ("public", "pedidos"),
        ("id", "total"),
        "PGPASS",
        None,
    )
    assert q.password_file == (tmp_path / "secrets/pg.pass").resolve()
    assert dict(q.parameters) == {"r": "norte"}
    assert cfg.datasets["t"].paths == ()


@pytest.mark.parametrize(
    ("dataset", "key"),
    [
        ({"uri": "postgresql://u:pw@db/x", "table": "t"}, "the password must not be in the URI"),
        ({"uri": "mysql://u@db/x", "table": "t"}, "datasets.d.uri"),
        ({"uri": "postgresql://u@db/x"}, "exactly one of table and query"),
        ({"uri": "postgresql://u@db/x", "table": "t", "query": "SELECT 1"}, "exactly one of table and query"),
        ({"uri": "postgresql://u@db/x", "table": "a.b.c"}, "datasets.d.table"),
        ({"uri": "postgresql://u@db/x", "table": 't"; DROP TABLE x; --'}, "datasets.d.table"),
        ({"uri": "postgresql://u@db/x", "query": "SELECT :a", "parameters": {"a": [1]}}, "parameters.a"),
        ({"uri": "postgresql://u@db/x", "table": "t", "path": "x.csv"}, "path: unknown key"),
    ],
)
def test_postgresql_dataset_errors(tmp_path: Path, dataset: dict[str, Any], key: str) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    text = CONNECTOR_HEAD + "datasets:\n  d: " + json.dumps({"type": "postgresql", **dataset}) + "\n"
    with pytest.raises(ConfigError) as err:
        load_connector_config(write(tmp_path, text))
    assert key in err.value.message


SQLSERVER_DATASETS = """
datasets:
  pedidos:
    type: sqlserver
    server: sql01.example.local
    database: Ventas
    user: saeta_reader
    password_env: SAETA_MSSQL_PASSWORD
    trust_server_certificate: true
    table: dbo.Pedidos
    partition_by: {column: Fecha, bounds: ["2024-01-01", "2025-01-01"]}
    key: [Fecha, Id]
  tds:
    type: sqlserver
    driver: FreeTDS
    trust_server_certificate: true  # FreeTDS verifies nothing here: said so explicitly
    server: sql02
    port: 14330
    database: "odd;db"
    user: r
    password_file: secrets/mssql.pass
    query: "SELECT * FROM dbo.Stock WHERE Almacen = :a"
    parameters: {a: 3}
    max_text_size: 65536
  generic:
    type: odbc
    connection_string: "Driver={PostgreSQL Unicode};Server=db;Port=5432;Database=x;"
    dialect: postgresql
    user: u
    password_env: P
    table: t
"""


def test_sqlserver_and_odbc_dataset_keys(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    cfg = load_connector_config(write(tmp_path, CONNECTOR_HEAD + SQLSERVER_DATASETS))
    p, t, g = (cfg.datasets[n].sql for n in ("pedidos", "tds", "generic"))
    assert p is not None and t is not None and g is not None
    assert p.uri == (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:sql01.example.local,1433;Database=Ventas;"
        "Encrypt=yes;TrustServerCertificate=yes;"
    )
    assert (p.driver, p.dialect, p.user, p.table) == ("odbc", "sqlserver", "saeta_reader", ("dbo", "Pedidos"))
    assert p.partition_by == KeyRanges("Fecha", ("2024-01-01", "2025-01-01"))
    assert (p.key, t.key) == (("Fecha", "Id"), ())
    assert t.uri == "Driver=FreeTDS;Server=sql02;Port=14330;Database={odd;db};TDS_Version=7.4;Encryption=require;"
    assert (t.max_text_size, dict(t.parameters)) == (65536, {"a": 3})
    assert (g.driver, g.dialect, g.uri) == (
        "odbc",
        "postgresql",
        "Driver={PostgreSQL Unicode};Server=db;Port=5432;Database=x;",
    )


def test_freetds_refuses_to_start_when_it_cannot_verify_the_server(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    dataset = """
  tds:
    type: sqlserver
    driver: FreeTDS
    server: sql02
    database: d
    user: r
    password_env: P
    table: t
"""
    with pytest.raises(ConfigError, match=r"datasets\.tds\.trust_server_certificate.*FreeTDS does not verify"):
        load_connector_config(write(tmp_path, CONNECTOR_HEAD + "datasets:" + dataset))
    unencrypted = dataset.replace("    table: t", "    table: t\n    encrypt: false")
    assert load_connector_config(write(tmp_path, CONNECTOR_HEAD + "datasets:" + unencrypted)).datasets["tds"]


def test_connection_string_values_are_braced() -> None:
    assert braced("plain") == "plain"
    assert braced("a;b") == "{a;b}"
    assert braced("x}y{") == "{x}}y{}"
    assert braced(" padded") == "{ padded}"
    conn = sqlserver_connection_string("h", 1, "d;PWD=stolen", "ODBC Driver 17 for SQL Server", False, False)
    assert (
        conn == "Driver={ODBC Driver 17 for SQL Server};Server=tcp:h,1;Database={d;PWD=stolen};"
        "Encrypt=no;TrustServerCertificate=no;"
    )


@pytest.mark.parametrize(
    ("dataset", "key"),
    [
        (
            {"type": "odbc", "connection_string": "Driver=x;PWD=secret;", "dialect": "sqlserver", "table": "t"},
            "no password here",
        ),
        (
            {"type": "odbc", "connection_string": "Driver=x; password = s", "dialect": "sqlserver", "table": "t"},
            "no password here",
        ),
        ({"type": "odbc", "connection_string": "Driver=x;", "table": "t"}, "datasets.d.dialect"),
        ({"type": "odbc", "connection_string": "Driver=x;", "dialect": "mysql", "table": "t"}, "datasets.d.dialect"),
        ({"type": "sqlserver", "server": "s", "database": "d", "table": "t"}, "datasets.d.user"),
        (
            {"type": "sqlserver", "server": "s", "database": "d", "user": "u", "table": "t", "encrypt": "no"},
            "true or false",
        ),
        (
            {
                "type": "sqlserver",
                "server": "s",
                "database": "d",
                "user": "u",
                "table": "t",
                "partition_by": {"column": "c"},
            },
            "partition_by.bounds",
        ),
        (
            {
                "type": "sqlserver",
                "server": "s",
                "database": "d",
                "user": "u",
                "table": "t",
                "partition_by": {"column": "c", "bounds": [3, 2]},
            },
            "must increase",
        ),
        (
            {
                "type": "sqlserver",
                "server": "s",
                "database": "d",
                "user": "u",
                "table": "t",
                "partition_by": {"column": "c", "bounds": [1, "2"]},
            },
            "all numbers or all strings",
        ),
        (
            {
                "type": "sqlserver",
                "server": "s",
                "database": "d",
                "user": "u",
                "table": "t",
                "partition_by": {"column": "c", "bounds": [1], "x": 1},
            },
            "partition_by.x: unknown key",
        ),
        (
            {"type": "postgresql", "uri": "postgresql://u@db/x", "table": "t", "max_text_size": 10},
            "max_text_size: unknown key",
        ),
        ({"type": "postgresql", "uri": "postgresql://u@db/x", "table": "t", "key": []}, "datasets.d.key"),
        ({"type": "postgresql", "uri": "postgresql://u@db/x", "table": "t", "key": ["a", "a"]}, "datasets.d.key"),
        ({"type": "postgresql", "uri": "postgresql://u@db/x", "table": "t", "key": 5}, "datasets.d.key"),
        ({"type": "csv", "path": "x.csv", "key": "id"}, "key: unknown key"),
        ({"type": "csv", "path": "x.csv", "columns": []}, "datasets.d.columns"),
        ({"type": "csv", "path": "x.csv", "columns": ["a", "a"]}, "datasets.d.columns"),
    ],
)
def test_database_dataset_errors(tmp_path: Path, dataset: dict[str, Any], key: str) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    text = CONNECTOR_HEAD + "datasets:\n  d: " + json.dumps(dataset) + "\n"
    with pytest.raises(ConfigError) as err:
        load_connector_config(write(tmp_path, text))
    assert key in err.value.message, err.value.message


def test_live_keys(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    text = CONNECTOR_HEAD + (
        "datasets:\n"
        "  f: {type: csv, path: x.csv}\n"
        "  g: {type: json, path: x.jsonl, live: {poll_seconds: 0.25}}\n"
        '  p: {type: postgresql, uri: "postgresql://u@db/x", table: t, live: {cursor: id}}\n'
        '  q: {type: postgresql, uri: "postgresql://u@db/x", table: t}\n'
    )
    cfg = load_connector_config(write(tmp_path, text))
    assert cfg.datasets["f"].live == LiveConfig(None, 1.0)
    assert cfg.datasets["g"].live == LiveConfig(None, 0.25)
    assert cfg.datasets["p"].live == LiveConfig("id", 1.0)
    assert cfg.datasets["q"].live is None
    assert cfg.max_subscriptions == 64


@pytest.mark.parametrize(
    ("live", "problem"),
    [
        ({}, "live.cursor"),
        ({"cursor": "id", "poll_seconds": 0}, "live.poll_seconds"),
        ({"cursor": "id", "every": 1}, "live.every: unknown key"),
        ("id", "expected a mapping"),
    ],
)
def test_live_errors(tmp_path: Path, live: Any, problem: str) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    dataset = {"type": "postgresql", "uri": "postgresql://u@db/x", "table": "t", "live": live}
    text = CONNECTOR_HEAD + "datasets:\n  d: " + json.dumps(dataset) + "\n"
    with pytest.raises(ConfigError) as err:
        load_connector_config(write(tmp_path, text))
    assert problem in err.value.message, err.value.message


def _replica_config(tmp_path: Path, **replica: Any) -> dict[str, Any]:
    certs.init_ca(tmp_path / "certs")
    certs.issue_replica(tmp_path / "certs", "r1")
    return {
        "tableros_secret_key": SECRET,
        "control_plane_url": "http://cp",
        "redis_url": "redis://127.0.0.1:6379/0",
        "replica": {
            "id": "r1",
            "peer_address": "10.0.0.1:50051",
            "cert": "certs/replicas/r1/replica.crt",
            "key": "certs/replicas/r1/replica.key",
            **replica,
        },
    }


def test_a_replica_names_where_connectors_reach_its_data_port(tmp_path: Path) -> None:
    obj = _replica_config(tmp_path, data_address="lb.example.com:9101")
    cfg = load_gateway_config(write(tmp_path, {**obj, "data_port": 50052}))
    assert cfg.replica is not None and cfg.replica.data_address == "lb.example.com:9101"
    alone = load_gateway_config(write(tmp_path, _replica_config(tmp_path)))
    assert alone.replica is not None and alone.replica.data_address is None


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"data_port": 50052, "replica_address": "dns:///lb:9101"}, "replica.data_address: expected HOST:PORT"),
        ({"data_port": 50052, "replica_address": "lb"}, "replica.data_address: expected HOST:PORT"),
        ({"replica_address": "lb:9101"}, "replica.data_address: needs data_port"),
    ],
)
def test_a_data_address_must_be_a_host_and_port_of_a_data_port(
    tmp_path: Path, extra: dict[str, Any], problem: str
) -> None:
    obj = _replica_config(tmp_path, data_address=extra.pop("replica_address"))
    with pytest.raises(ConfigError) as err:
        load_gateway_config(write(tmp_path, {**obj, **extra}))
    assert problem in err.value.message


def test_a_connector_sends_direct_unless_told_not_to(tmp_path: Path) -> None:
    certs.init_ca(tmp_path / "certs")
    certs.issue_client(tmp_path / "certs", "t1")
    base = {
        "mtls": {
            "ca_cert": "certs/ca.crt",
            "client_cert": "certs/clients/t1/client.crt",
            "client_key": "certs/clients/t1/client.key",
        },
        "tenant": {"id": "t1"},
        "datasets": {"v": {"type": "csv", "path": "v.csv"}},
    }
    on = load_connector_config(write(tmp_path, {**base, "gateway": {"grpc_uri": "gw:50051"}}))
    off = load_connector_config(write(tmp_path, {**base, "gateway": {"grpc_uri": "gw:50051", "direct_data": False}}))
    assert (on.direct_data, off.direct_data) == (True, False)
