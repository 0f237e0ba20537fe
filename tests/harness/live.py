"""WebSocket clients for live-update tests that keep what they receive, and changes
recorded without the task API."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from store import Store

WAIT = 5.0  # seconds any one expected message may take

# Every client a test opened; closed at the end of the test even when it failed.
OPEN_CLIENTS: list[LiveClient] = []


async def connect(
    url: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    since: int | None = None,
    ticket: str | None = None,
) -> LiveClient:
    query = []
    if since is not None:
        query.append(f"since={since}")
    if ticket is not None:
        query.append(f"ticket={ticket}")
    if query:
        url += "?" + "&".join(query)
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = HTTPRequest(url, headers=all_headers, connect_timeout=WAIT, request_timeout=WAIT)
    connection = await websocket_connect(request)
    client = LiveClient(connection)
    OPEN_CLIENTS.append(client)
    return client


def close_clients() -> None:
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


async def refused(url: str, **kwargs: Any) -> int:
    """The status an upgrade is refused with."""
    try:
        client = await connect(url, **kwargs)
    except HTTPClientError as e:
        return e.code
    client.close()
    raise AssertionError("the upgrade was accepted")


@dataclass
class LiveClient:
    connection: WebSocketClientConnection
    received: list[Any] = field(default_factory=list)

    async def next(self, timeout: float = WAIT) -> Any:
        """The next message (JSON decoded when it is JSON); None once closed."""
        raw = await asyncio.wait_for(self.connection.read_message(), timeout)
        if raw is None:
            return None
        try:
            message = json.loads(raw)
        except ValueError:
            message = raw
        self.received.append(message)
        return message

    async def until(self, predicate: Callable[[Any], bool], timeout: float = WAIT) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await self.next(max(left, 0.01))
            if message is None:
                raise AssertionError(f"closed ({self.close_code}) before the message came")
            if predicate(message):
                return message

    async def ready(self) -> dict[str, Any]:
        return await self.until(lambda m: isinstance(m, dict) and m["type"] in ("ready", "resync"))

    async def nothing_pending(self) -> list[Any]:
        """Everything the server sent before it answers a ping: proves what did not come."""
        self.send({"type": "ping"})
        before = []
        while (message := await self.next()) != {"type": "pong"}:
            assert message is not None, "closed"
            before.append(message)
        return before

    def send(self, message: Any) -> None:
        self.connection.write_message(message if isinstance(message, str) else json.dumps(message))

    @property
    def close_code(self) -> int | None:
        return self.connection.close_code

    async def closed(self, timeout: float = WAIT) -> int | None:
        """Waits for the server to close the socket; returns the close code."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if await self.next(max(left, 0.01)) is None:
                self.connection.close()  # tornado's side of it
                return self.close_code

    def close(self) -> None:
        self.connection.close()


def task_doc(title: str, version: int = 1, task_id: str | None = None) -> dict[str, Any]:
    """A task as the store returns it, for changes recorded without the task API."""
    from datetime import datetime

    from bson import ObjectId

    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "id": task_id or str(ObjectId()),
        "title": title,
        "description": "",
        "done": False,
        "order": None,
        "created_at": now,
        "updated_at": now,
        "version": version,
    }


async def record(store: Store, owner: str, kind: str, task: dict[str, Any]) -> int:
    return await store.in_transaction(lambda s: store.changes.record(owner, kind, task, s))


def has_env(name: str) -> bool:
    return bool(os.environ.get(name))


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Waits until ``condition()`` holds, polling; fails after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s: {condition}")
        await asyncio.sleep(0.01)


class Follower:
    """A client following one user's changes as the README tells clients to: it
    remembers the last ``seq`` and, whenever its socket closes, connects again with
    ``?since=`` (for up to ``reconnect_for`` seconds) and takes what it missed."""

    def __init__(self, url: str, token: str, reconnect_for: float = 15.0):
        self.url, self.token, self.reconnect_for = url, token, reconnect_for
        self.seq = 0
        self.changes: list[dict[str, Any]] = []  # each seq once, in order
        self.closes: list[int | None] = []  # close codes of the sockets it lost
        self.problems: list[str] = []  # gaps, resyncs, failed reconnects
        self._client: LiveClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False

    async def start(self, since: int | None = None, timeout: float = WAIT) -> None:
        """Connects, from ``since`` (what a client has seen) or from now, and waits
        until the server says it is caught up."""
        self._client = await connect(self.url, token=self.token, since=since)
        self.seq = since or 0
        self._task = asyncio.create_task(self._follow())
        ready = asyncio.ensure_future(self._ready.wait())
        await asyncio.wait({ready, self._task}, timeout=timeout, return_when="FIRST_COMPLETED")
        ready.cancel()
        if self._task.done():
            self._task.result()  # raises what stopped it
        assert self._ready.is_set(), f"no ready within {timeout}s: {self._client.received}"

    async def _follow(self) -> None:
        while not self._stopping:
            assert self._client is not None
            message = await self._client.next(timeout=3600)  # ended by stop()
            if message is None:
                if self._stopping:
                    return
                self.closes.append(self._client.close_code)
                if not await self._reconnect():
                    return
            elif message.get("type", "").startswith("task."):
                if message["seq"] > self.seq + 1:
                    self.problems.append(f"gap: {self.seq} then {message['seq']}")
                if message["seq"] > self.seq:  # a repeat is harmless; skip it
                    self.seq = message["seq"]
                    self.changes.append(message)
            elif message.get("type") == "ready" and not self._ready.is_set():
                self.seq = max(self.seq, message["seq"])  # without since: from here on
                self._ready.set()
            elif message.get("type") == "resync":
                self.problems.append(f"resync at {message['seq']}")

    async def _reconnect(self) -> bool:
        deadline = asyncio.get_running_loop().time() + self.reconnect_for
        while not self._stopping:
            try:
                self._client = await connect(self.url, token=self.token, since=self.seq)
                return True
            except (TimeoutError, OSError, HTTPClientError) as e:
                if asyncio.get_running_loop().time() > deadline:
                    self.problems.append(f"could not reconnect: {e!r}")
                    return False
                await asyncio.sleep(0.1)
        return False

    async def reached(self, seq: int, timeout: float = WAIT) -> None:
        """Waits until it has every change up to ``seq``."""
        await until(lambda: self.seq >= seq or self._task is None or self._task.done(), timeout)
        assert self.seq >= seq, f"stopped at seq {self.seq} of {seq}: {self.problems}"

    async def stop(self) -> None:
        # Closing the socket ends the read it waits on; cancelling alone may not do:
        # Python 3.11's wait_for drops a cancellation that meets a message arriving.
        self._stopping = True
        if self._client is not None:
            self._client.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=WAIT)
            if self._task.done() and not self._task.cancelled():
                self._task.exception()  # retrieved: what stopped it is in problems
        if self._client is not None:
            self._client.close()  # one a reconnect opened meanwhile
