"""Text from outside, checked and made safe: lone surrogates (which JSON's ``\\uD800``
escapes decode to, and no UTF-8 encoder accepts) are found before a value goes anywhere,
and text that reaches a log line (a connector's version string, a source's error, a
browser's request) is made inert: it can never start a line of its own, recolour a
terminal, reorder text or break the log's encoding."""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls (newline, carriage return, ESC of ANSI sequences), DEL, line and
# paragraph separators, bidirectional overrides and isolates, and lone surrogates (which
# cannot be encoded as UTF-8 at all).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str) -> str:
    """``text`` with every unsafe character written as a ``\\xNN`` or ``\\uNNNN`` escape;
    text without one is returned as it is."""
    return _UNSAFE.sub(_escape, text)


def has_lone_surrogate(obj: Any) -> bool:
    """Whether any string in ``obj`` (parsed JSON: keys and values, at any depth) holds a
    lone surrogate."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
