from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from saeta.core.text import inert
from saeta.core.throttle import LogThrottle
from saeta.logs import JsonFormatter, TextFormatter


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("plain text, ñandú", "plain text, ñandú"),
        ("1.0\n2026-12-01 saeta WARNING forged", "1.0\\x0a2026-12-01 saeta WARNING forged"),
        ("\r\x1b[31mred\x1b[0m", "\\x0d\\x1b[31mred\\x1b[0m"),
        ("a\u2028b\u202ec\x85d\x7f", "a\\u2028b\\u202ec\\x85d\\x7f"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ],
)
def test_unsafe_characters_are_escaped(text: str, want: str) -> None:
    assert inert(text) == want


@given(st.text())
def test_inert_text_is_one_encodable_line(text: str) -> None:
    out = inert(text)
    out.encode("utf-8")
    assert out.splitlines() in ([], [out])


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("saeta.test", logging.WARNING, __file__, 1, msg, args, None)


def test_both_log_formats_write_one_line_whatever_the_values() -> None:
    hostile = "v1\n2026-12-01 00:00:00 saeta ERROR saeta.gateway: forged \x1b[2J \ud800"
    text = TextFormatter("%(levelname)s %(message)s").format(_record("connector registered version=%s", hostile))
    assert text.count("\n") == 0 and "\x1b" not in text
    text.encode("utf-8")
    line = JsonFormatter().format(_record("connector registered version=%s", hostile))
    assert line.count("\n") == 0
    line.encode("utf-8")


def test_throttle_allows_a_burst_per_window_and_counts_the_rest() -> None:
    t = LogThrottle(burst=3, window=10.0)
    assert [t.allow(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert t.allow(9.9) is False
    assert t.allow(10.0) is True  # a new window
    assert t.note() == " (3 similar lines held back)" and t.note() == ""
