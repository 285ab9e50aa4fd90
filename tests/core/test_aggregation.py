"""core/aggregation.py: the shape of a query's aggregate, every refusal naming its part."""

from __future__ import annotations

from typing import Any

import pytest
from saeta.core.aggregation import (
    MAX_BUCKETS,
    MAX_GROUP_BY,
    MAX_MEASURES,
    Aggregate,
    Bucket,
    Measure,
    SortKey,
    parse_aggregate,
)
from saeta.errors import BadRequest

M4 = {
    "bucket": {"column": "fecha", "count": 1000},
    "measures": [
        {"op": "min", "column": "total"},
        {"op": "max", "column": "total"},
        {"op": "first", "column": "total"},
        {"op": "last", "column": "total"},
        {"op": "count"},
    ],
}


def test_m4_over_a_thousand_buckets() -> None:
    agg = parse_aggregate(M4)
    assert agg.bucket == Bucket("fecha", count=1000)
    assert agg.group_by == () and agg.offset == 0 and agg.sort == ()
    assert agg.output_columns() == ("fecha", "min_total", "max_total", "first_total", "last_total", "count")


def test_a_group_by_with_names_sort_and_a_page() -> None:
    agg = parse_aggregate(
        {
            "group_by": ["region", "producto"],
            "measures": [{"op": "sum", "column": "total", "as": "ventas"}, {"op": "count", "column": "precio"}],
            "sort": [{"column": "ventas", "desc": True}, {"column": "region"}],
            "offset": 20,
        }
    )
    assert agg == Aggregate(
        ("region", "producto"),
        None,
        (Measure("sum", "total", "ventas"), Measure("count", "precio", "count_precio")),
        (SortKey("ventas", True), SortKey("region", False)),
        20,
    )


def test_a_fixed_width_bucket() -> None:
    agg = parse_aggregate({"bucket": {"column": "fecha", "width": 3_600_000}, "measures": [{"op": "count"}]})
    assert agg.bucket == Bucket("fecha", width=3_600_000.0)


@pytest.mark.parametrize(
    ("value", "part"),
    [
        ([], "aggregate: must be an object"),
        ({"measures": []}, "aggregate.measures: must be a list of 1-"),
        ({"measures": [{"op": "count"}] * (MAX_MEASURES + 1)}, "aggregate.measures: must be a list of 1-"),
        ({"measures": [{"op": "median", "column": "x"}]}, "aggregate.measures[0].op: unknown measure 'median'"),
        ({"measures": [{"op": "sum"}]}, "aggregate.measures[0].column: sum needs a column"),
        ({"measures": [{"op": "first", "column": "x"}]}, "aggregate.measures[0].op: first needs a bucket"),
        ({"measures": [{"op": "count", "extra": 1}]}, "aggregate.measures[0]: unknown key 'extra'"),
        ({"measures": [{"op": "count"}, {"op": "count"}]}, "two columns named 'count'"),
        ({"group_by": ["count"], "measures": [{"op": "count"}]}, "two columns named 'count'"),
        ({"group_by": ["a"] * (MAX_GROUP_BY + 1), "measures": [{"op": "count"}]}, "aggregate.group_by: must be"),
        ({"group_by": [""], "measures": [{"op": "count"}]}, "aggregate.group_by[0]: must be a column name"),
        ({"bucket": {"column": "t", "count": 0}, "measures": [{"op": "count"}]}, "aggregate.bucket.count"),
        ({"bucket": {"column": "t", "count": 10**9}, "measures": [{"op": "count"}]}, "aggregate.bucket.count"),
        ({"bucket": {"column": "t", "count": MAX_BUCKETS + 1}, "measures": [{"op": "count"}]}, "bucket.count"),
        ({"bucket": {"column": "t", "count": True}, "measures": [{"op": "count"}]}, "aggregate.bucket.count"),
        ({"bucket": {"column": "t", "width": 0}, "measures": [{"op": "count"}]}, "aggregate.bucket.width"),
        ({"bucket": {"column": "t", "width": -1.5}, "measures": [{"op": "count"}]}, "aggregate.bucket.width"),
        ({"bucket": {"column": "t", "width": 1, "count": 2}, "measures": [{"op": "count"}]}, "exactly one of"),
        ({"bucket": {"column": "t"}, "measures": [{"op": "count"}]}, "exactly one of"),
        ({"measures": [{"op": "count"}], "sort": [{"column": "nope"}]}, "aggregate.sort[0].column: 'nope' is not"),
        ({"measures": [{"op": "count"}], "sort": [{"column": "count", "desc": 1}]}, "aggregate.sort[0].desc"),
        ({"measures": [{"op": "count"}], "offset": -1}, "aggregate.offset"),
        ({"measures": [{"op": "count"}], "offset": 1.5}, "aggregate.offset"),
        ({"measures": [{"op": "count"}], "having": {}}, "aggregate: unknown key 'having'"),
    ],
)
def test_bad_shapes_are_refused_naming_the_part(value: Any, part: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_aggregate(value)
    assert part in err.value.message
    assert err.value.code == "BAD_REQUEST"


def test_a_nan_or_infinite_width_is_refused() -> None:
    for width in (float("nan"), float("inf")):
        with pytest.raises(BadRequest, match=r"bucket\.width"):
            parse_aggregate({"bucket": {"column": "t", "width": width}, "measures": [{"op": "count"}]})
