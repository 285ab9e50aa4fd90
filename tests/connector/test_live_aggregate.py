"""connector/live_aggregate.py: the state a live aggregate keeps, checked against the same
aggregate computed from every row so far (connector/aggregate.py's DuckDB, itself checked
against pyarrow), after every poll of a scripted follower: the rows each poll sends are
exactly the keys it changed, and applied by key they give the whole aggregate."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from saeta.connector.aggregate import run
from saeta.connector.live_aggregate import LiveAggregate
from saeta.connector.sources.base import Marks
from saeta.core.aggregation import Limits, parse_aggregate
from saeta.core.resume_token import ResumeUnavailable
from saeta.errors import ResultTooLarge

SCHEMA = pa.schema(
    [
        ("g", pa.string()),
        ("t", pa.timestamp("ms", tz="Europe/Madrid")),
        ("d", pa.date32()),
        ("v", pa.float64()),
        ("n", pa.int32()),
    ]
)
T0 = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)


def _batch(rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in SCHEMA]
    return pa.RecordBatch.from_arrays(
        [pa.array(c, f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA
    )


class Scripted:
    """A follower whose snapshot and polls are given batches (the real ones are tested in
    tests/connector/test_file_follow.py and through the system tests)."""

    poll_seconds = 0.0

    def __init__(self, snapshot: list[pa.RecordBatch], polls: list[list[pa.RecordBatch]]) -> None:
        self.marks = Marks()
        self._snapshot, self._polls = snapshot, polls
        self.closed = False

    def restore(self, cursor: bytes, skip: int) -> None: ...

    def snapshot(self) -> Any:
        yield from self._snapshot

    def poll(self) -> tuple[list[pa.RecordBatch], bool]:
        return (self._polls.pop(0) if self._polls else []), False

    def close(self) -> None:
        self.closed = True


def _rows(n: int, start: int) -> list[tuple[Any, ...]]:
    out = []
    for i in range(start, start + n):
        value = None if i % 7 == 0 else (i * 37 % 101) / 4
        group = None if i % 11 == 0 else f"g{i % 3}"
        when = T0 + dt.timedelta(minutes=13 * i)
        out.append((group, when, when.date(), value, i % 5))
    return out


SPECS = [
    {
        "group_by": ["g"],
        "bucket": {"column": "t", "width": 3_600_000},
        "measures": [
            {"op": "count"},
            {"op": "count", "column": "v"},
            {"op": "sum", "column": "n"},
            {"op": "mean", "column": "v"},
            {"op": "min", "column": "v"},
            {"op": "first", "column": "v"},
            {"op": "last", "column": "v"},
        ],
    },
    {
        "bucket": {"column": "d", "width": 86_400_000},
        "measures": [{"op": "sum", "column": "v"}, {"op": "max", "column": "t"}],
    },
    {"group_by": ["n", "g"], "measures": [{"op": "count"}]},
]


@pytest.mark.parametrize("spec", SPECS)
def test_each_poll_sends_the_keys_it_changed_and_they_add_up(spec: dict[str, Any]) -> None:
    agg = parse_aggregate(spec)
    batches = [_batch(_rows(40, 0)), _batch(_rows(25, 40))]
    polls = [[_batch(_rows(6, 65))], [], [_batch(_rows(1, 71)), _batch(_rows(30, 72))]]
    live = LiveAggregate(Scripted(batches, [list(p) for p in polls]), agg, SCHEMA, Limits())
    keys = [*agg.group_by, *([agg.bucket.column] if agg.bucket else [])]
    held: dict[tuple[Any, ...], dict[str, Any]] = {}

    def apply(sent: list[pa.RecordBatch]) -> None:
        for row in pa.Table.from_batches(sent, live.out).to_pylist() if sent else []:
            held[tuple(row[k] for k in keys)] = row

    seen: list[pa.RecordBatch] = list(batches)
    apply(list(live.snapshot()))
    for poll in polls:
        sent, _ = live.poll()
        seen += poll
        touched = pa.Table.from_batches(sent, live.out) if sent else live.out.empty_table()
        apply(sent)
        whole = run(agg, SCHEMA, lambda cols, s=list(seen): pa.Table.from_batches(s, SCHEMA).select(cols).to_reader())
        assert touched.num_rows <= sum(b.num_rows for b in poll)  # only what the poll changed
        want = {tuple(r[k] for k in keys): r for r in whole.to_pylist()}
        assert held.keys() == want.keys()
        for key, row in want.items():
            for name, value in row.items():
                if isinstance(value, float):
                    assert held[key][name] == pytest.approx(value, rel=1e-12), (key, name)
                else:
                    assert held[key][name] == value, (key, name)


def test_too_many_keys_end_it_and_it_never_resumes_within() -> None:
    agg = parse_aggregate({"group_by": ["n"], "measures": [{"op": "count"}]})
    inner = Scripted([_batch(_rows(10, 0))], [])
    live = LiveAggregate(inner, agg, SCHEMA, Limits(max_rows=3))
    with pytest.raises(ResultTooLarge):
        list(live.snapshot())
    with pytest.raises(ResumeUnavailable):
        live.restore(b"x", 0)
    live.close()
    assert inner.closed
