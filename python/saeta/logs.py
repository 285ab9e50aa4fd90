"""Process logging: one line per event, text or JSON lines (logging.format)."""

from __future__ import annotations

import json
import logging
import sys
import time

from saeta.config import LoggingConfig
from saeta.core.text import inert


class TextFormatter(logging.Formatter):
    """One line per event: values from outside are escaped (core/text.py), so no
    connector or browser can forge a line, colour the terminal or break the encoding. A
    traceback, written by the process itself, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = inert(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Lone surrogates cannot be written as UTF-8: escaped, the line stays one valid line.
        return json.dumps(entry, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")


def configure(cfg: LoggingConfig | None = None, name: str = "saeta") -> None:
    cfg = cfg or LoggingConfig()
    handler = logging.StreamHandler(sys.stderr)
    if cfg.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level)
    # Third-party chatter stays at WARNING whatever our level.
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "websockets", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
