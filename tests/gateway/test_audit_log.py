"""gateway/audit.py's file: one JSON line per write, and two gateways in one process (as in
the tests) each keep their own audit log, the second never closing the first's."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from saeta.gateway.audit import AuditLog


def test_each_audit_log_is_its_own(tmp_path: Path) -> None:
    first = AuditLog(str(tmp_path / "a.jsonl"))
    second = AuditLog(None)  # another gateway in the same process, without an audit log
    other = AuditLog(str(tmp_path / "b.jsonl"))
    first.write({"event": "query", "rows": 1})
    other.write({"event": "query", "rows": 2})
    second.write({"event": "query", "rows": 3})
    for log in (first, second, other):
        log.close()
    assert [json.loads(line)["rows"] for line in (tmp_path / "a.jsonl").read_text().splitlines()] == [1]
    assert [json.loads(line)["rows"] for line in (tmp_path / "b.jsonl").read_text().splitlines()] == [2]
    assert "saeta.audit" not in logging.Logger.manager.loggerDict  # nothing left in logging's registry
