"""The access log: one line per request, never a password, token or capability."""

from __future__ import annotations

import logging

from tornado.web import RequestHandler

access_log = logging.getLogger("taskhub.access")


def log_request(handler: RequestHandler) -> None:
    """Method, path (no query string), status, duration, user id, request id, client."""
    status = handler.get_status()
    if status < 400:
        level = logging.INFO
    elif status < 500:
        level = logging.WARNING
    else:
        level = logging.ERROR
    session = getattr(handler, "current_user", None)
    access_log.log(
        level,
        "%s %s %d %.1fms user=%s request=%s client=%s",
        handler.request.method,
        getattr(handler, "loggable_path", handler.request.path),
        status,
        1000.0 * handler.request.request_time(),
        getattr(session, "user_id", None) or "-",
        getattr(handler, "request_id", "-"),
        handler.request.remote_ip,
    )
