"""The PostgreSQL source against a real server (a throwaway cluster of Debian's
PostgreSQL): types that bite, NULLs, projection and limit, named parameters, injection
attempts, and a wrong password whose message carries no secret."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from saeta.client import AsyncClient, Client, ServerError
from saeta.config import DatasetConfig, LiveConfig, SqlDataset
from saeta.connector.sources import follow_cursor, sql_follow
from saeta.connector.sources.postgres import bind_named
from saeta.core.filters import parse_filter
from saeta.core.resume_token import ResumeUnavailable
from saeta.errors import BadRequest, SourceError
from websockets.asyncio.client import connect

from tests import filter_cases
from tests.connector.test_follow_resume import taken
from tests.system.harness import Deployment, free_port
from tests.system.postgres_server import PASSWORD, PostgresServer
from tests.system.sql_reads import opened, read_all
from tests.system.tcp_proxy import TcpProxy

pytestmark = pytest.mark.system
ROWS = 1_000_000  # the "a table of at least one million rows"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        server.execute(
            "CREATE TABLE ventas (id int8 PRIMARY KEY, precio numeric(12,2), momento timestamptz, dia date,"
            " espera interval, ref uuid, datos jsonb, notas json, etiquetas text[], blob bytea, texto text)",
            "INSERT INTO ventas VALUES (1, 12.34, '2024-01-02 03:04:05+01', '2024-01-02', '1 day 2 hours',"
            " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '[1, 2]', '{uno,NULL,\"ñ\"}', '\\x0102',"
            " 'ñandú € 𝄞'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            f"INSERT INTO ventas (id, texto) SELECT g, 'fila ' || g FROM generate_series(3, {ROWS}) AS g",  # noqa: S608
            'CREATE TABLE "Raro ""x""" (a int4)',
            'INSERT INTO "Raro ""x""" VALUES (7)',
        )
        server.ingest("filtros", filter_cases.table())
        yield server
    finally:
        server.stop()


def dataset(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, **sql: object) -> DatasetConfig:
    monkeypatch.setenv("SAETA_TEST_PG_PASSWORD", PASSWORD)
    spec = SqlDataset(
        uri=pg.uri,
        password_env="SAETA_TEST_PG_PASSWORD",
        password_file=None,
        table=sql.get("table"),  # type: ignore[arg-type]
        query=sql.get("query"),  # type: ignore[arg-type]
        parameters=sql.get("parameters", {}),  # type: ignore[arg-type]
    )
    columns = sql.get("columns")
    return DatasetConfig(name="d", type="postgresql", paths=(), sql=spec, columns=columns)  # type: ignore[arg-type]


def test_types_that_bite_arrive_as_plain_arrow(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    table = read_all(dataset(pg, monkeypatch, table=("ventas",)), limit=2)
    types = {f.name: f.type for f in table.schema}
    assert types["id"] == pa.int64()
    assert types["precio"] == pa.string()  # numeric keeps every digit, as text
    assert pa.types.is_timestamp(types["momento"]) and types["momento"].tz is not None
    assert types["dia"] == pa.date32()
    assert types["ref"] == pa.string() and types["datos"] == pa.string() and types["espera"] == pa.string()
    assert types["etiquetas"] == pa.list_(pa.string()) and types["blob"] == pa.binary()
    first, second = table.to_pylist()
    assert first["precio"] == "12.34"
    assert first["ref"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert json.loads(first["datos"]) == {"a": 1} and json.loads(first["notas"]) == [1, 2]
    assert first["etiquetas"] == ["uno", None, "ñ"]
    assert first["blob"] == b"\x01\x02" and first["texto"] == "ñandú € 𝄞"
    assert first["espera"] == "P0M1DT7200S"
    assert first["momento"].isoformat() == "2024-01-02T02:04:05+00:00"
    assert all(v is None for k, v in second.items() if k != "id")


def test_projection_limit_and_batches(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dataset(pg, monkeypatch, table=("public", "ventas"))
    whole = read_all(cfg, ("texto", "id"))
    assert whole.num_rows == ROWS and whole.column_names == ["texto", "id"]
    assert read_all(cfg, ("id",), limit=10).column("id").to_pylist() == list(range(1, 11))
    assert read_all(cfg, ("id",), limit=0).num_rows == 0
    with pytest.raises(BadRequest), opened(cfg) as source:
        source.plan(("no_such",), None)


def test_quoted_identifiers_and_exposed_columns(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_all(dataset(pg, monkeypatch, table=('Raro "x"',))).to_pylist() == [{"a": 7}]
    narrow = dataset(pg, monkeypatch, table=("ventas",), columns=("id", "texto"))
    with opened(narrow) as source:
        assert source.schema().names == ["id", "texto"]
        with pytest.raises(BadRequest):
            source.plan(("precio",), None)


def test_named_parameters_are_bound_never_spliced(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    query = "SELECT id, texto FROM ventas WHERE texto = :t OR id = :n::int8"
    got = read_all(dataset(pg, monkeypatch, query=query, parameters={"t": "fila 5", "n": 7}))
    assert sorted(got.column("id").to_pylist()) == [5, 7]
    hostile = {"t": "x' OR '1'='1", "n": 0}
    assert read_all(dataset(pg, monkeypatch, query=query, parameters=hostile)).num_rows == 0
    drop = {"t": "'; DROP TABLE ventas; --", "n": 0}
    assert read_all(dataset(pg, monkeypatch, query=query, parameters=drop)).num_rows == 0
    assert read_all(dataset(pg, monkeypatch, table=("ventas",)), ("id",)).num_rows == ROWS


def test_bind_named_keeps_casts_and_reuses_numbers() -> None:
    sql, values = bind_named("SELECT :a::text, :b, :a", {"a": 1, "b": "x"})
    assert sql == "SELECT $1::text, $2, $1" and values == (1, "x")
    with pytest.raises(ValueError, match=":c"):
        bind_named("SELECT :c", {})


def test_wrong_password_fails_without_the_secret(
    pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = dataset(pg, monkeypatch, table=("ventas",))
    monkeypatch.setenv("SAETA_TEST_PG_PASSWORD", "wrong-Secret-123")
    with pytest.raises(SourceError) as err, opened(cfg) as source:
        source.schema()
    assert "wrong-Secret-123" not in str(err.value) and "cannot connect" in str(err.value)
    monkeypatch.delenv("SAETA_TEST_PG_PASSWORD")
    with pytest.raises(SourceError, match="SAETA_TEST_PG_PASSWORD is not set"), opened(cfg) as source:
        source.schema()


def test_streams_through_the_gateway_with_projection_and_limit(pg: PostgresServer, deployment: Deployment) -> None:
    deployment.start_control_plane()
    gateway = deployment.start_gateway()
    secret = deployment.root / "pg.pass"
    secret.write_text(PASSWORD + "\n")
    base = {"type": "postgresql", "uri": pg.uri, "password_file": str(secret)}
    connector = deployment.start_connector(
        "acme",
        {
            "ventas": {**base, "table": "ventas"},
            "filas": {
                **base,
                "query": "SELECT id, texto FROM ventas WHERE id > :desde",
                "parameters": {"desde": ROWS - 10},
            },
            "caido": {**base, "uri": pg.uri.replace(str(pg.port), str(free_port())), "table": "ventas"},
        },
    )
    with Client.connect(deployment.ws_url, deployment.session("acme")) as client:
        got = client.query("ventas", columns=["texto", "id"], limit=15_000)
        assert got.column_names == ["texto", "id"] and got.num_rows == 15_000
        assert got.column("id").to_pylist()[:3] == [1, 2, 3]
        assert client.query("filas").column("id").to_pylist() == list(range(ROWS - 9, ROWS + 1))
        with pytest.raises(ServerError) as err:
            client.query("caido")
        assert err.value.code == "QUERY_FAILED"
        assert PASSWORD not in str(err.value)
        # The connector stays registered after the failure.
        assert client.query("ventas", columns=["id"], limit=1).num_rows == 1
    for proc in (gateway, connector):
        assert PASSWORD not in proc.text()


@pytest.mark.parametrize("raw", filter_cases.FILTERS, ids=[json.dumps(f)[:60] for f in filter_cases.FILTERS])
def test_filters_match_the_oracle(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, raw: list[list[Any]]) -> None:
    got = read_all(dataset(pg, monkeypatch, table=("filtros",)), ("id",), raw_filter=raw)
    assert sorted(got.column("id").to_pylist()) == filter_cases.expected_ids(raw)


def test_filter_with_limit_on_a_million_rows(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dataset(pg, monkeypatch, table=("ventas",))
    got = read_all(cfg, ("id", "texto"), limit=5, raw_filter=[["id", ">", 500_000], ["texto", "!=", "fila 500002"]])
    assert got.column("id").to_pylist() == [500_001, 500_003, 500_004, 500_005, 500_006]
    statements = pg.statements()
    sent = [s for s in statements if "LIMIT 5" in s]
    assert sent and all("\"id\" > (SELECT CAST(current_setting('saeta.v1') AS bigint))" in s for s in sent)
    # The values were bound to set_config() and never written into any SQL text.
    assert any(s.startswith("SELECT set_config('saeta.v1', $1, false)") for s in statements)
    assert not any("500000" in s or "fila 500002" in s for s in statements)


def test_bad_filters_and_hostile_names_never_reach_the_database(
    pg: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = dataset(pg, monkeypatch, table=("ventas",), columns=("id", "texto", "precio"))
    marker = 'id" = 1; DROP TABLE ventas; --'
    with opened(cfg) as source:
        source.schema()
        before = len(pg.statements())
        for raw, problem in [
            ([[marker, "=", 1]], "has no column"),
            ([["dia", "=", "2024-01-02"]], "has no column 'dia'"),  # exists, but not exposed
            ([["id", "=", "1 OR 1=1"]], "expected an integer"),
            ([["precio", ">", "1; DROP TABLE ventas"]], "decimal string"),
            ([["texto", "<", 5]], "expected a string"),
        ]:
            conditions = parse_filter(raw)
            with pytest.raises(BadRequest) as info:
                source.plan(None, None, conditions)
            assert problem in info.value.message
            with pytest.raises(BadRequest):
                list(source.read(0, None, None, conditions))
        assert pg.statements()[before:] == []
    assert read_all(dataset(pg, monkeypatch, table=("ventas",)), ("id",), limit=1).num_rows == 1


def test_follower_by_cursor_column(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    pg.execute(
        "CREATE TABLE eventos (id int8 PRIMARY KEY, tipo text, importe numeric(10,2))",
        "INSERT INTO eventos SELECT g, CASE WHEN g % 2 = 0 THEN 'par' ELSE 'impar' END, g FROM generate_series(1, 5) g",
    )
    base = dataset(pg, monkeypatch, table=("eventos",))
    cfg = dataclasses.replace(base, live=LiveConfig("id", 0.1))
    with opened(cfg) as source:
        follower = source.follow(("tipo", "importe"), parse_filter([["tipo", "=", "par"]]))
        snap = [r for b in follower.snapshot() for r in b.to_pylist()]
        assert snap == [{"tipo": "par", "importe": "2.00"}, {"tipo": "par", "importe": "4.00"}]
        assert follower.poll() == ([], False)
        pg.execute("INSERT INTO eventos VALUES (6, 'par', 6), (7, 'impar', 7), (8, 'par', 8.5)")
        got, more = follower.poll()
        assert [r for b in got for r in b.to_pylist()] == [
            {"tipo": "par", "importe": "6.00"},
            {"tipo": "par", "importe": "8.50"},
        ]
        assert not more and follower.poll() == ([], False)
        # Polls are bounded and ordered by the cursor.
        monkeypatch.setattr(sql_follow, "POLL_ROWS", 3)
        pg.execute("INSERT INTO eventos SELECT g, 'par', g FROM generate_series(100, 107) g")
        ids = []
        while True:
            got, more = follower.poll()
            ids += [r["importe"] for b in got for r in b.to_pylist()]
            if not more:
                break
        assert ids == [f"{i}.00" for i in range(100, 108)]
    with opened(base) as source, pytest.raises(BadRequest, match=r"no live\.cursor"):
        source.follow(None, ())
    hidden = dataclasses.replace(base, live=LiveConfig("id", 0.1), columns=("tipo",))
    with opened(hidden) as source, pytest.raises(BadRequest, match="not exposed"):
        source.follow(None, ())


def test_subscription_to_a_table_through_the_gateway(pg: PostgresServer, deployment: Deployment) -> None:
    pg.execute("CREATE TABLE lecturas (n int8, valor float8)", "INSERT INTO lecturas VALUES (1, 0.5)")
    deployment.start_control_plane()
    deployment.start_gateway()
    secret = deployment.root / "pg.pass"
    secret.write_text(PASSWORD + "\n")
    base = {"type": "postgresql", "uri": pg.uri, "password_file": str(secret), "table": "lecturas"}
    deployment.start_connector(
        "acme", {"lecturas": {**base, "live": {"cursor": "n", "poll_seconds": 0.1}}, "fija": base}
    )

    async def main() -> None:
        async with await AsyncClient.connect(deployment.ws_url, deployment.session("acme")) as client:
            snapshots: list[int] = []
            it = client.subscribe("lecturas", on_snapshot=snapshots.append)
            first = await asyncio.wait_for(anext(it), 30)
            assert first.to_pylist() == [{"n": 1, "valor": 0.5}]
            pg.execute("INSERT INTO lecturas VALUES (2, 1.5), (3, 2.5)")
            rows: list[dict[str, Any]] = []
            while len(rows) < 2:
                rows += (await asyncio.wait_for(anext(it), 30)).to_pylist()
            assert rows == [{"n": 2, "valor": 1.5}, {"n": 3, "valor": 2.5}] and snapshots == [1]
            await it.aclose()
            with pytest.raises(ServerError) as err:
                async for _ in client.subscribe("fija"):
                    pass
            assert err.value.code == "BAD_REQUEST" and "no live.cursor" in err.value.message

    asyncio.run(main())


def _timed_rows(table: str, first: int, last: int) -> str:
    stamp = "TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 second'"
    return f"INSERT INTO {table} SELECT g, {stamp}, 'v' || g FROM generate_series({first}, {last}) g"  # noqa: S608


@pytest.mark.parametrize("cursor", ["id", "momento"])
def test_a_follower_resumes_from_any_point_after_its_snapshot(
    pg: PostgresServer, monkeypatch: pytest.MonkeyPatch, cursor: str
) -> None:
    """Resumable subscriptions (docs/tunnel.md): a database follower's snapshot gives no
    cursor (its partitions come in no set order); each poll's point, restored, gives the
    rest of the rows once, whatever the cursor's type."""
    table = f"seguidos_{cursor}"
    pg.execute(
        f"CREATE TABLE {table} (id int8 PRIMARY KEY, momento timestamptz, v text)",
        _timed_rows(table, 1, 5),
    )
    monkeypatch.setattr(sql_follow, "POLL_ROWS", 4)
    cfg = dataclasses.replace(dataset(pg, monkeypatch, table=(table,)), live=LiveConfig(cursor, 0.1))
    with opened(cfg) as source:
        follower = source.follow(("id",), ())
        follower.marks.on = True
        seen: list[tuple[int, tuple[bytes | None, int]]] = []
        taken(follower, follower.snapshot(), seen)
        assert [p for _, p in seen] == [(None, i) for i in range(5)]
        pg.execute(_timed_rows(table, 6, 15))
        while True:
            got, more = follower.poll()
            taken(follower, got, seen)
            if not more:
                break
        ids = [i for i, _ in seen]
        assert ids == list(range(1, 16))
        for at in range(5, len(seen)):
            cursor_bytes, skip = seen[at][1]
            assert cursor_bytes is not None
            again = source.follow(("id",), ())
            again.restore(cursor_bytes, skip)
            assert list(again.snapshot()) == []
            rest: list[int] = []
            while True:
                got, more = again.poll()
                rest += [i for b in got for i in b.column("id").to_pylist()]
                if not more:
                    break
            assert rest == ids[at:], f"resumed at row {at}"
        with pytest.raises(ResumeUnavailable, match=r"live\.cursor column changed"):
            source.follow(("id",), ()).restore(follow_cursor.encode_table("otra", 3) or b"", 0)


def test_a_resumable_query_of_a_keyed_table_resumes_from_its_rows(pg: PostgresServer, deployment: Deployment) -> None:
    """Resumable queries (docs/protocol.md, "Resuming") of a database dataset with a
    ``key``: its partitions are read ORDER BY the key, so a query cut twice mid-stream
    resumes from its rows with each row once; a dataset without a key answers
    ``resumable: false``."""
    deployment.start_control_plane()
    deployment.start_gateway()
    secret = deployment.root / "pg.pass"
    secret.write_text(PASSWORD + "\n")
    base = {"type": "postgresql", "uri": pg.uri, "password_file": str(secret), "table": "ventas"}
    keyed = {**base, "key": "id", "partition_by": {"column": "id", "bounds": [50_000, 100_000, 150_000]}}
    deployment.start_connector("acme", {"ventas": keyed, "sin_clave": base})
    proxy = TcpProxy(("127.0.0.1", deployment.http_port)).start()
    before = len(pg.statements())
    try:

        async def main() -> tuple[list[int], bool]:
            url = f"ws://127.0.0.1:{proxy.port}"
            async with await AsyncClient.connect(url, deployment.session("acme"), resume=True) as client:
                ids: list[int] = []
                resets = 0
                async for batch in client.stream("ventas", ["id", "texto"]):
                    ids += batch.column("id").to_pylist()
                    if resets < 2 and len(ids) >= (resets + 1) * ROWS // 3:
                        proxy.reset()  # the connection drops mid-query
                        resets += 1
                assert resets == 2 and client.resumes >= 2
                async with connect(f"{url}/stream/{deployment.session('acme')}") as ws:
                    ask = {"action": "query", "id": "k", "dataset": "sin_clave", "limit": 1, "resumable": True}
                    await ws.send(json.dumps(ask))
                    info = json.loads(await asyncio.wait_for(ws.recv(), 30))
                return ids, info["resumable"]

        ids, unkeyed_resumable = asyncio.run(main())
    finally:
        proxy.stop()
    assert sorted(ids) == list(range(1, ROWS + 1))  # each row once
    assert unkeyed_resumable is False
    reads = [s for s in pg.statements()[before:] if "FROM (SELECT * FROM" in s and "saeta_q WHERE" in s]
    assert reads and all('ORDER BY "id"' in s for s in reads if '"texto"' in s)


def test_a_key_the_query_does_not_return_fails_naming_it(pg: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dataset(pg, monkeypatch, table=("ventas",))
    assert cfg.sql is not None
    missing = dataclasses.replace(cfg, sql=dataclasses.replace(cfg.sql, key=("id", "nope")))
    with opened(missing) as source, pytest.raises(SourceError, match="key: column 'nope' not found"):
        source.schema()
