"""Filter shape (gateway), binding to a dataset's columns (connector), and the tunnel codec."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from typing import Any

import pyarrow as pa
import pytest
from saeta.core import browser_protocol as bp
from saeta.core import filter_codec
from saeta.core.filters import Condition, Kind, bind, kinds_of, parse_filter, to_json
from saeta.errors import BadRequest
from saeta.v1 import tunnel_pb2

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("small", pa.int8()),
        ("price", pa.float64()),
        ("amount", pa.decimal128(12, 2)),
        ("name", pa.string()),
        ("ok", pa.bool_()),
        ("day", pa.date32()),
        ("at", pa.timestamp("us")),
        ("at_utc", pa.timestamp("us", tz="UTC")),
        ("blob", pa.binary()),
        ("tags", pa.list_(pa.string())),
    ]
)
KINDS = kinds_of(SCHEMA) | {"key": Kind.UUID}


def test_kinds_of_arrow_types() -> None:
    assert KINDS == {
        "id": Kind.INTEGER,
        "small": Kind.INTEGER,
        "price": Kind.FLOAT,
        "amount": Kind.DECIMAL,
        "name": Kind.STRING,
        "ok": Kind.BOOLEAN,
        "day": Kind.DATE,
        "at": Kind.TIMESTAMP,
        "at_utc": Kind.TIMESTAMP_TZ,
        "blob": Kind.NONE,
        "tags": Kind.NONE,
        "key": Kind.UUID,
    }


def test_every_op_parses_and_round_trips() -> None:
    raw = [
        ["id", "=", 1],
        ["id", "!=", 2],
        ["price", "<", 1.5],
        ["price", "<=", 2],
        ["name", ">", "a"],
        ["name", ">=", "b"],
        ["id", "in", [1, 2, 3]],
        ["name", "not_in", ["x"]],
        ["blob", "is_null"],
        ["tags", "not_null"],
    ]
    conditions = parse_filter(raw)
    assert conditions[0] == Condition("id", "=", (1,))
    assert conditions[6] == Condition("id", "in", (1, 2, 3))
    assert conditions[8] == Condition("blob", "is_null", ())
    assert to_json(conditions) == raw
    assert filter_codec.from_proto(filter_codec.to_proto(conditions)) == conditions
    # A null test may also carry an explicit null value.
    assert parse_filter([["blob", "is_null", None]]) == (Condition("blob", "is_null", ()),)


def test_tunnel_codec_keeps_value_types() -> None:
    conditions = parse_filter([["x", "in", [True, 1, 1.0, "1", -(2**63), 2**63 - 1]]])
    back = filter_codec.from_proto(filter_codec.to_proto(conditions))
    assert back == conditions
    assert [type(v) for v in back[0].values] == [bool, int, float, str, int, int]


def _proto(column: str, op: str, *values: str | int | float) -> tunnel_pb2.Condition:
    return filter_codec.to_proto([Condition(column, op, tuple(values))])[0]


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ([_proto("id", "=", 1, 2)], "= takes one value"),
        ([_proto("id", "=")], "= needs a value"),
        ([_proto("id", "is_null", 1)], "is_null takes no value"),
        ([_proto("id", "in")], "needs a list of 1 to 1000"),
        ([_proto("id", "like", "a%")], "unknown op 'like'"),
        ([_proto("", "=", 1)], "non-empty string"),
        ([_proto("x", "=", float("nan"))], "finite"),
        ([_proto("x", "=", "a" * 4097)], "at most 4096 characters"),
        ([_proto("id", "=", 1)] * 65, "at most 64"),
        ([_proto("id", "in", *range(1000))] * 3, "more than 2000 values in all"),
        ([tunnel_pb2.Condition(column="id", op="=", values=[tunnel_pb2.FilterValue()])], "a filter value is empty"),
    ],
)
def test_the_tunnels_conditions_are_checked_by_the_browsers_rules(
    conditions: list[tunnel_pb2.Condition], problem: str
) -> None:
    """Decoded once, straight from the message, and held to the same rules: a gateway
    that sent what no browser can is refused by the connector."""
    with pytest.raises(BadRequest, match=re.escape(problem)):
        filter_codec.from_proto(conditions)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"id": 1}, "must be a list"),
        ([["id", "=", 1]] * 65, "at most 64"),
        (["id"], "must be [column, op, value]"),
        ([["id", "=", 1, 2]], "must be [column, op, value]"),
        ([["", "=", 1]], "non-empty string"),
        ([[1, "=", 1]], "non-empty string"),
        ([["id", "like", "a%"]], "unknown op 'like'"),
        ([["id", "=="]], "unknown op"),
        ([["id", "="]], "= needs a value"),
        ([["id", "=", None]], "must be a string, number or boolean"),
        ([["id", "=", [1]]], "must be a string, number or boolean"),
        ([["id", "=", {"a": 1}]], "must be a string, number or boolean"),
        ([["id", "in", 1]], "needs a list of 1 to 1000"),
        ([["id", "in", []]], "needs a list of 1 to 1000"),
        ([["id", "in", list(range(1001))]], "needs a list of 1 to 1000"),
        ([["id", "in", list(range(1000))]] * 3, "more than 2000 values in all"),
        ([["id", "in", [[1]]]], "must be a string, number or boolean"),
        ([["id", "is_null", 1]], "takes no value"),
        ([["id", "=", 2**63]], "64 bits"),
        ([["id", "=", float("inf")]], "finite"),
        ([["id", "=", "x" * 4097]], "at most 4096"),
    ],
)
def test_bad_shapes_are_refused(raw: Any, problem: str) -> None:
    with pytest.raises(BadRequest, match=None) as info:
        parse_filter(raw)
    assert problem in info.value.message


def test_browser_message_with_filter_and_ordered() -> None:
    q = bp.parse_client_message(
        '{"action":"query","id":"q","dataset":"d","filter":[["id",">",5],["name","is_null"]],"ordered":true}'
    )
    assert isinstance(q, bp.RunQuery)
    assert q.filter == (Condition("id", ">", (5,)), Condition("name", "is_null", ()))
    assert q.ordered is True
    plain = bp.parse_client_message('{"action":"query","id":"q","dataset":"d"}')
    assert isinstance(plain, bp.RunQuery) and plain.filter == () and plain.ordered is False
    with pytest.raises(bp.RequestError) as info:
        bp.parse_client_message('{"action":"query","id":"q7","dataset":"d","filter":[["id","~",1]]}')
    assert info.value.request_id == "q7" and "unknown op" in info.value.message
    with pytest.raises(bp.RequestError, match="ordered"):
        bp.parse_client_message('{"action":"query","id":"q","dataset":"d","ordered":1}')
    # NaN and Infinity are not JSON, though Python's parser accepts them by default.
    with pytest.raises(bp.RequestError, match="not valid JSON"):
        bp.parse_client_message('{"action":"query","id":"q","dataset":"d","filter":[["price","<",NaN]]}')


def test_values_are_converted_to_the_column_kind() -> None:
    bound = bind(
        parse_filter(
            [
                ["id", "=", 7],
                ["price", ">", 3],
                ["amount", "<", "12.50"],
                ["amount", ">", 0.1],
                ["ok", "=", True],
                ["day", ">=", "2024-02-29"],
                ["at", "<", "2024-02-29T10:00:00"],
                ["at_utc", "<", "2024-02-29T10:00:00Z"],
                ["key", "in", ["6F9619FF-8B86-D011-B42D-00C04FC964FF"]],
                ["name", "not_in", ["ñandú", "'; DROP TABLE x; --"]],
            ]
        ),
        KINDS,
        "d",
    )
    values = [b.values for b in bound]
    assert values[0] == (7,)
    assert values[1] == (3.0,) and isinstance(values[1][0], float)
    assert values[2] == (decimal.Decimal("12.50"),)
    assert values[3] == (decimal.Decimal("0.1"),)
    assert values[4] == (True,)
    assert values[5] == (dt.date(2024, 2, 29),)
    assert values[6] == (dt.datetime(2024, 2, 29, 10),)
    assert values[7] == (dt.datetime(2024, 2, 29, 10, tzinfo=dt.UTC),)
    assert values[8] == (uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),)
    assert values[9] == ("ñandú", "'; DROP TABLE x; --")
    assert [b.kind for b in bound][:3] == [Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL]


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        (["nope", "=", 1], "has no column 'nope'"),
        (["id", "=", "7"], "expected an integer, got a string"),
        (["id", "=", 7.5], "expected an integer, got a number"),
        (["id", "=", True], "expected an integer, got a boolean"),
        (["price", "=", "1"], "expected a number"),
        (["amount", "=", "1,5"], "expected a number or a decimal string"),
        (["amount", "=", "1e99999"], "expected a number or a decimal string"),
        (["name", "=", 1], "expected a string"),
        (["ok", "=", 1], "expected true or false"),
        (["ok", "<", True], "have no order"),
        (["key", ">", "6F9619FF-8B86-D011-B42D-00C04FC964FF"], "have no order"),
        (["key", "=", "not-a-uuid"], "expected a UUID string"),
        (["day", "=", "2024-02-30"], "expected a date string"),
        (["day", "=", "20240229"], "expected a date string"),
        (["at", "=", "yesterday"], "expected an ISO 8601 date-time"),
        (["at", "=", "2024-02-29T10:00:00+01:00"], "without an offset"),
        (["at_utc", "=", "2024-02-29T10:00:00"], "with an offset"),
        (["blob", "=", "x"], "only be tested with is_null or not_null"),
        (["tags", "in", ["x"]], "only be tested with is_null or not_null"),
    ],
)
def test_binding_refuses_what_does_not_fit(condition: list[Any], problem: str) -> None:
    with pytest.raises(BadRequest) as info:
        bind(parse_filter([condition]), KINDS, "d")
    assert problem in info.value.message, info.value.message


def test_null_tests_bind_on_any_column() -> None:
    bound = bind(parse_filter([["blob", "is_null"], ["tags", "not_null"], ["key", "is_null"]]), KINDS, "d")
    assert [(b.op, b.values) for b in bound] == [("is_null", ()), ("not_null", ()), ("is_null", ())]
