"""Following file datasets: snapshot, appended lines (only complete ones), new files of a
glob, filters and projection on what is appended, bounded polls, and files that vanish
or are replaced."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from saeta.config import DatasetConfig, LiveConfig
from saeta.connector.sources import file_follow
from saeta.connector.sources.files import FileSource
from saeta.core.filters import parse_filter
from saeta.errors import BadRequest, SourceError

LIVE = LiveConfig(None, 0.1)


def csv_source(path: str, **options: object) -> FileSource:
    types = {"id": "int64", "v": "float64", "name": "string"}
    return FileSource(DatasetConfig("c", "csv", (path,), {"column_types": types, **options}, live=LIVE), 1000)


def ids(batches: list[pa.RecordBatch]) -> list[int]:
    return [i for b in batches for i in b.column("id").to_pylist()]


def append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def test_csv_snapshot_then_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,v,name\n1,1.5,a\n2,2.5,b\n3,3.5,c")  # the last line is not complete yet
    follower = csv_source(str(path)).follow(None, ())
    snap = list(follower.snapshot())
    assert ids(snap) == [1, 2] and snap[0].schema.names == ["id", "v", "name"]
    assert follower.poll() == ([], False)
    append(path, "\n4,4.5,d\n5,")
    got, more = follower.poll()
    assert ids(got) == [3, 4] and not more
    append(path, "5.5,ñ\n")
    got, _ = follower.poll()
    assert got[0].to_pylist() == [{"id": 5, "v": 5.5, "name": "ñ"}]


def test_projection_and_filter_apply_to_appended_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,v,name\n1,1.0,a\n2,20.0,b\n")
    follower = csv_source(str(path)).follow(("name",), parse_filter([["v", ">", 10]]))
    assert [b.to_pylist() for b in follower.snapshot()] == [[{"name": "b"}]]
    append(path, "3,30.0,c\n4,4.0,d\n")
    got, _ = follower.poll()
    assert [r for b in got for r in b.to_pylist()] == [{"name": "c"}]
    with pytest.raises(BadRequest, match="no column 'nope'"):
        csv_source(str(path)).follow(None, parse_filter([["nope", "=", 1]]))


def test_new_files_of_a_glob_are_read_from_their_start(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,v,name\n1,1,a\n")
    follower = csv_source(str(tmp_path / "*.csv")).follow(None, ())
    assert ids(list(follower.snapshot())) == [1]
    (tmp_path / "b.csv").write_text("id,v,name\n2,2,b\n")
    assert ids(follower.poll()[0]) == [2]
    append(tmp_path / "b.csv", "3,3,c\n")
    append(tmp_path / "a.csv", "4,4,d\n")
    assert sorted(ids(follower.poll()[0])) == [3, 4]


def test_json_lines_and_new_parquet_files(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": 1, "day": "2024-01-01"}) + "\n")
    types = {"id": "int64", "day": "date32"}
    source = FileSource(DatasetConfig("j", "json", (str(path),), {"column_types": types}, live=LIVE), 100)
    follower = source.follow(None, parse_filter([["day", ">=", "2024-01-01"]]))
    assert ids(list(follower.snapshot())) == [1]
    append(path, json.dumps({"id": 2, "day": "2023-12-31"}) + "\n" + json.dumps({"id": 3, "day": "2024-02-01"}) + "\n")
    got, _ = follower.poll()
    assert ids(got) == [3] and got[0].schema.field("day").type == pa.date32()

    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "p1.parquet")
    parquet = FileSource(DatasetConfig("p", "parquet", (str(tmp_path / "p*.parquet"),), live=LIVE), 100)
    pf = parquet.follow(None, ())
    assert ids(list(pf.snapshot())) == [1, 2]
    pq.write_table(pa.table({"id": [3]}), tmp_path / "p2.parquet")
    assert pf.poll() == ([], False)  # first seen: wait until its size holds still
    assert ids(pf.poll()[0]) == [3]
    assert pf.poll() == ([], False)


def test_a_poll_reads_a_bounded_amount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_follow, "POLL_BYTES", 1024)
    path = tmp_path / "t.csv"
    path.write_text("id,v,name\n")
    follower = csv_source(str(path)).follow(("id",), ())
    assert list(follower.snapshot()) == []
    append(path, "".join(f"{i},{i},{'x' * 20}\n" for i in range(1000)))
    seen: list[int] = []
    polls = 0
    while True:
        got, more = follower.poll()
        polls += 1
        seen += ids(got)
        if not more:
            break
    assert seen == list(range(1000)) and polls > 20


@pytest.mark.parametrize("change", ["delete", "truncate", "replace"])
def test_a_file_that_vanishes_or_is_replaced_ends_the_subscription(tmp_path: Path, change: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,v,name\n1,1,a\n")
    follower = csv_source(str(path)).follow(None, ())
    list(follower.snapshot())
    if change == "delete":
        path.unlink()
    elif change == "truncate":
        path.write_text("id,v,name\n")
    else:
        other = tmp_path / "new.csv"
        other.write_text("id,v,name\n1,1,a\n2,2,b\n")
        os.replace(other, path)
    with pytest.raises(SourceError, match=r"vanished|truncated or replaced"):
        follower.poll()


def test_datasets_without_live_cannot_be_followed(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("id\n1\n")
    source = FileSource(DatasetConfig("c", "csv", (str(tmp_path / "t.csv"),)), 100)
    with pytest.raises(BadRequest, match="cannot be followed"):
        source.follow(None, ())
