"""saeta/extras.py: an extra is installed when its module can be found, and the message
for a missing one names the extra and the command (docs/install.md)."""

from __future__ import annotations

import pytest
from saeta import extras


def test_installed_extras_need_no_message() -> None:
    for extra in ("redis", "postgresql", "odbc"):  # the dev environment has them all
        assert extras.missing_message(extra) is None


def test_a_missing_extra_is_named_with_its_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(extras.EXTRAS, "redis", ("saeta_no_such_module", "Redis (redis_url)"))
    message = extras.missing_message("redis")
    assert message is not None and "pip install 'saeta[redis]'" in message and "redis_url" in message
