"""The audit log (docs/audit.md): one JSON line per query, to its own file or to stdout,
apart from the operational log; and ``Outcomes``, what every query's end is told to (the
metrics and this log), whichever way it came (socket, POST /query, Flight).

The file is opened with logging's WatchedFileHandler: when logrotate moves it away, the
next line opens it anew, so no line is lost and no restart is needed."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from typing import Any

from saeta.core.audit_record import record
from saeta.core.browser_protocol import RunQuery, Subscribe
from saeta.core.session_info import SessionInfo
from saeta.gateway.metrics import GatewayMetrics


class _Line(logging.Formatter):
    def format(self, rec: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(rec.created)) + f".{int(rec.msecs):03d}Z"
        fields: dict[str, Any] = {"ts": ts, **rec.args} if isinstance(rec.args, dict) else {"ts": ts}
        # Lone surrogates cannot be written as UTF-8: escaped, the line stays one valid line.
        return json.dumps(fields, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8")


class AuditLog:
    """``target``: a file's path, ``-`` for stdout, or None for no audit log."""

    def __init__(self, target: str | None) -> None:
        # A logger of this gateway's own, outside logging's registry: never in the
        # operational log, and another gateway in the process (tests) has its own.
        self.logger = logging.Logger("saeta.audit", logging.INFO)
        self.logger.propagate = False
        self.enabled = target is not None
        if target is None:
            return
        handler: logging.Handler
        if target == "-":
            handler = logging.StreamHandler(sys.stdout)
        else:
            handler = logging.handlers.WatchedFileHandler(target, encoding="utf-8")
        handler.setFormatter(_Line())
        self.logger.addHandler(handler)

    def write(self, fields: dict[str, Any]) -> None:
        if self.enabled:
            self.logger.info("audit", fields)

    def close(self) -> None:
        for handler in self.logger.handlers[:]:
            self.logger.removeHandler(handler)
            handler.close()


class Outcomes:
    """What a query's end is told to."""

    def __init__(self, metrics: GatewayMetrics, audit: AuditLog, replica: str) -> None:
        self.metrics, self.audit, self.replica = metrics, audit, replica

    def ended(
        self,
        transport: str,
        session: SessionInfo,
        fp: str,
        q: RunQuery | Subscribe,
        rows: int,
        nbytes: int,
        code: str,
        seconds: float,
    ) -> None:
        timed = None if isinstance(q, Subscribe) else seconds  # a subscription lasts as long as it is followed
        self.metrics.query_done(session.tenant, transport, code, timed)
        if self.audit.enabled:
            self.audit.write(
                record(
                    q,
                    transport=transport,
                    tenant=session.tenant,
                    user=session.user_id,
                    session=fp,
                    replica=self.replica,
                    rows=rows,
                    nbytes=nbytes,
                    code=code,
                    seconds=seconds,
                )
            )
