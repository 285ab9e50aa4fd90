"""saeta/logs.py: a log file rotated by size (logging.file), and the fields a JSON line
takes from its ``key=%s`` arguments."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from saeta import logs
from saeta.config import LoggingConfig


@pytest.fixture(autouse=True)
def _logging(restore_root_logging: None) -> None:
    """The code under test configures the process's logging (tests/conftest.py puts it back)."""


def test_a_log_file_is_rotated_by_size(tmp_path: Path) -> None:
    path = tmp_path / "saeta.log"
    logs.configure(LoggingConfig(file=path, max_bytes=64 * 1024, backups=2, format="json"), "connector")
    for i in range(3000):  # about 400 KB of lines
        logging.getLogger("saeta.test").info("line number=%d of tenant=%s", i, "acme")
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["saeta.log", "saeta.log.1", "saeta.log.2"]  # two backups kept, no more
    assert all(p.stat().st_size <= 64 * 1024 for p in tmp_path.iterdir())
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["number"] == 2999 and last["tenant"] == "acme" and last["msg"] == "line number=2999 of tenant=acme"


def test_fields_follow_their_placeholders() -> None:
    record = logging.LogRecord(
        "saeta.gateway",
        logging.INFO,
        __file__,
        1,
        "refused code=%s %d%% origin=%.20r: %s why=%s",
        ("X", 5, "o", "m", None),
        None,
    )
    assert logs.fields_of(record) == {"code": "X", "origin": "o", "why": None}
    reserved = logging.LogRecord("saeta", logging.INFO, __file__, 1, "msg=%s level=%s", ("a", "b"), None)
    assert logs.fields_of(reserved) == {}  # never over the line's own keys
