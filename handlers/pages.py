"""The browser client's pages: sign-in and the task board, one page served at ``/``.

The page is plain HTML; static/board.js does the rest through the native task API
and /api/live, so the same page works behind nginx with its static files cached.
"""

from __future__ import annotations

from .base import APIHandler, Route


class BoardPage(APIHandler):
    """APIHandler for its session loading: a signed-out visitor gets the sign-in form
    at once, without a request that answers 401."""

    def get(self) -> None:
        _ = self.xsrf_token  # reading it sets the _xsrf cookie the page sends back as X-XSRFToken
        host = self.request.host
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"connect-src 'self' ws://{host} wss://{host}; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        self.render("board.html", live=self.config.live, signed_in=self.current_user is not None)


routes: list[Route] = [
    (r"/", BoardPage),
]
