"""The audit log (docs/audit.md) of a real gateway: one JSON line per query over each
transport (socket, POST /query, Flight), refused ones included, with who, what, how much
and the outcome; never a session token or a filter's value; apart from the operational log;
and a file moved away by logrotate is opened anew with no line lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow.flight as fl
import pytest
from saeta.client import Client, ServerError
from saeta.core.session_token import fingerprint

from tests.system.flight import bearer, connect
from tests.system.harness import Deployment, big_dataset, wait_for

pytestmark = pytest.mark.system
ROWS = 400_000  # big_dataset's one file
SECRET_VALUE = "Norte-7f3a"  # a filter value: it must not reach the audit log


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_one_line_per_query_over_every_transport(deployment: Deployment) -> None:
    dep = deployment
    audit = dep.root / "audit.jsonl"
    dep.start_control_plane()
    gateway = dep.start_gateway(audit={"file": "audit.jsonl"}, flight={"port": dep.flight_port})
    dep.start_connector("acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}})
    session = dep.session("acme", user="ana")
    with Client.connect(dep.ws_url, session) as client:
        filtered = client.query("ventas", ["id", "region"], filter=[["region", "=", SECRET_VALUE], ["id", "<", 5]])
        assert filtered.num_rows == 0
        assert client.query("ventas", limit=1000).num_rows == 1000
        with pytest.raises(ServerError, match="no dataset"):
            client.query("nada")
    aggregate = {"group_by": ["region"], "measures": [{"op": "sum", "column": "total", "as": "t"}]}
    body = {"action": "query", "id": "agg", "dataset": "ventas", "aggregate": aggregate}
    answer = httpx.post(
        f"{dep.web_url()}/query", content=json.dumps(body), headers={"authorization": f"Bearer {session}"}, timeout=60
    )
    assert answer.status_code == 200
    flight, options = connect(dep), bearer(session)
    with flight:
        info = flight.get_flight_info(fl.FlightDescriptor.for_path("ventas"), options)
        assert flight.do_get(info.endpoints[0].ticket, options).read_all().num_rows == ROWS
    wait_for(lambda: len(lines(audit)) == 5, 20, "five audit lines")
    text = audit.read_text()
    assert session not in text and SECRET_VALUE not in text
    by_id = {(e["transport"], e["query_id"]): e for e in lines(audit)}
    for entry in by_id.values():
        assert entry["event"] == "query" and entry["tenant"] == "acme" and entry["user"] == "ana"
        assert entry["session"] == fingerprint(session) and entry["duration_ms"] >= 0
        assert entry["ts"].endswith("Z")
    socket = [e for (t, _), e in by_id.items() if t == "socket"]
    assert len(socket) == 3
    filtered_line = next(e for e in socket if e["filter"])
    assert filtered_line["filter"] == [["region", "="], ["id", "<"]] and filtered_line["columns"] == ["id", "region"]
    assert filtered_line["rows"] == 0 and filtered_line["code"] == "OK"
    limited = next(e for e in socket if e["limit"] == 1000)
    assert limited["rows"] == 1000 and limited["bytes"] > 1000 * 8 and limited["code"] == "OK"
    refused = next(e for e in socket if e["dataset"] == "nada")
    assert refused["code"] == "DATASET_NOT_FOUND" and refused["rows"] == 0
    http = by_id[("http", "agg")]
    assert http["aggregate"] == {"group_by": ["region"], "bucket": None, "measures": [["sum", "total"]]}
    assert http["code"] == "OK" and http["rows"] > 0
    flight_line = next(e for (t, _), e in by_id.items() if t == "flight")
    assert flight_line["rows"] == ROWS and flight_line["code"] == "OK"
    # Apart from the operational log.
    assert '"event": "query"' not in gateway.text()


def test_a_rotated_file_is_opened_anew(deployment: Deployment) -> None:
    dep = deployment
    audit = dep.root / "audit.jsonl"
    dep.start_control_plane()
    dep.start_gateway(audit={"file": "audit.jsonl"})
    dep.start_connector("acme", {"ventas": big_dataset(dep.root, "v.parquet") | {"path": "data/v.parquet"}})
    with Client.connect(dep.ws_url, dep.session("acme")) as client:
        client.query("ventas", limit=1)
        wait_for(lambda: len(lines(audit)) == 1, 20, "the first line")
        audit.rename(dep.root / "audit.jsonl.1")  # what logrotate does (without copytruncate)
        client.query("ventas", limit=2)
        wait_for(lambda: len(lines(audit)) == 1, 20, "the line after the rotation, in a new file")
    assert lines(dep.root / "audit.jsonl.1")[0]["rows"] == 1
    assert lines(audit)[0]["rows"] == 2
