"""connector/aggregate.py against an oracle: every aggregate computed again with pyarrow
from the same rows (counts, sums, means, min, max, first and last per bucket, pages)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from saeta.connector.aggregate import run, sql_of
from saeta.core.aggregation import Limits, bind_aggregate, parse_aggregate
from saeta.core.filters import kinds_of
from saeta.demo_data import ventas
from saeta.errors import ResultTooLarge

TABLE = ventas(50_000, seed=3)
KINDS = kinds_of(TABLE.schema)


def _run(spec: dict[str, Any], table: pa.Table = TABLE, **kw: Any) -> pa.Table:
    kinds = kinds_of(table.schema)
    agg = bind_aggregate(parse_aggregate(spec), kinds, "t")
    if "max_rows" in kw:
        kw["limits"] = Limits(max_rows=kw.pop("max_rows"))
    return run(agg, table.schema, lambda columns: table.select(columns).to_reader(max_chunksize=4096), **kw)


def test_a_group_by_equals_pyarrows() -> None:
    got = _run(
        {
            "group_by": ["producto"],
            "measures": [
                {"op": "count"},
                {"op": "sum", "column": "cantidad"},
                {"op": "mean", "column": "precio"},
                {"op": "min", "column": "total"},
                {"op": "max", "column": "fecha"},
            ],
        }
    )
    want = (
        TABLE.group_by("producto")
        .aggregate([([], "count_all"), ("cantidad", "sum"), ("precio", "mean"), ("total", "min"), ("fecha", "max")])
        .sort_by("producto")
    )
    assert got.column_names == ["producto", "count", "sum_cantidad", "mean_precio", "min_total", "max_fecha"]
    assert got["producto"].to_pylist() == want["producto"].to_pylist()
    assert got["count"].to_pylist() == want["count_all"].to_pylist()
    assert got["sum_cantidad"].to_pylist() == want["cantidad_sum"].to_pylist()
    for a, b in zip(got["mean_precio"].to_pylist(), want["precio_mean"].to_pylist(), strict=True):
        assert math.isclose(a, b, rel_tol=1e-12)
    assert got["min_total"].to_pylist() == want["total_min"].to_pylist()
    assert got["max_fecha"].to_pylist() == want["fecha_max"].to_pylist()


def _oracle_m4(table: pa.Table, buckets: int) -> list[tuple[int, int, float, float, float, float]]:
    ms = pc.cast(table["fecha"], pa.int64()).to_pylist()
    total = table["total"].to_pylist()
    lo, hi = min(ms), max(ms)
    width = (hi - lo) / buckets
    rows: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for t, v in zip(ms, total, strict=True):
        rows[min(math.floor((t - lo) / width), buckets - 1)].append((t, v))
    out = []
    for b in sorted(rows):
        points = rows[b]
        values = [v for _, v in points]
        out.append((b, len(points), min(values), max(values), min(points)[1], max(points)[1]))
    return out


def test_m4_buckets_over_the_time_range_equal_an_independent_count() -> None:
    shuffled = TABLE.take(pc.sort_indices(TABLE["precio"]))  # not in time order
    got = _run(
        {
            "bucket": {"column": "fecha", "count": 100},
            "measures": [
                {"op": "count"},
                {"op": "min", "column": "total"},
                {"op": "max", "column": "total"},
                {"op": "first", "column": "total"},
                {"op": "last", "column": "total"},
            ],
        },
        shuffled,
    )
    want = _oracle_m4(TABLE, 100)
    assert got.num_rows == len(want) == 100
    assert got["count"].to_pylist() == [w[1] for w in want]
    assert got["min_total"].to_pylist() == [w[2] for w in want]
    assert got["max_total"].to_pylist() == [w[3] for w in want]
    assert got["first_total"].to_pylist() == [w[4] for w in want]
    assert got["last_total"].to_pylist() == [w[5] for w in want]
    assert got.schema.field("fecha").type == TABLE.schema.field("fecha").type  # each bucket's lower edge
    edges = pc.cast(got["fecha"], pa.int64()).to_pylist()
    assert edges[0] == pc.cast(TABLE["fecha"], pa.int64())[0].as_py()
    assert edges == sorted(edges)


def test_fixed_width_buckets_over_a_number() -> None:
    got = _run({"bucket": {"column": "precio", "width": 100}, "measures": [{"op": "count"}]})
    counts: dict[float, int] = defaultdict(int)
    for p in TABLE["precio"].to_pylist():
        counts[math.floor(p / 100) * 100.0] += 1
    assert list(zip(got["precio"].to_pylist(), got["count"].to_pylist(), strict=True)) == sorted(counts.items())


def test_sort_offset_and_limit_give_a_page() -> None:
    spec = {
        "group_by": ["region", "producto"],
        "measures": [{"op": "sum", "column": "total", "as": "ventas"}],
        "sort": [{"column": "ventas", "desc": True}],
        "offset": 3,
    }
    page = _run(spec, limit=4)
    whole = TABLE.group_by(["region", "producto"]).aggregate([("total", "sum")]).sort_by([("total_sum", "descending")])
    assert page["ventas"].to_pylist() == pytest.approx(whole["total_sum"].to_pylist()[3:7], rel=1e-12)


def test_nulls_are_counted_as_sql_counts_them() -> None:
    table = pa.table({"g": ["a", "a", "b", None], "v": [1, None, 3, 4]})
    got = _run(
        {
            "group_by": ["g"],
            "measures": [{"op": "count"}, {"op": "count", "column": "v"}, {"op": "sum", "column": "v"}],
        },
        table,
    )
    assert got.to_pylist() == [
        {"g": "a", "count": 2, "count_v": 1, "sum_v": 1},
        {"g": "b", "count": 1, "count_v": 1, "sum_v": 3},
        {"g": None, "count": 1, "count_v": 1, "sum_v": 4},
    ]


def test_names_are_identifiers_never_sql() -> None:
    table = pa.table({'we"ird; DROP': ["x", "x", "y"], "v": [1.0, 2.0, 3.0]})
    got = _run({"group_by": ['we"ird; DROP'], "measures": [{"op": "sum", "column": "v", "as": "a) --"}]}, table)
    assert got.to_pylist() == [{'we"ird; DROP': "x", "a) --": 3.0}, {'we"ird; DROP': "y", "a) --": 3.0}]
    assert "DROP" not in sql_of(parse_aggregate({"measures": [{"op": "count"}]}), KINDS)


def test_more_groups_than_the_bound_is_refused_with_its_code() -> None:
    with pytest.raises(ResultTooLarge) as err:
        _run({"group_by": ["id"], "measures": [{"op": "count"}]}, max_rows=1000)
    assert err.value.code == "RESULT_TOO_LARGE"
    assert _run({"group_by": ["id"], "measures": [{"op": "count"}]}, limit=10, max_rows=1000).num_rows == 10


def test_an_aggregate_past_its_memory_is_refused_not_spilled() -> None:
    table = pa.table({"id": pa.array(range(2_000_000), pa.int64())})
    spec = {"group_by": ["id"], "measures": [{"op": "count"}]}
    with pytest.raises(ResultTooLarge, match=r"aggregation\.memory_mb"):
        _run(spec, table, limit=10, limits=Limits(memory_mb=32))
    assert _run(spec, table, limit=10, limits=Limits(memory_mb=512)).num_rows == 10
