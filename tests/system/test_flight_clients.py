"""The Flight endpoint (docs/flight.md) read by real clients against a real gateway and
connectors (Parquet files and PostgreSQL): pyarrow.flight, the ADBC Flight SQL driver
(DB-API and fetch_arrow_table), Polars through ADBC. Every result is compared with a
direct read of the source: the file by pyarrow, the table by PostgreSQL itself."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql as fs
import adbc_driver_flightsql.dbapi as fsql
import adbc_driver_postgresql.dbapi as pgdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
from saeta import certs

from tests.system.flight import bearer, connect
from tests.system.harness import BIG_ROWS, Deployment, big_dataset
from tests.system.postgres_server import PASSWORD, PostgresServer

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        server.execute(
            "CREATE TABLE pedidos (id int8 PRIMARY KEY, cliente text, importe float8, momento timestamptz)",
            "INSERT INTO pedidos SELECT g, 'c' || (g % 7), (g % 1000) / 10.0,"
            " timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'"
            " FROM generate_series(1, 50000) AS g",
            "UPDATE pedidos SET importe = NULL WHERE id % 97 = 0",
        )
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(pg: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep = Deployment(tmp_path_factory.mktemp("flight"))
    certs.init_ca(dep.certs)
    try:
        dep.start_control_plane()
        dep.start_gateway(flight={"port": dep.flight_port})
        secret = dep.root / "pg.pass"
        secret.write_text(PASSWORD + "\n")
        dep.start_connector(
            "acme",
            {
                "big": big_dataset(dep.root),
                "ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"},
                "pedidos": {"type": "postgresql", "uri": pg.uri, "password_file": str(secret), "table": "pedidos"},
            },
        )
        yield dep
    except BaseException:
        print(dep.logs())
        raise
    finally:
        dep.stop()


def ventas(site: Deployment) -> pa.Table:
    return pq.read_table(site.root / "data" / "v.parquet")


def read_info(client: fl.FlightClient, info: fl.FlightInfo, options: fl.FlightCallOptions) -> pa.Table:
    tables = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
    return pa.concat_tables(tables) if tables else info.schema.empty_table()


def adbc(site: Deployment, token: str) -> Any:
    port = site.flight_port
    options = {
        fs.DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}",
        fs.DatabaseOptions.TLS_ROOT_CERTS.value: (site.certs / "ca.crt").read_text(),
        fs.DatabaseOptions.TLS_OVERRIDE_HOSTNAME.value: "localhost",
    }
    return fsql.connect(f"grpc+tls://127.0.0.1:{port}", db_kwargs=options, autocommit=True)


def test_pyarrow_flight_lists_describes_and_reads_the_file(site: Deployment) -> None:
    token = site.session("acme")
    client, options = connect(site), bearer(token)
    assert sorted(f.descriptor.path[0].decode() for f in client.list_flights(options=options)) == [
        "big",
        "pedidos",
        "ventas",
    ]
    info = client.get_flight_info(fl.FlightDescriptor.for_path("ventas"), options)
    want = ventas(site)
    assert info.schema == want.schema and info.total_records == want.num_rows
    assert client.get_schema(fl.FlightDescriptor.for_path("ventas"), options).schema == want.schema
    assert read_info(client, info, options).equals(want)
    # Sixteen partitions as at most four endpoints, read at once by a client.
    big = client.get_flight_info(fl.FlightDescriptor.for_path("big"), options)
    assert len(big.endpoints) == 4 and big.total_records == BIG_ROWS
    assert read_info(client, big, options).num_rows == BIG_ROWS


def test_a_limited_session_lists_and_reads_only_its_datasets(site: Deployment) -> None:
    client, options = connect(site), bearer(site.session("acme", datasets=["ventas"]))
    assert [f.descriptor.path[0].decode() for f in client.list_flights(options=options)] == ["ventas"]
    with pytest.raises(KeyError, match="DATASET_NOT_FOUND"):  # NOT_FOUND, as one that does not exist
        client.get_flight_info(fl.FlightDescriptor.for_path("big"), options)


def test_saetas_query_json_pushes_an_aggregate_down(site: Deployment) -> None:
    client, options = connect(site), bearer(site.session("acme"))
    command = {
        "dataset": "ventas",
        "filter": [["cantidad", ">", 2]],
        "aggregate": {
            "group_by": ["region"],
            "measures": [{"op": "sum", "column": "total", "as": "total"}, {"op": "count"}],
            "sort": [{"column": "region"}],
        },
    }
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(command)), options)
    got = read_info(client, info, options)
    rows = ventas(site).filter(pc.field("cantidad") > 2)
    oracle = rows.group_by("region").aggregate([("total", "sum"), ("total", "count")]).sort_by("region")
    assert got.column("region").to_pylist() == oracle.column("region").to_pylist()
    assert got.column("count").to_pylist() == oracle.column("total_count").to_pylist()
    assert got.column("total").to_pylist() == pytest.approx(oracle.column("total_sum").to_pylist())


def test_adbc_runs_sql_pushed_down_and_browses_the_schema(site: Deployment) -> None:
    want = ventas(site)
    with adbc(site, site.session("acme")) as conn:
        assert conn.adbc_get_info()["vendor_name"] == "saeta"
        objects = conn.adbc_get_objects(catalog_filter="saeta").read_all().to_pylist()
        tables = {t["table_name"] for s in objects[0]["catalog_db_schemas"] for t in s["db_schema_tables"]}
        assert tables == {"big", "pedidos", "ventas"}
        assert conn.adbc_get_table_schema("ventas", db_schema_filter="datasets") == want.schema
        with conn.cursor() as cur:
            cur.execute(
                "SELECT region AS zona, SUM(total) AS total, COUNT(*) AS n FROM ventas "
                "WHERE cantidad BETWEEN 2 AND 5 AND producto != 'x' GROUP BY region ORDER BY total DESC LIMIT 3"
            )
            got = cur.fetch_arrow_table()
            rows = want.filter((pc.field("cantidad") >= 2) & (pc.field("cantidad") <= 5))
            oracle = rows.group_by("region").aggregate([("total", "sum"), ("total", "count")])
            oracle = oracle.sort_by([("total_sum", "descending")]).slice(0, 3)
            assert got.column_names == ["zona", "total", "n"]
            assert got.column("zona").to_pylist() == oracle.column("region").to_pylist()
            assert got.column("n").to_pylist() == oracle.column("total_count").to_pylist()
            assert got.column("total").to_pylist() == pytest.approx(oracle.column("total_sum").to_pylist())
            cur.execute("SELECT id, total AS importe FROM ventas WHERE region = 'Norte' ORDER BY total DESC LIMIT 7")
            page = want.filter(pc.field("region") == "Norte").sort_by([("total", "descending")]).slice(0, 7)
            assert cur.fetchall() == list(zip(page["id"].to_pylist(), page["total"].to_pylist(), strict=True))
            assert [d[0] for d in cur.description] == ["id", "importe"]


def test_polars_through_adbc_equals_the_file(site: Deployment) -> None:
    with adbc(site, site.session("acme")) as conn:
        got = pl.read_database("SELECT id, region, total FROM ventas WHERE total >= 1000", connection=conn)
    want = pl.read_parquet(site.root / "data" / "v.parquet").filter(pl.col("total") >= 1000)
    assert got.sort("id").equals(want.select("id", "region", "total").sort("id"))


def test_sql_on_postgresql_equals_postgresqls_own_answer(site: Deployment, pg: PostgresServer) -> None:
    grouped = (
        "SELECT cliente, COUNT(*) AS n, SUM(importe) AS s, MAX(importe) AS m FROM pedidos "
        "WHERE id > 100 GROUP BY cliente ORDER BY cliente"
    )
    page = "SELECT id, cliente FROM pedidos WHERE importe IS NULL ORDER BY id LIMIT 5"
    with adbc(site, site.session("acme")) as conn, conn.cursor() as cur:
        cur.execute(grouped)  # the same text at both: it is in both dialects
        got = cur.fetch_arrow_table()
        cur.execute(
            "SELECT date_bin(INTERVAL '1 day', momento, TIMESTAMP '1970-01-01') AS dia, COUNT(importe) AS n "
            "FROM pedidos GROUP BY dia ORDER BY dia"
        )
        days = cur.fetch_arrow_table()
        cur.execute(page)
        nulls = cur.fetchall()
    with pgdb.connect(pg.admin_uri) as direct, direct.cursor() as cur:
        cur.execute(grouped)
        oracle = cur.fetch_arrow_table()
        cur.execute(
            "SELECT date_bin(INTERVAL '1 day', momento, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS dia,"
            " COUNT(importe) AS n FROM pedidos GROUP BY dia ORDER BY dia"
        )
        oracle_days = cur.fetch_arrow_table()
        cur.execute(page)
        oracle_nulls = cur.fetchall()
    assert got.column("cliente").to_pylist() == oracle.column("cliente").to_pylist()
    assert got.column("n").to_pylist() == oracle.column("n").to_pylist()
    assert got.column("s").to_pylist() == pytest.approx(oracle.column("s").to_pylist())
    assert got.column("m").to_pylist() == oracle.column("m").to_pylist()
    assert days.column("n").to_pylist() == oracle_days.column("n").to_pylist()
    got_days = pc.cast(days.column("dia"), pa.timestamp("us", tz="UTC")).to_pylist()
    assert got_days == pc.cast(oracle_days.column("dia"), pa.timestamp("us", tz="UTC")).to_pylist()
    assert nulls == oracle_nulls


def test_a_prepared_statement_reads_as_a_statement(site: Deployment) -> None:
    with adbc(site, site.session("acme")) as conn, conn.cursor() as cur:
        cur.adbc_prepare("SELECT id, total FROM ventas WHERE id < 10 ORDER BY id")
        cur.execute("SELECT id, total FROM ventas WHERE id < 10 ORDER BY id")
        got = cur.fetch_arrow_table()
    want = ventas(site).filter(pc.field("id") < 10).select(["id", "total"]).sort_by("id")
    assert got.equals(want)


REFUSED = [
    ("SELECT * FROM pedidos; DELETE FROM pedidos", "one statement at a time"),
    ("DELETE FROM pedidos", "DELETE is refused"),
    ("DROP TABLE pedidos", "DROP is refused"),
    ("UPDATE pedidos SET importe = 0", "UPDATE is refused"),
    ("SELECT p.id FROM pedidos p JOIN ventas v ON p.id = v.id", "JOIN cannot be pushed down"),
    ("SELECT id FROM pedidos WHERE id IN (SELECT id FROM ventas)", "subqueries cannot be pushed down"),
    ("SELECT pg_sleep(5) FROM pedidos", "PG_SLEEP(5) cannot be pushed down"),
    ("SELECT id FROM pedidos WHERE cliente = 'x' OR 1 = 1", "OR cannot be pushed down"),
    ("SELECT id FROM pedidos WHERE cliente = 'x''; DROP TABLE pedidos; --'", None),  # a string, bound: runs
]


def test_refused_sql_reaches_no_source(site: Deployment, pg: PostgresServer) -> None:
    """Each statement that cannot be pushed down is refused with its reason before any
    connector is asked: PostgreSQL runs nothing for it, and its table is whole after."""
    with adbc(site, site.session("acme")) as conn, conn.cursor() as cur:
        for statement, says in REFUSED:
            before = len(pg.statements())
            if says is None:
                cur.execute(statement)
                assert cur.fetchall() == []
                ran = pg.statements()[before:]
                assert ran and all("DROP" not in s for s in ran), ran  # the value went as a bound parameter
                continue
            with pytest.raises(fsql.ProgrammingError, match=f"SQL_UNSUPPORTED: {re.escape(says)}"):
                cur.execute(statement)
            assert pg.statements()[before:] == [], statement
        with pytest.raises(fsql.ProgrammingError, match="DATASET_NOT_FOUND: no dataset 'nada'"):
            cur.execute("SELECT * FROM nada")
        cur.execute("SELECT COUNT(*) AS n FROM pedidos")
        assert cur.fetchall() == [(50_000,)]
