"""A file dataset's aggregates and pages read either way: DuckDB's own Parquet reader
(when every file holds the columns with the dataset's types and no float is filtered on)
or the dataset's own Arrow scan. Both must give the same rows, so the faster one can be
taken whenever it applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta.config import DatasetConfig
from saeta.connector import aggregate
from saeta.connector.sources import file_aggregate
from saeta.connector.sources.files import FileSource
from saeta.core.aggregation import Limits, parse_aggregate
from saeta.core.filters import parse_filter
from saeta.core.paging import parse_page
from saeta.demo_data import ventas


def _source(folder: Path, tables: list[pa.Table]) -> FileSource:
    for i, table in enumerate(tables):
        pq.write_table(table, folder / f"p-{i}.parquet", row_group_size=3000)
    return FileSource(DatasetConfig(name="v", type="parquet", paths=(str(folder / "p-*.parquet"),)), 4096)


@pytest.fixture
def source(tmp_path: Path) -> FileSource:
    return _source(tmp_path, [ventas(20_000, seed=1), ventas(15_000, seed=2, start=20_000)])


SPECS: list[dict[str, Any]] = [
    {
        "bucket": {"column": "fecha", "count": 300},
        "measures": [{"op": o, "column": "total"} for o in ("first", "min", "max", "last")],
    },
    {
        "group_by": ["region", "producto"],
        "measures": [{"op": "count"}, {"op": "sum", "column": "cantidad"}, {"op": "mean", "column": "precio"}],
    },
    {"bucket": {"column": "fecha", "width": 86_400_000}, "measures": [{"op": "sum", "column": "total"}], "offset": 3},
]
FILTERS = [[], [["cantidad", ">", 5], ["region", "in", ["Norte", "Sur"]]], [["fecha", ">=", "2024-01-02T00:00:00"]]]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("raw", FILTERS)
def test_both_readers_give_the_same_aggregate(source: FileSource, spec: dict[str, Any], raw: list[Any]) -> None:
    agg = parse_aggregate(spec)
    conditions = parse_filter(raw)
    native = file_aggregate.native_scan(source, aggregate.needed_columns(agg, source.schema()), conditions)
    assert isinstance(native, aggregate.NativeScan)
    arrow = file_aggregate._batches(source, conditions)
    got = aggregate.run(agg, source.schema(), native, None, Limits())
    want = aggregate.run(agg, source.schema(), arrow, None, Limits())
    assert got.schema == want.schema
    for name in got.column_names:  # sums and means of floats may differ in their last bits
        if pa.types.is_floating(got.schema.field(name).type):
            assert got[name].to_pylist() == pytest.approx(want[name].to_pylist(), rel=1e-12), name
        else:
            assert got[name].equals(want[name]), name


@pytest.mark.parametrize("raw", FILTERS)
def test_both_readers_give_the_same_page(source: FileSource, raw: list[Any]) -> None:
    page = parse_page([{"column": "total", "desc": True}, {"column": "id"}], 40)
    assert page is not None
    conditions = parse_filter(raw)
    schema = pa.schema([source.schema().field(c) for c in ("id", "fecha", "total")])
    native = file_aggregate.native_scan(source, [*schema.names, "total", "id"], conditions)
    assert native is not None
    got = aggregate.run_page(schema, page, native, 30, Limits())
    want = aggregate.run_page(schema, page, file_aggregate._batches(source, conditions), 30, Limits())
    assert got.equals(want) and got.num_rows == 30


def test_duckdbs_reader_is_not_taken_where_it_could_differ(tmp_path: Path) -> None:
    whole = ventas(5_000, seed=4)
    source = _source(tmp_path, [whole, whole.drop_columns(["precio"])])  # a file without a column
    assert file_aggregate.native_scan(source, ["precio"], ()) is None
    assert file_aggregate.native_scan(source, ["total"], ()) is not None
    # NaN compares otherwise in SQL than in Arrow: a filter on a float reads the Arrow way.
    assert file_aggregate.native_scan(source, ["total"], parse_filter([["total", ">", 10.0]])) is None
    other = tmp_path / "other"
    other.mkdir()
    retyped = _source(other, [whole, whole.set_column(4, "cantidad", whole["cantidad"].cast(pa.int64()))])
    assert file_aggregate.native_scan(retyped, ["cantidad"], ()) is None  # the dataset casts it; DuckDB would not
    # Through the source itself the answer is the same whichever reader it took.
    agg = parse_aggregate({"group_by": ["region"], "measures": [{"op": "count"}]})
    rows = pa.Table.from_batches(list(source.read_aggregate(agg, None, (), Limits())))
    assert sum(rows["count"].to_pylist()) == 10_000


def test_a_count_of_every_row_comes_from_the_footers(source: FileSource) -> None:
    agg = parse_aggregate({"measures": [{"op": "count"}, {"op": "count", "as": "again"}]})
    got = pa.Table.from_batches(list(source.read_aggregate(agg, None, (), Limits())))
    assert got.to_pylist() == [{"count": 35_000, "again": 35_000}]
    want = aggregate.run(agg, source.schema(), file_aggregate._batches(source, ()), None, Limits())
    assert got.equals(want)
    filtered = parse_filter([["cantidad", ">", 5]])  # a filter: counted by the engine
    assert file_aggregate._footer_count(source, agg, filtered) is None
