"""Process logging: one line per event, text or JSON lines (logging.format)."""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from saeta.config import LoggingConfig
from saeta.core.text import inert


class TextFormatter(logging.Formatter):
    """One line per event: values from outside are escaped (core/text.py), so no
    connector or browser can forge a line, colour the terminal or break the encoding. A
    traceback, written by the process itself, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = inert(record.message)
        return super().formatMessage(record)


# A ``key=%s`` in a log call's format: the argument it takes becomes the JSON field ``key``.
_PLACEHOLDER = re.compile(r"(?:\b([a-z_][a-z0-9_]*)=)?%(?:\.\d+)?[-#0 +]*\d*(?:\.\d+)?([sdirfgexXo%])")
RESERVED = frozenset({"ts", "level", "logger", "msg", "exc"})


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The ``key=%s`` values of a log call, by key: its context as fields (the text format
    shows the same ``key=value`` inside the line)."""
    if not isinstance(record.msg, str) or not isinstance(record.args, tuple) or not record.args:
        return {}
    fields: dict[str, Any] = {}
    index = 0
    for match in _PLACEHOLDER.finditer(record.msg):
        key, conversion = match.group(1), match.group(2)
        if conversion == "%":
            continue
        if index >= len(record.args):
            break
        value = record.args[index]
        index += 1
        if key and key not in RESERVED:
            fields[key] = value if isinstance(value, bool | int | float) or value is None else str(value)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(fields_of(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Lone surrogates cannot be written as UTF-8: escaped, the line stays one valid line.
        return json.dumps(entry, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")


def configure(cfg: LoggingConfig | None = None, name: str = "saeta", extra: Sequence[logging.Handler] = ()) -> None:
    """stderr, or ``logging.file`` (rotated by size, so a service that nobody reads the
    stderr of keeps a bounded log); ``extra``: more handlers (the Windows Event Log)."""
    cfg = cfg or LoggingConfig()
    handler: logging.Handler
    if cfg.file is not None:
        handler = logging.handlers.RotatingFileHandler(
            cfg.file, maxBytes=cfg.max_bytes, backupCount=cfg.backups, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    if cfg.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.FileHandler):  # a file of an earlier configure()
            old.close()
    root.handlers[:] = [handler, *extra]
    root.setLevel(cfg.level)
    # Third-party chatter stays at WARNING whatever our level.
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "websockets", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
