"""Aggregation and pages at the source through real processes (control plane, gateway, connector,
PostgreSQL): every aggregate checked against an oracle computed without saeta, pyarrow
over the same files and SQL run directly on PostgreSQL, with nulls, empty buckets, time
zones and bucket edges; and the refusals, each with its code and the part named."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from saeta import certs
from saeta.client import Client, ServerError

from tests.system.harness import Deployment
from tests.system.postgres_server import PASSWORD, PostgresServer

pytestmark = pytest.mark.system
ROWS = 120_000
DAY_MS = 86_400_000
START = dt.datetime(2024, 3, 30, 22, tzinfo=dt.UTC)  # across a DST change in Madrid


def lecturas(rows: int, seed: int = 5) -> pa.Table:
    """Readings with nulls in the value, the time and the group; a gap of empty buckets;
    a zoned timestamp, a naive one and a date."""
    import random

    rnd = random.Random(seed)
    when, value, zona, dia, sitio = [], [], [], [], []
    for i in range(rows):
        # Irregular steps, and no row at all in hours 100-130 (empty buckets).
        t = START + dt.timedelta(seconds=i * 37 + rnd.randrange(30) + (40 * 3600 if i > rows // 3 else 0))
        when.append(None if i % 997 == 0 else t.replace(tzinfo=None))
        zona.append(t)
        dia.append(t.date())
        value.append(None if i % 101 == 0 else round(rnd.gauss(50, 15), 3))
        sitio.append(None if i % 503 == 0 else f"s{rnd.randrange(7)}")
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "momento": pa.array(when, pa.timestamp("ms")),
            "zona": pa.array(zona, pa.timestamp("ms", tz="Europe/Madrid")),
            "dia": pa.array(dia, pa.date32()),
            "valor": pa.array(value, pa.float64()),
            "sitio": pa.array(sitio, pa.string()),
            "cantidad": pa.array([i % 13 for i in range(rows)], pa.int32()),
        }
    )


TABLE = lecturas(ROWS)


def ms(values: list[Any]) -> list[int | None]:
    """Times as milliseconds since the epoch (naive ones as UTC), dates at midnight UTC."""
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, dt.datetime):
            v = v if v.tzinfo else v.replace(tzinfo=dt.UTC)
            out.append(round(v.timestamp() * 1000))
        else:
            out.append(round(dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC).timestamp() * 1000))
    return out


def oracle_buckets(table: pa.Table, column: str, width: float, lo: float, last: int) -> list[dict[str, Any]]:
    """count, min, max, first and last of ``valor`` per bucket, in plain Python."""
    rows: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    for t, v in zip(ms(table[column].to_pylist()), table["valor"].to_pylist(), strict=True):
        if t is not None:
            rows[min(math.floor((t - lo) / width), last)].append((t, v))
    out = []
    for b in sorted(rows):
        points = rows[b]
        values = [v for _, v in points if v is not None]
        ordered = sorted((t, v) for t, v in points if v is not None)
        out.append(
            {
                "edge": lo + b * width,
                "count": len(points),
                "count_valor": len(values),
                "min": min(values, default=None),
                "max": max(values, default=None),
                "first": ordered[0][1] if ordered else None,
                "last": ordered[-1][1] if ordered else None,
            }
        )
    return out


M4 = [
    {"op": "count"},
    {"op": "count", "column": "valor"},
    {"op": "min", "column": "valor", "as": "min"},
    {"op": "max", "column": "valor", "as": "max"},
    {"op": "first", "column": "valor", "as": "first"},
    {"op": "last", "column": "valor", "as": "last"},
]


def check_buckets(got: pa.Table, column: str, want: list[dict[str, Any]]) -> None:
    assert got.num_rows == len(want)
    assert ms(got[column].to_pylist()) == [math.floor(w["edge"]) for w in want]
    for name in ("count", "count_valor", "min", "max"):
        assert got[name].to_pylist() == [w[name] for w in want], name
    # first / last: ties in time are rare but allowed to pick either value.
    assert got["first"].to_pylist() == [w["first"] for w in want]
    assert got["last"].to_pylist() == [w["last"] for w in want]


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        server.ingest("lecturas", TABLE.set_column(2, "zona", pc.cast(TABLE["zona"], pa.timestamp("us", tz="UTC"))))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("agg")
    third = ROWS // 3
    for i in range(3):
        pq.write_table(
            TABLE.slice(i * third, third if i < 2 else ROWS - 2 * third), root / f"l-{i}.parquet", row_group_size=8192
        )
    pacsv.write_csv(TABLE.drop_columns(["zona"]), root / "l.csv")
    return root


@pytest.fixture(scope="module")
def site(files: Path, pg: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path_factory.mktemp("deploy"))
    certs.init_ca(deployment.certs)
    try:
        deployment.start_control_plane()
        deployment.start_gateway()
        secret = deployment.root / "pg.pass"
        secret.write_text(PASSWORD + "\n")
        datasets = {
            "parquet": {"type": "parquet", "path": str(files / "l-*.parquet")},
            "csv": {
                "type": "csv",
                "path": str(files / "l.csv"),
                "options": {"column_types": {"momento": "timestamp[ms]", "dia": "date32"}},
            },
            "pg": {"type": "postgresql", "uri": pg.uri, "password_file": str(secret), "table": "lecturas"},
        }
        deployment.start_connector("acme", datasets, sections={"aggregation": {"max_result_rows": 5000}})
        yield deployment
    except BaseException:
        print(deployment.logs())
        raise
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def client(site: Deployment) -> Iterator[Client]:
    with Client.connect(site.ws_url, site.session("acme")) as c:
        yield c


def query(client: Client, dataset: str, aggregate: dict[str, Any], **kw: Any) -> pa.Table:
    return client.query(dataset, aggregate=aggregate, **kw)


@pytest.mark.parametrize("dataset", ["parquet", "csv", "pg"])
def test_m4_by_count_over_a_naive_time_equals_the_oracle(client: Client, dataset: str) -> None:
    got = query(client, dataset, {"bucket": {"column": "momento", "count": 400}, "measures": M4})
    times = [t for t in ms(TABLE["momento"].to_pylist()) if t is not None]
    lo, hi = min(times), max(times)
    want = oracle_buckets(TABLE, "momento", (hi - lo) / 400, lo, 399)
    assert len(want) < 400  # the gap left buckets empty: they are not rows
    check_buckets(got, "momento", want)


@pytest.mark.parametrize("dataset", ["parquet", "pg"])
def test_hourly_buckets_of_a_zoned_time_are_aligned_on_the_epoch(client: Client, dataset: str) -> None:
    got = query(client, dataset, {"bucket": {"column": "zona", "width": 3_600_000}, "measures": M4})
    times = ms(TABLE["zona"].to_pylist())
    lo = math.floor(min(t for t in times if t is not None) / 3_600_000) * 3_600_000
    last = math.floor(max(t for t in times if t is not None) / 3_600_000) * 3_600_000
    want = oracle_buckets(TABLE, "zona", 3_600_000, lo, (last - lo) // 3_600_000)
    check_buckets(got, "zona", want)
    assert got.schema.field("zona").type.tz is not None  # an instant, whatever its zone


@pytest.mark.parametrize("dataset", ["parquet", "csv", "pg"])
def test_weekly_buckets_of_a_date(client: Client, dataset: str) -> None:
    got = query(client, dataset, {"bucket": {"column": "dia", "width": 7 * DAY_MS}, "measures": [{"op": "count"}]})
    counts: dict[dt.date, int] = defaultdict(int)
    for day in TABLE["dia"].to_pylist():
        edge = math.floor(ms([day])[0] / (7 * DAY_MS)) * 7 * DAY_MS  # type: ignore[operator]
        counts[dt.datetime.fromtimestamp(edge / 1000, dt.UTC).date()] += 1
    assert got.schema.field("dia").type == pa.date32()
    assert list(zip(got["dia"].to_pylist(), got["count"].to_pylist(), strict=True)) == sorted(counts.items())


@pytest.mark.parametrize("dataset", ["parquet", "csv", "pg"])
def test_group_by_with_nulls_equals_pyarrows(client: Client, dataset: str) -> None:
    measures = [
        {"op": "count"},
        {"op": "count", "column": "valor"},
        {"op": "sum", "column": "cantidad"},
        {"op": "mean", "column": "valor"},
        {"op": "max", "column": "momento"},
    ]
    got = query(client, dataset, {"group_by": ["sitio"], "measures": measures})
    want = TABLE.group_by("sitio").aggregate(
        [([], "count_all"), ("valor", "count"), ("cantidad", "sum"), ("valor", "mean"), ("momento", "max")]
    )
    by = {r["sitio"]: r for r in want.to_pylist()}
    assert got["sitio"].to_pylist() == [*sorted(k for k in by if k is not None), None]  # nulls last
    for row in got.to_pylist():
        w = by[row["sitio"]]
        assert (row["count"], row["count_valor"], row["sum_cantidad"]) == (
            w["count_all"],
            w["valor_count"],
            w["cantidad_sum"],
        )
        assert math.isclose(row["mean_valor"], w["valor_mean"], rel_tol=1e-9)
        assert row["max_momento"] == w["momento_max"]


@pytest.mark.parametrize("dataset", ["parquet", "pg"])
def test_a_sorted_page_with_a_filter(client: Client, dataset: str) -> None:
    spec = {
        "group_by": ["sitio", "cantidad"],
        "measures": [{"op": "sum", "column": "valor", "as": "suma"}],
        "sort": [{"column": "suma", "desc": True}],
        "offset": 5,
    }
    got = client.query(dataset, limit=7, filter=[["cantidad", ">", 3], ["sitio", "not_null"]], aggregate=spec)
    kept = TABLE.filter(pc.and_(pc.greater(TABLE["cantidad"], 3), pc.is_valid(TABLE["sitio"])))
    whole = kept.group_by(["sitio", "cantidad"]).aggregate([("valor", "sum")]).sort_by([("valor_sum", "descending")])
    assert got["suma"].to_pylist() == pytest.approx(whole["valor_sum"].to_pylist()[5:12], rel=1e-9)


def test_postgresql_agrees_with_its_own_group_by(client: Client, pg: PostgresServer) -> None:
    """The oracle for the database: the same buckets written by hand in PostgreSQL."""
    import adbc_driver_postgresql.dbapi as pgdb

    got = query(client, "pg", {"bucket": {"column": "zona", "width": 6 * 3_600_000}, "measures": M4[:4]})
    sql = """SELECT date_bin('6 hours', zona, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS edge, count(*),
                    count(valor), min(valor), max(valor)
             FROM lecturas WHERE zona IS NOT NULL GROUP BY 1 ORDER BY 1"""
    with pgdb.connect(pg.admin_uri) as conn, conn.cursor() as cur:
        cur.execute(sql)
        want = cur.fetchall()
    assert [(r["zona"], r["count"], r["count_valor"], r["min"], r["max"]) for r in got.to_pylist()] == [
        tuple(w) for w in want
    ]


BAD = [
    ({"bucket": {"column": "momento", "count": 0}, "measures": M4}, "aggregate.bucket.count"),
    ({"bucket": {"column": "momento", "count": 10**9}, "measures": M4}, "aggregate.bucket.count"),
    ({"measures": [{"op": "median", "column": "valor"}]}, "aggregate.measures[0].op"),
    ({"measures": [{"op": "sum", "column": "sitio"}]}, "aggregate.measures[0].column"),
    ({"group_by": ["nadie"], "measures": [{"op": "count"}]}, "aggregate.group_by[0]"),
    ({"bucket": {"column": "sitio", "count": 10}, "measures": [{"op": "count"}]}, "aggregate.bucket.column"),
    ({"measures": [{"op": "count"}], "sort": [{"column": "otra"}]}, "aggregate.sort[0].column"),
    ({"bucket": {"column": "momento", "width": 0.001}, "measures": [{"op": "count"}]}, "aggregate.bucket.width"),
]


@pytest.mark.parametrize("dataset", ["parquet", "pg"])
@pytest.mark.parametrize(("spec", "part"), BAD)
def test_bad_aggregates_are_refused_naming_the_part(
    client: Client, dataset: str, spec: dict[str, Any], part: str
) -> None:
    with pytest.raises(ServerError) as err:
        query(client, dataset, spec)
    assert err.value.code == "BAD_REQUEST"
    assert part in str(err.value)


@pytest.mark.parametrize("dataset", ["parquet", "pg"])
def test_more_groups_than_the_bound_is_refused_with_its_code(client: Client, dataset: str) -> None:
    with pytest.raises(ServerError) as err:
        query(client, dataset, {"group_by": ["id"], "measures": [{"op": "count"}]})
    assert err.value.code == "RESULT_TOO_LARGE"
    page = query(client, dataset, {"group_by": ["id"], "measures": [{"op": "count"}], "offset": 100}, limit=50)
    assert page["id"].to_pylist() == list(range(100, 150))


@pytest.mark.parametrize("dataset", ["parquet", "pg"])
def test_an_offset_past_the_end_is_refused_naming_it(client: Client, dataset: str) -> None:
    spec = {"group_by": ["sitio"], "measures": [{"op": "count"}]}
    assert query(client, dataset, {**spec, "offset": 7})["sitio"].to_pylist() == [None]  # the last page
    with pytest.raises(ServerError) as err:
        query(client, dataset, {**spec, "offset": 8})
    assert err.value.code == "BAD_REQUEST"
    assert "aggregate.offset" in str(err.value)


@pytest.mark.parametrize("dataset", ["parquet", "csv", "pg"])
def test_a_sorted_page_of_rows_is_cut_at_the_source(client: Client, dataset: str) -> None:
    sort = [{"column": "valor", "desc": True}, {"column": "id"}]
    got = client.query(dataset, ["id", "valor"], 25, sort=sort, offset=1000, filter=[["sitio", "=", "s3"]])
    kept = TABLE.filter(pc.equal(TABLE["sitio"], "s3"))
    want = kept.sort_by([("valor", "descending"), ("id", "ascending")]).select(["id", "valor"])
    nulls_last = pa.concat_tables([want.filter(pc.is_valid(want["valor"])), want.filter(pc.is_null(want["valor"]))])
    assert got.column_names == ["id", "valor"]
    assert got.to_pylist() == nulls_last.slice(1000, 25).to_pylist()


@pytest.mark.parametrize("dataset", ["parquet", "csv"])
def test_an_unsorted_page_of_files_is_in_file_order(client: Client, dataset: str) -> None:
    got = client.query(dataset, ["id"], 10, offset=ROWS - 5)
    assert got["id"].to_pylist() == list(range(ROWS - 5, ROWS))


def test_pages_are_refused_where_they_cannot_hold(client: Client) -> None:
    with pytest.raises(ServerError) as err:
        client.query("pg", ["id"], 10, offset=5)  # a table without a key has no order
    assert err.value.code == "BAD_REQUEST" and "give a 'sort'" in str(err.value)
    with pytest.raises(ServerError) as err:
        client.query("parquet", ["id"], 10, offset=ROWS)
    assert err.value.code == "BAD_REQUEST" and "offset" in str(err.value)
    with pytest.raises(ServerError) as err:
        client.query("parquet", ["id"], sort=[{"column": "id"}])  # every row: more than a page
    assert err.value.code == "RESULT_TOO_LARGE"
    with pytest.raises(ServerError) as err:
        client.query("parquet", ["id"], 10, sort=[{"column": "nadie"}])
    assert err.value.code == "BAD_REQUEST" and "sort[0].column" in str(err.value)
