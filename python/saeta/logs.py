"""Process logging: one line per event, text or JSON lines (logging.format)."""

from __future__ import annotations

import json
import logging
import sys
import time

from saeta.config import LoggingConfig


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
        return json.dumps(entry, ensure_ascii=False)


def configure(cfg: LoggingConfig | None = None, name: str = "saeta") -> None:
    cfg = cfg or LoggingConfig()
    handler = logging.StreamHandler(sys.stderr)
    if cfg.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level)
    # Third-party chatter stays at WARNING whatever our level.
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "websockets", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
