"""core/audit_record.py: what one audit line says of a query; never a filter's value."""

from __future__ import annotations

import json

from saeta.core.audit_record import record
from saeta.core.browser_protocol import RunQuery, Subscribe, parse_client_message


def _parsed(obj: dict[str, object]) -> RunQuery | Subscribe:
    q = parse_client_message(json.dumps(obj))
    assert isinstance(q, RunQuery | Subscribe)
    return q


def _line(q: RunQuery | Subscribe) -> dict[str, object]:
    return record(
        q,
        transport="socket",
        tenant="acme",
        user="ana",
        session="ab12",
        replica="",
        rows=3,
        nbytes=96,
        code="OK",
        seconds=0.25,
    )


def test_the_filter_is_its_shape_without_values() -> None:
    q = _parsed(
        {
            "action": "query",
            "id": "q1",
            "dataset": "ventas",
            "columns": ["id"],
            "limit": 10,
            "filter": [["email", "=", "ana@example.com"], ["id", "in", [1, 2, 3]], ["x", "is_null"]],
        }
    )
    line = _line(q)
    assert "ana@example.com" not in json.dumps(line)
    assert line["filter"] == [["email", "="], ["id", "in", 3], ["x", "is_null"]]
    assert line["columns"] == ["id"] and line["limit"] == 10 and line["kind"] == "query"
    assert line["rows"] == 3 and line["bytes"] == 96 and line["duration_ms"] == 250.0


def test_aggregates_pages_and_subscriptions() -> None:
    agg = {
        "group_by": ["region"],
        "bucket": {"column": "fecha", "count": 100},
        "measures": [{"op": "count", "as": "n"}, {"op": "max", "column": "total", "as": "m"}],
    }
    line = _line(_parsed({"action": "query", "id": "a", "dataset": "v", "aggregate": agg}))
    assert line["aggregate"] == {
        "group_by": ["region"],
        "bucket": "fecha",
        "measures": [["count", None], ["max", "total"]],
    }
    paged = _line(
        _parsed({"action": "query", "id": "p", "dataset": "v", "sort": [{"column": "id", "desc": True}], "offset": 25})
    )
    assert paged["page"] == {"sort": [["id", "desc"]], "offset": 25} and paged["aggregate"] is None
    live = _line(_parsed({"action": "subscribe", "id": "s", "dataset": "v"}))
    assert live["kind"] == "subscribe" and live["limit"] is None and live["page"] is None
