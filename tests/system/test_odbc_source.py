"""The ODBC source (arrow-odbc) against a real server: PostgreSQL through Debian's
odbc-postgresql driver, since no SQL Server can run here. Types, the filter oracle, key
range partitions, parameters and injection attempts, a wrong password, a server that is
down, and a query through the gateway from a YAML config."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from saeta.client import Client, ServerError
from saeta.config import DatasetConfig, KeyRanges, SqlDataset
from saeta.core.aggregation import Limits, parse_aggregate
from saeta.core.filters import parse_filter
from saeta.errors import BadRequest, SourceError

from tests import filter_cases
from tests.system.harness import Deployment, free_port
from tests.system.postgres_server import DATABASE, PASSWORD, USER, PostgresServer
from tests.system.sql_reads import opened, read_all

pytestmark = pytest.mark.system
ROWS = 200_000
DRIVER = "PostgreSQL Unicode"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        server.execute(
            "CREATE TABLE tipos (id int8, precio numeric(12,2), dia date, momento timestamp, ok bool,"
            " texto text, corto varchar(8), blob bytea, ref uuid)",
            "INSERT INTO tipos VALUES (1, 12.34, '2024-01-02', '2024-01-02 03:04:05.25', true, 'ñandú € 𝄞',"
            " 'abc', '\\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),"
            " (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            f"CREATE TABLE grande AS SELECT g AS id, 'fila ' || g AS texto FROM generate_series(1, {ROWS}) AS g",  # noqa: S608
            "INSERT INTO grande VALUES (NULL, 'sin id')",
        )
        server.ingest("filtros", filter_cases.table())
        yield server
    finally:
        server.stop()


def connection_string(port: int) -> str:
    # BoolsAsChar=0: booleans as booleans (the driver's default sends them as '1'/'0' text).
    return f"Driver={{{DRIVER}}};Server=127.0.0.1;Port={port};Database={DATABASE};BoolsAsChar=0;"


def dataset(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, **sql: Any) -> DatasetConfig:
    monkeypatch.setenv("SAETA_TEST_ODBC_PASSWORD", sql.pop("password", PASSWORD))
    spec = SqlDataset(
        uri=connection_string(sql.pop("port", pg.port)),
        password_env="SAETA_TEST_ODBC_PASSWORD",
        password_file=None,
        table=sql.pop("table", None),
        query=sql.pop("query", None),
        parameters=sql.pop("parameters", {}),
        driver="odbc",
        dialect="postgresql",
        user=USER,
        partition_by=sql.pop("partition_by", None),
    )
    columns = sql.pop("columns", None)
    assert not sql, sql
    return DatasetConfig(name="d", type="odbc", paths=(), sql=spec, columns=columns)


def test_types_over_odbc(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    table = read_all(dataset(pg, monkeypatch, table=("tipos",)))
    types = {f.name: f.type for f in table.schema}
    assert types["id"] == pa.int64()
    assert types["precio"] == pa.decimal128(12, 2)
    assert types["dia"] == pa.date32() and pa.types.is_timestamp(types["momento"])
    assert types["ok"] == pa.bool_() and types["texto"] == pa.string() and types["blob"] == pa.binary()
    first, second = sorted(table.to_pylist(), key=lambda r: r["id"])
    assert str(first["precio"]) == "12.34" and first["texto"] == "ñandú € 𝄞" and first["corto"] == "abc"
    assert first["momento"].isoformat() == "2024-01-02T03:04:05.250000"
    assert first["blob"] == b"\x01\x02" and first["ok"] is True
    assert first["ref"].lower() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert all(v is None for k, v in second.items() if k != "id")


# ODBC timestamps carry no time zone: timestamptz arrives as a plain timestamp, so the
# cases written for a zoned column do not apply over ODBC.
ODBC_FILTERS = [f for f in filter_cases.FILTERS if not any(c[0] == "at_utc" for c in f)]


@pytest.mark.parametrize("raw", ODBC_FILTERS, ids=[json.dumps(f)[:60] for f in ODBC_FILTERS])
def test_filters_match_the_oracle(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, raw: list[list[Any]]) -> None:
    got = read_all(dataset(pg, monkeypatch, table=("filtros",)), ("id",), raw_filter=raw)
    assert sorted(got.column("id").to_pylist()) == filter_cases.expected_ids(raw)


def test_key_range_partitions_cover_every_row_once(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ranges = KeyRanges("id", (50_000, 100_000, 150_000))
    cfg = dataset(pg, monkeypatch, table=("grande",), partition_by=ranges)
    with opened(cfg) as source:
        assert len(source.plan(None, None).partitions) == 5  # nulls, 3 ranges between bounds, the rest
    sizes = [read_all(cfg, ("id",), partitions=[p]).num_rows for p in range(5)]
    assert sizes == [1, 49_999, 50_000, 50_000, 50_001]
    whole = read_all(cfg, ("id",))
    assert sorted(i for i in whole.column("id").to_pylist() if i is not None) == list(range(1, ROWS + 1))
    # Filter and limit apply within each partition (the gateway asks each for what is left).
    got = read_all(cfg, ("id",), limit=3, raw_filter=[["id", ">", 99_998]], partitions=[2, 3])
    assert got.column("id").to_pylist() == [99_999, 100_000, 100_001, 100_002]
    bad = dataset(pg, monkeypatch, table=("grande",), partition_by=KeyRanges("texto", (1, 2)))
    with pytest.raises(SourceError, match=r"partition_by: filter.*expected a string"), opened(bad) as source:
        source.schema()


def test_parameters_and_injection(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    query = "SELECT id, texto FROM grande WHERE texto = :t OR id = CAST(:n AS int8) OR id = CAST(:n AS int8) + 1"
    got = read_all(dataset(pg, monkeypatch, query=query, parameters={"t": "fila 5", "n": 7}))
    assert sorted(got.column("id").to_pylist()) == [5, 7, 8]
    hostile = {"t": "x' OR '1'='1", "n": -5}
    assert read_all(dataset(pg, monkeypatch, query=query, parameters=hostile)).num_rows == 0
    cfg = dataset(pg, monkeypatch, table=("grande",))
    with opened(cfg) as source:
        with pytest.raises(BadRequest, match="has no column"):
            source.plan(None, None, parse_filter([['id" = 1; DROP TABLE grande; --', "=", 1]]))
    got = read_all(cfg, ("id",), raw_filter=[["texto", "=", "'; DROP TABLE grande; --"]])
    assert got.num_rows == 0
    assert read_all(cfg, ("id",), limit=1).num_rows == 1  # still there


def test_wrong_password_and_server_down(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "n0t-the-Pa55word"
    with opened(dataset(pg, monkeypatch, table=("tipos",), password=secret)) as source:
        with pytest.raises(SourceError) as info:
            source.schema()
        # The driver's words go to the connector's log (detail), never to the browser (message).
        assert "password authentication failed" in (info.value.detail or "") and "cannot connect" in info.value.message
        assert secret not in info.value.message and secret not in (info.value.detail or "")
        # The next query fails at once (backoff), saying when the next attempt is.
        with pytest.raises(SourceError, match="next connection attempt"):
            source.schema()
    with opened(dataset(pg, monkeypatch, table=("tipos",), port=free_port())) as source:
        with pytest.raises(SourceError, match="cannot connect"):
            source.schema()


def test_odbc_dataset_through_the_gateway(pg: PostgresServer, deployment: Deployment, tmp_path: Path) -> None:
    (deployment.root / "odbc.pass").write_text(PASSWORD + "\n")
    deployment.start_control_plane()
    deployment.start_gateway()
    deployment.start_connector(
        "acme",
        {
            "grande": {
                "type": "odbc",
                "connection_string": connection_string(pg.port),
                "dialect": "postgresql",
                "user": USER,
                "password_file": "odbc.pass",
                "table": "grande",
                "columns": ["id", "texto"],
                "partition_by": {"column": "id", "bounds": [100_000]},
            }
        },
    )
    with Client.connect(deployment.ws_url, deployment.session("acme")) as client:
        whole = client.query("grande")
        assert whole.num_rows == ROWS + 1
        got = client.query("grande", ["texto"], filter=[["id", "in", [3, 150_000]]], ordered=True)
        assert got.column("texto").to_pylist() == ["fila 3", "fila 150000"]
        with pytest.raises(ServerError) as info:
            client.query("grande", filter=[["id", "=", "3"]])
        assert info.value.code == "BAD_REQUEST"


def test_an_aggregate_over_odbc_binds_its_values_in_order(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """ODBC binds positional markers (``?``): the bucket's values and the filter's must be
    bound in the order the statement has them (sql_aggregate.py), each use its own."""
    spec = {
        "bucket": {"column": "id", "count": 100},
        "measures": [{"op": "count"}, {"op": "min", "column": "id"}, {"op": "last", "column": "texto"}],
    }
    conditions = parse_filter([["id", ">", 1000], ["texto", "!=", "fila 5000"]])
    agg = parse_aggregate(spec)
    with opened(dataset(pg, monkeypatch, table=("grande",))) as source:
        plan = source.plan_aggregate(agg, conditions)
        got = pa.Table.from_batches(list(source.read_aggregate(agg, None, conditions, Limits())), plan.schema)
    ids = [i for i in range(1001, ROWS + 1) if i != 5000]
    lo, width = ids[0], (ids[-1] - ids[0]) / 100
    buckets: dict[int, list[int]] = {}
    for i in ids:
        buckets.setdefault(min(int((i - lo) // width), 99), []).append(i)
    assert got["count"].to_pylist() == [len(b) for b in buckets.values()]
    assert got["min_id"].to_pylist() == [b[0] for b in buckets.values()]
    assert got["last_texto"].to_pylist() == [f"fila {b[-1]}" for b in buckets.values()]
    assert got["id"].to_pylist() == pytest.approx([lo + k * width for k in buckets])
