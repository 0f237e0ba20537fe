"""Request bodies over the configured size get a JSON 413 from the normal pipeline.

Tornado's own limit closes the connection with a bare 400. Instead the server reads
up to a hard cap, this delegate stops buffering at the configured size, discards
the rest, and hands the request to the handler that answers 413
(handlers/base.py: PayloadTooLargeHandler).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tornado import httputil

# How far past the limit a body is read (and thrown away) to answer 413 cleanly;
# beyond this Tornado refuses the request itself.
HARD_CAP_FACTOR = 4


def hard_cap(limit: int) -> int:
    return limit * HARD_CAP_FACTOR


class BodyLimit(httputil.HTTPMessageDelegate):
    """Wraps the delegate of one request; switches to a 413 once the body passes ``limit``."""

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        too_large: Callable[[], httputil.HTTPMessageDelegate],
        limit: int,
    ):
        self.delegate = delegate
        self.too_large = too_large
        self.limit = limit
        self.received = 0
        self.start_line: httputil.RequestStartLine | httputil.ResponseStartLine | None = None
        self.headers: httputil.HTTPHeaders | None = None
        self.rejected = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self.start_line, self.headers = start_line, headers
        try:
            declared = int(headers.get("Content-Length", "0"))
        except ValueError:
            declared = 0  # Tornado answers a malformed length itself
        if declared > self.limit:
            return self._reject()
        return self.delegate.headers_received(start_line, headers)

    def _reject(self) -> Awaitable[None] | None:
        if self.rejected:
            return None
        self.rejected = True
        if self.received:  # the original delegate had begun; free what it buffered
            self.delegate.on_connection_close()
        self.delegate = self.too_large()
        # a body (and so a rejection) only ever follows headers_received
        assert self.start_line is not None and self.headers is not None
        return self.delegate.headers_received(self.start_line, self.headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.received += len(chunk)
        if not self.rejected and self.received > self.limit:
            self._reject()
        if self.rejected:
            return None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()
