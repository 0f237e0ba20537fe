"""The browser client's pages: sign-in and the task board, one page served at ``/``.

The page is plain HTML; the ES modules of static/board/ (main.js first) do the rest
through the native task API and /api/live, so the same page works behind nginx with
its static files cached.
"""

from __future__ import annotations

from typing import Any

from tornado.web import HTTPError, StaticFileHandler

from .base import APIHandler, Route, error_json


class BoardPage(APIHandler):
    """APIHandler for its session loading: a signed-out visitor gets the sign-in form
    at once, without a request that answers 401."""

    def get(self) -> None:
        _ = self.xsrf_token  # reading it sets the _xsrf cookie the page sends back as X-XSRFToken
        host = self.request.host
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("X-Frame-Options", "DENY")  # for browsers that ignore frame-ancestors
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"connect-src 'self' ws://{host} wss://{host}; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        self.render(
            "board.html",
            live=self.config.live,
            signed_in=self.current_user is not None,
            registration=self.config.registration,
        )


class StaticFiles(StaticFileHandler):
    """``/static/``: Tornado's file server, with its errors as JSON and paths that no
    file can have (a null byte) answered 404 rather than failing."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:
            raise HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(error_json(status_code, self._reason))


routes: list[Route] = [
    (r"/", BoardPage),
]
