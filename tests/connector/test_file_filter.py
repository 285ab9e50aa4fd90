"""Filters on file sources: every case of tests/filter_cases.py gives the oracle's rows for
Parquet, CSV and JSON Lines; exposed columns; a limit stops the scan early; and bad
filters are refused before any file is opened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from saeta.config import DatasetConfig
from saeta.connector.sources.files import FileSource
from saeta.core.filters import parse_filter
from saeta.errors import BadRequest, SourceError

from tests.filter_cases import FILTERS, expected_ids, table

TYPES = {
    "id": "int64",
    "small": "int16",
    "price": "float64",
    "amount": "decimal128(12, 2)",
    "name": "string",
    "ok": "bool",
    "day": "date32",
    "at": "timestamp[us]",
    "at_utc": "timestamp[us, tz=UTC]",
}


def _sources(tmp_path: Path) -> dict[str, FileSource]:
    t = table()
    pq.write_table(t.slice(0, 25), tmp_path / "a.parquet", row_group_size=8)
    pq.write_table(t.slice(25), tmp_path / "b.parquet", row_group_size=8)
    pacsv.write_csv(t, tmp_path / "t.csv")
    rows = t.to_pylist()
    lines = [
        json.dumps(
            {k: (str(v) if v is not None and k in ("amount", "day", "at", "at_utc") else v) for k, v in r.items()}
        )
        for r in rows
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n")
    return {
        "parquet": FileSource(DatasetConfig("p", "parquet", (str(tmp_path / "*.parquet"),)), 7),
        "csv": FileSource(DatasetConfig("c", "csv", (str(tmp_path / "t.csv"),), {"column_types": TYPES}), 7),
        "json": FileSource(DatasetConfig("j", "json", (str(tmp_path / "t.jsonl"),), {"column_types": TYPES}), 7),
    }


def _ids(source: FileSource, raw: list[list[Any]], limit: int | None = None) -> list[int]:
    conditions = parse_filter(raw)
    plan = source.plan(("id",), limit, conditions)
    ids: list[int] = []
    for p in plan.partitions:
        for batch in source.read(p.index, ("id",), None if limit is None else limit - len(ids), conditions):
            assert batch.schema == plan.schema
            ids.extend(batch.column("id").to_pylist())
    return sorted(ids)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FileSource]:
    return _sources(tmp_path_factory.mktemp("filters"))


@pytest.mark.parametrize("kind", ["parquet", "csv", "json"])
@pytest.mark.parametrize("raw", FILTERS, ids=[json.dumps(f)[:60] for f in FILTERS])
def test_filters_match_the_oracle(sources: dict[str, FileSource], kind: str, raw: list[list[Any]]) -> None:
    source = sources[kind]
    assert source.schema() == table().schema, kind
    assert _ids(source, raw) == expected_ids(raw)


def test_every_filter_selects_something_and_not_everything() -> None:
    # Guards the cases themselves: a filter that keeps all rows or none proves little.
    for raw in FILTERS[:-1]:
        n = len(expected_ids(raw))
        assert 0 < n < 40, raw
    assert expected_ids(FILTERS[-1]) == []


def test_filter_with_limit(sources: dict[str, FileSource]) -> None:
    got = _ids(sources["parquet"], [["id", ">", 10]], limit=4)
    assert len(got) == 4 and all(i > 10 for i in got)


def test_a_filtered_plan_does_not_promise_a_row_count(sources: dict[str, FileSource]) -> None:
    assert sources["parquet"].plan(None, None).total_records == 40
    plan = sources["parquet"].plan(None, None, parse_filter([["id", "<", 3]]))
    assert plan.total_records is None and all(p.records is None for p in plan.partitions)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ([["nope", "=", 1]], "has no column 'nope'"),
        ([["id", "=", "1"]], "expected an integer"),
        ([["day", "<", 20240101]], "expected a date string"),
    ],
)
def test_bad_filters_are_refused_before_any_file_is_read(tmp_path: Path, raw: list[list[Any]], problem: str) -> None:
    pq.write_table(table(), tmp_path / "t.parquet")
    source = FileSource(DatasetConfig("p", "parquet", (str(tmp_path / "t.parquet"),)), 7)
    source.schema()
    (tmp_path / "t.parquet").write_bytes(b"gone")  # any read now fails with SOURCE_ERROR
    with pytest.raises(BadRequest) as info:
        source.plan(None, None, parse_filter(raw))
    assert problem in info.value.message
    with pytest.raises(BadRequest):
        next(iter(source.read(0, None, None, parse_filter(raw))))


def test_exposed_columns_hide_the_rest_from_queries_and_filters(tmp_path: Path) -> None:
    pq.write_table(table(), tmp_path / "t.parquet")
    cfg = DatasetConfig("p", "parquet", (str(tmp_path / "t.parquet"),), columns=("name", "id"))
    source = FileSource(cfg, 7)
    assert source.schema().names == ["id", "name"]
    with pytest.raises(BadRequest, match="no column 'price'"):
        source.plan(("price",), None)
    with pytest.raises(BadRequest, match="no column 'price'"):
        source.plan(None, None, parse_filter([["price", ">", 1]]))
    batches = list(source.read(0, None, None, parse_filter([["name", "=", "ana"]])))
    assert pa.Table.from_batches(batches).column_names == ["id", "name"]
    missing = FileSource(DatasetConfig("p", "parquet", (str(tmp_path / "t.parquet"),), columns=("nope",)), 7)
    with pytest.raises(SourceError, match="configured columns not found: nope"):
        missing.schema()


def test_limit_stops_the_scan_early(tmp_path: Path) -> None:
    # A 20 MB CSV whose last line is broken: reading all of it fails, but a limited,
    # filtered read never gets that far.
    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        fh.write("id,name\n")
        fh.writelines(f"{i},{'x' * 40}\n" for i in range(400_000))
        fh.write("not a number,x\n")
    source = FileSource(DatasetConfig("c", "csv", (str(path),), {"column_types": {"id": "int64"}}), 1_000)
    with pytest.raises(SourceError, match="partition 0 could not be read") as err:
        for _ in source.read(0, ("id",), None):
            pass
    assert "big.csv" not in err.value.message and str(path) in (err.value.detail or "")
    got = pa.Table.from_batches(list(source.read(0, ("id",), 10, parse_filter([["id", ">=", 20_000]]))))
    assert got.column("id").to_pylist() == list(range(20_000, 20_010))


def test_empty_csv_text_is_null_unless_the_dataset_says_otherwise(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text('id,name\n1,ana\n2,\n3,""\n')
    rows = {}
    for setting in (None, True, False):
        options = {} if setting is None else {"strings_can_be_null": setting}
        source = FileSource(DatasetConfig("t", "csv", (str(tmp_path / "t.csv"),), options), 1_000)
        rows[setting] = pa.Table.from_batches(list(source.read(0, ("name",), None))).column("name").to_pylist()
    assert rows[None] == rows[True] == ["ana", None, None]
    assert rows[False] == ["ana", "", ""]
    with pytest.raises(SourceError, match="true or false"):
        FileSource(DatasetConfig("t", "csv", (str(tmp_path / "t.csv"),), {"strings_can_be_null": "no"}), 1_000)
