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
