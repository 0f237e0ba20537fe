"""The access log: one line per request, never a password, token or capability.

It also feeds the process's metrics (server/metrics.py), which label each request by
the pattern of its route. ``JSONFormatter`` writes every log record as one JSON
object per line (``--log-format json``); an access record's fields are keys of their own.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from tornado.web import RequestHandler

from .metrics import metrics_of, route_of

access_log = logging.getLogger("taskhub.access")

# The attribute of an access record holding its fields, for JSONFormatter.
ACCESS_FIELDS = "access"


def log_request(handler: RequestHandler) -> None:
    """Method, path (no query string), status, duration, user id, request id, client."""
    status = handler.get_status()
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    route = route_of(handler)
    metrics = metrics_of(handler)
    if metrics is not None:
        metrics.observe(handler, route, status)
    if not access_log.isEnabledFor(level):
        return  # the fields are for the line only
    session = getattr(handler, "current_user", None)
    fields = {
        "method": handler.request.method,
        "path": getattr(handler, "loggable_path", handler.request.path),
        "route": route,
        "status": status,
        "duration_ms": round(1000.0 * handler.request.request_time(), 1),
        "user": getattr(session, "user_id", None),
        "request_id": getattr(handler, "request_id", None),
        "client": handler.request.remote_ip,
    }
    access_log.log(
        level,
        "%s %s %d %.1fms user=%s request=%s client=%s",
        fields["method"],
        fields["path"],
        status,
        fields["duration_ms"],
        fields["user"] or "-",
        fields["request_id"] or "-",
        fields["client"],
        extra={ACCESS_FIELDS: fields},
    )


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and an access
    record's fields (method, path, route, status, duration_ms, user, request_id,
    client) as keys of their own; a traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, ACCESS_FIELDS, None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
