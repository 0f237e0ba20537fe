"""Graceful stop of one taskhub process, so that a restart behind nginx loses nothing.

On SIGTERM ``app.serve()`` goes through these steps:

1. ``server.stop_accepting()``: the listening sockets close, so nginx's next connection
   attempt is refused and it tries another process. Connections already waiting in
   the kernel's queue are taken first: closing the socket would reset them after
   nginx had sent a request on them, and nginx does not resend a POST.
2. the application's ``shutdown_hooks`` run (app.py): the live endpoint closes its
   WebSockets with 1001 there, so that clients reconnect to another process.
3. ``await server.drain(timeout)``: requests in flight finish. Each response from here
   on says ``Connection: close``, so nginx stops reusing its kept-alive connections
   to this process; idle ones are closed once no request has come for QUIET_SECONDS
   (by then nginx has found the port closed and goes elsewhere), or when the drain
   timeout has passed.

Tornado's own ``close_all_connections()`` closes connections whatever they are
doing, cutting requests in flight; this server counts them itself.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Awaitable, Iterable
from typing import Any

from tornado import httputil
from tornado.http1connection import HTTP1ServerConnection
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream

log = logging.getLogger(__name__)

# How long a draining process waits with no request at all before it closes the
# connections nginx keeps idle to it.
QUIET_SECONDS = 0.5


class DrainingHTTPServer(HTTPServer):
    """An HTTPServer that knows which requests are in flight and can drain them."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.draining = False
        self.in_flight = 0
        self._listening: list[socket.socket] = []
        self._current: dict[object, _Request] = {}  # connection -> its latest request
        self._last_activity = time.monotonic()

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        sockets = list(sockets)
        super().add_sockets(sockets)
        self._listening.extend(sockets)

    # --- tracking ---

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        request = _Request(self, request_conn)
        self._current[server_conn] = request
        delegate = super().start_request(server_conn, request.connection)
        return _TrackedDelegate(delegate, request)

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        request = self._current.pop(server_conn, None)
        if request is not None:
            request.done()  # the peer went away before the response ended

    def _activity(self, change: int) -> None:
        self.in_flight += change
        self._last_activity = time.monotonic()

    # --- stopping ---

    def stop_accepting(self) -> None:
        """Closes the listening sockets after taking the connections already queued."""
        self.draining = True
        self._last_activity = time.monotonic()
        if self.ssl_options is None:
            for sock in self._listening:
                self._accept_queued(sock)
        self.stop()

    def _accept_queued(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, address = sock.accept()
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.ECONNABORTED:
                    continue
                log.warning("accepting queued connections: %s", e)
                return
            stream = IOStream(
                conn, max_buffer_size=self.max_buffer_size, read_chunk_size=self.read_chunk_size
            )
            self.handle_stream(stream, address)

    def _writing(self) -> bool:
        # HTTPServer types its connections as object; they are HTTP1ServerConnections
        return any(
            isinstance(conn, HTTP1ServerConnection) and conn.stream and conn.stream.writing()
            for conn in self._current
        )

    async def drain(self, timeout: float) -> bool:
        """Waits until requests in flight have finished and no new one has come for a
        moment, or ``timeout`` seconds; then closes every connection left (idle ones,
        or those still busy past the timeout). True when nothing was cut."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            if (
                self.in_flight == 0
                and now - self._last_activity >= QUIET_SECONDS
                and not self._writing()
            ):
                cut = False
                break
            if now >= deadline:
                cut = self.in_flight > 0
                if cut:
                    log.warning(
                        "drain timeout of %gs passed with %d requests in flight; closing them",
                        timeout,
                        self.in_flight,
                    )
                break
            await asyncio.sleep(0.02)
        await self.close_all_connections()
        return not cut


class _Request:
    """One request on one connection, counted from its headers to its response's end."""

    def __init__(self, server: DrainingHTTPServer, conn: httputil.HTTPConnection):
        self.server = server
        self.connection = _Connection(conn, self)
        self.started = False
        self.finished = False

    def begin(self) -> None:
        if not self.started:
            self.started = True
            self.server._activity(+1)

    def done(self) -> None:
        if self.started and not self.finished:
            self.finished = True
            self.server._activity(-1)


class _Connection(httputil.HTTPConnection):
    """The request's HTTP/1 connection, seen through: notes when its response ends,
    and while draining tells the peer to close the connection after it."""

    def __init__(self, conn: httputil.HTTPConnection, request: _Request):
        self._conn = conn
        self._request = request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        if (
            self._request.server.draining
            and isinstance(start_line, httputil.ResponseStartLine)
            and start_line.code != 101  # a WebSocket upgrade must keep its connection
        ):
            headers["Connection"] = "close"
        return self._conn.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        return self._conn.write(chunk)

    def finish(self) -> None:
        try:
            self._conn.finish()
        finally:
            self._request.done()


class _TrackedDelegate(httputil.HTTPMessageDelegate):
    def __init__(self, delegate: httputil.HTTPMessageDelegate, request: _Request):
        self.delegate = delegate
        self.request = request

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self.request.begin()
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        try:
            self.delegate.on_connection_close()
        finally:
            self.request.done()
