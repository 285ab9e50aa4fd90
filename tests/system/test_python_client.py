"""The Python client as notebooks and scripts use it (docs/python-client.md), against a
real gateway: the sync Client idle past the gateway's ping timeout, and called from inside
a running event loop (as in Jupyter); a RecordBatchReader that DuckDB reads; pandas and
polars DataFrames; and `saeta query`'s outputs, progress and errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from saeta.client import Client

from tests.system.harness import Deployment, big_dataset, free_port

pytestmark = pytest.mark.system
ROWS = 400_000  # big_dataset's one file


@pytest.fixture
def site(deployment: Deployment) -> Deployment:
    deployment.start_control_plane()
    # Pings every 0.5 s, answered within 1 s: a client that does not read is closed soon.
    deployment.start_gateway(websocket={"ping_interval_seconds": 0.5, "ping_timeout_seconds": 1})
    deployment.start_connector(
        "acme", {"ventas": big_dataset(deployment.root, "v.parquet") | {"path": "data/v.parquet"}}
    )
    return deployment


def test_an_idle_client_stays_connected_and_works_inside_a_running_loop(site: Deployment) -> None:
    with Client.connect(site.ws_url, site.session("acme")) as client:
        assert client.query("ventas", limit=10).num_rows == 10
        time.sleep(4)  # four ping timeouts with no call: its loop answers the pings meanwhile
        assert client.query("ventas", limit=20).num_rows == 20

        async def notebook_cell() -> int:  # a cell runs inside the kernel's event loop
            return client.query("ventas", limit=30).num_rows

        assert asyncio.run(notebook_cell()) == 30


def test_a_reader_and_dataframes(site: Deployment) -> None:
    expected = pq.read_table(site.root / "data" / "v.parquet")
    with Client.connect(site.ws_url, site.session("acme")) as client:
        reader = client.reader("ventas", ["id", "total"])
        assert isinstance(reader, pa.RecordBatchReader) and reader.schema.names == ["id", "total"]
        (counted,) = duckdb.sql("SELECT count(*), sum(total) FROM reader").fetchall()  # scanned as it streams
        assert counted[0] == ROWS
        assert counted[1] == pytest.approx(sum(expected.column("total").to_pylist()))
        empty = client.reader("ventas", filter=[["id", "<", -1]])
        assert empty.read_all().num_rows == 0 and empty.schema == expected.schema
        frame = client.to_pandas("ventas", ["id", "region"], 1000)
        assert frame.shape == (1000, 2) and list(frame.columns) == ["id", "region"]
        polars_frame = client.to_polars("ventas", ["id"], 500)
        assert polars_frame.shape == (500, 1)


def saeta_query(site: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    session = site.root / "session"
    session.write_text(site.session("acme"))
    command = [sys.executable, "-m", "saeta", "query", "ventas", "--session-file", str(session), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=site.root)


def test_query_writes_each_format_and_shows_progress(site: Deployment, tmp_path: Path) -> None:
    expected = pq.read_table(site.root / "data" / "v.parquet")
    for name in ("out.parquet", "out.csv", "out.arrow", "out.feather"):
        done = saeta_query(site, "--gateway", site.ws_url, "--output", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        assert f"ventas: {ROWS:,} rows" in done.stdout
        assert "% of 400,000" in done.stderr and "ETA" in done.stderr  # the source knows its count
    assert pq.read_table(tmp_path / "out.parquet").equals(expected)
    assert pacsv.read_csv(tmp_path / "out.csv").num_rows == ROWS
    assert pa.ipc.open_stream(tmp_path / "out.arrow").read_all().equals(expected)
    assert pa.ipc.open_file(tmp_path / "out.feather").read_all().equals(expected)
    piped = saeta_query(site, "--gateway", site.ws_url, "--limit", "3", "--columns", "id", "--output", "-", "--quiet")
    assert piped.returncode == 0 and piped.stdout.splitlines()[0] == '"id"' and len(piped.stdout.splitlines()) == 4
    assert "ventas: 3 rows" in piped.stderr  # the summary leaves stdout to the rows


def test_query_errors_are_sentences_not_tracebacks(site: Deployment) -> None:
    wrong_scheme = saeta_query(site, "--gateway", f"http://127.0.0.1:{site.http_port}")
    assert wrong_scheme.returncode == 2 and "is not a gateway URL" in wrong_scheme.stderr
    nobody = saeta_query(site, "--gateway", f"ws://127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and "cannot reach the gateway" in nobody.stderr
    missing = saeta_query(site, "--gateway", site.ws_url, "--columns", "nope")
    assert missing.returncode == 1 and "BAD_REQUEST" in missing.stderr
    for done in (wrong_scheme, nobody, missing):
        assert "Traceback" not in done.stderr, done.stderr
