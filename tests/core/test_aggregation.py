"""core/aggregation.py: the shape of a query's aggregate, every refusal naming its part."""

from __future__ import annotations

import json
from typing import Any

import pytest
from saeta.core import filter_codec
from saeta.core import resume_token as rt
from saeta.core.aggregation import (
    MAX_BUCKETS,
    MAX_GROUP_BY,
    MAX_MEASURES,
    Aggregate,
    Bucket,
    Measure,
    SortKey,
    bind_aggregate,
    bucket_params,
    measure_kind,
    parse_aggregate,
    to_json,
)
from saeta.core.filters import Kind
from saeta.core.paging import Page, bind_page, parse_page
from saeta.core.ticket import Ticket
from saeta.errors import BadRequest
from saeta.v1 import tunnel_pb2 as pb

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


KINDS = {
    "fecha": Kind.TIMESTAMP,
    "dia": Kind.DATE,
    "region": Kind.STRING,
    "total": Kind.FLOAT,
    "cantidad": Kind.INTEGER,
    "activo": Kind.BOOLEAN,
    "id": Kind.UUID,
    "tags": Kind.NONE,
}


def test_m4_and_a_group_by_bind_to_their_columns() -> None:
    agg = parse_aggregate(M4)
    assert bind_aggregate(agg, KINDS, "ventas") is agg
    by_region = parse_aggregate(
        {
            "group_by": ["region", "activo"],
            "measures": [{"op": "mean", "column": "cantidad"}, {"op": "count", "column": "tags"}],
            "sort": [{"column": "mean_cantidad", "desc": True}, {"column": "activo"}],
        }
    )
    bind_aggregate(by_region, KINDS, "ventas")
    assert measure_kind(by_region.measures[0], KINDS) is Kind.FLOAT
    assert measure_kind(by_region.measures[1], KINDS) is Kind.INTEGER


@pytest.mark.parametrize(
    ("value", "part"),
    [
        ({"group_by": ["nope"], "measures": [{"op": "count"}]}, "aggregate.group_by[0]: dataset ventas has no column"),
        ({"group_by": ["tags"], "measures": [{"op": "count"}]}, "aggregate.group_by[0]: 'tags' is a column of a type"),
        ({"bucket": {"column": "region", "count": 10}, "measures": [{"op": "count"}]}, "aggregate.bucket.column"),
        ({"bucket": {"column": "dia", "width": 3_600_000}, "measures": [{"op": "count"}]}, "whole days"),
        ({"measures": [{"op": "sum", "column": "region"}]}, "aggregate.measures[0].column: sum needs a number"),
        ({"measures": [{"op": "mean", "column": "fecha"}]}, "aggregate.measures[0].column: mean needs a number"),
        ({"measures": [{"op": "max", "column": "id"}]}, "max needs a column with an order"),
        ({"measures": [{"op": "min", "column": "nope"}]}, "aggregate.measures[0].column: dataset ventas has no"),
        ({"group_by": ["id"], "measures": [{"op": "count"}], "sort": [{"column": "id"}]}, "aggregate.sort[0].column"),
    ],
)
def test_measures_that_do_not_fit_their_columns_are_refused(value: Any, part: str) -> None:
    with pytest.raises(BadRequest) as err:
        bind_aggregate(parse_aggregate(value), KINDS, "ventas")
    assert part in err.value.message


def test_a_date_column_takes_whole_day_buckets() -> None:
    agg = parse_aggregate({"bucket": {"column": "dia", "width": 7 * 86_400_000}, "measures": [{"op": "count"}]})
    assert bind_aggregate(agg, KINDS, "ventas") is agg


ROUND_TRIPS = [
    {"measures": [{"op": "count"}]},
    {
        "group_by": ["region", "producto"],
        "bucket": {"column": "fecha", "count": 800},
        "measures": [{"op": "first", "column": "total", "as": "abre"}, {"op": "count", "column": "id"}],
        "sort": [{"column": "abre", "desc": True}],
        "offset": 40,
    },
    {"bucket": {"column": "precio", "width": 2.5}, "measures": [{"op": "mean", "column": "precio"}]},
]


@pytest.mark.parametrize("value", ROUND_TRIPS)
def test_an_aggregate_crosses_the_tunnel_and_the_ticket_unchanged(value: Any) -> None:
    agg = parse_aggregate(value)
    assert parse_aggregate(to_json(agg)) == agg
    query = filter_codec.query_message(None, 10, (), False, aggregate=agg)
    assert filter_codec.aggregate_from_proto(pb.Query.FromString(query.SerializeToString())) == agg
    assert Ticket.decode(Ticket("ventas", 0, None, aggregate=agg).encode()).aggregate == agg
    assert filter_codec.aggregate_from_proto(filter_codec.query_message(None, 10, (), False)) is None


def test_a_page_crosses_the_tunnel_and_the_ticket_unchanged() -> None:
    page = parse_page([{"column": "total", "desc": True}, {"column": "id"}], 30)
    assert page is not None
    query = filter_codec.query_message(("id", "total"), 10, (), False, page=page)
    assert filter_codec.page_from_proto(pb.Query.FromString(query.SerializeToString())) == page
    assert Ticket.decode(Ticket("ventas", 0, ("id",), page=page).encode()).page == page
    assert filter_codec.page_from_proto(filter_codec.query_message(None, 10, (), False)) is None
    with pytest.raises(BadRequest, match=r"sort\[0\]\.column: 'tags' is"):
        bind_page(parse_page([{"column": "tags"}], None) or Page(), KINDS, "ventas")


def test_the_connector_checks_what_the_tunnel_brings_as_the_gateway_did() -> None:
    query = pb.Query(aggregate=pb.Aggregate(measures=[pb.Measure(op="sum", name="s")]))
    with pytest.raises(BadRequest, match=r"aggregate\.measures\[0\]\.column: sum needs a column"):
        filter_codec.aggregate_from_proto(query)
    query = pb.Query(aggregate=pb.Aggregate(bucket=pb.Bucket(column="fecha"), measures=[pb.Measure(op="count")]))
    with pytest.raises(BadRequest, match=r"aggregate\.bucket\.width"):
        filter_codec.aggregate_from_proto(query)
    forged = json.dumps({"v": 1, "d": "ventas", "p": 0, "c": None, "a": {"measures": []}})
    with pytest.raises(BadRequest, match=r"aggregate\.measures"):
        Ticket.decode(forged)


def test_buckets_by_width_past_the_bound_are_refused_before_running() -> None:
    agg = parse_aggregate({"bucket": {"column": "precio", "width": 0.5}, "measures": [{"op": "count"}]})
    assert bucket_params(agg, Kind.FLOAT, (0.0, 49_999.0))["last"] == 99_998
    with pytest.raises(BadRequest, match=r"aggregate\.bucket\.width: 0\.5 would make 200001 buckets"):
        bucket_params(agg, Kind.FLOAT, (0.0, 100_000.0))
    by_count = parse_aggregate({"bucket": {"column": "dia", "count": 1000}, "measures": [{"op": "count"}]})
    assert bucket_params(by_count, Kind.DATE, (0.0, 10 * 86_400_000.0))["width"] == 86_400_000  # whole days


def test_a_query_message_with_an_aggregate_is_its_own_resume_digest() -> None:
    agg = parse_aggregate({"measures": [{"op": "count"}]})
    plain = rt.query_digest("q", "ventas", None, None, False, ())
    assert rt.query_digest("q", "ventas", None, None, False, (), aggregate=agg) != plain
    assert rt.query_digest("q", "ventas", None, None, False, (), aggregate=None) == plain
