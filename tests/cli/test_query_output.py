"""`saeta query --output`'s formats (cli/query_output.py) and its progress line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from saeta.cli.query import expected, progress
from saeta.cli.query_output import Output, format_of


@pytest.mark.parametrize(
    ("output", "given", "fmt"),
    [
        ("a.csv", None, "csv"),
        ("a.PARQUET", None, "parquet"),
        ("a.pq", None, "parquet"),
        ("a.arrow", None, "arrow"),
        ("a.feather", None, "feather"),
        ("a.bin", None, "arrow"),  # what --output wrote before it knew formats
        ("-", None, "csv"),
        ("-", "arrow", "arrow"),
        ("a.csv", "parquet", "parquet"),
    ],
)
def test_the_format_follows_the_name_unless_given(output: str, given: str | None, fmt: str) -> None:
    assert format_of(output, given) == fmt


def test_each_format_reads_back(tmp_path: Path) -> None:
    batch = pa.record_batch({"id": [1, 2, 3], "name": ["a", "b", None]})
    readers = {
        "csv": lambda p: pacsv.read_csv(p),
        "parquet": lambda p: pq.read_table(p),
        "arrow": lambda p: pa.ipc.open_stream(p).read_all(),
        "feather": lambda p: pa.ipc.open_file(p).read_all(),
    }
    for fmt, read in readers.items():
        out = Output(str(tmp_path / f"x.{fmt}"), fmt)
        out.write(batch)
        out.write(batch)
        out.close()
        table = read(tmp_path / f"x.{fmt}")
        assert table.num_rows == 6 and table.column("id").to_pylist() == [1, 2, 3, 1, 2, 3], fmt


def test_progress_shows_a_share_and_an_eta_when_the_total_is_known() -> None:
    assert (
        expected(None, 50) == 50 and expected(-1, None) is None and expected(1000, 50) == 50 and expected(10, 50) == 10
    )
    line = progress(250, 2_000_000, 1000, 10.0)
    assert "25.0% of 1,000" in line and "ETA 30s" in line
    assert "%" not in progress(250, 2_000_000, None, 10.0)
