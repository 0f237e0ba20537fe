"""Helpers for live-update tests: taskhub applications with their live hubs running,
real taskhub processes, and WebSocket clients that keep what they receive."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.websocket import WebSocketClientConnection, websocket_connect

from app import Application, make_app
from conftest import COOKIE_SECRET, ROOT, make_config
from handlers.body_limit import hard_cap
from store import Store
from store.database import make_client
from store.embedded import free_port

WAIT = 5.0  # seconds any one expected message may take

# Every client a test opened; closed at the end of the test even when it failed.
OPEN_CLIENTS: list["LiveClient"] = []


@dataclass
class Served:
    url: str
    app: Application

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http"):] + "/api/live"

    @property
    def hub(self):
        return self.app.settings["live_hub"]


class LiveApps:
    """taskhub applications on loopback ports of this test's event loop, each with
    its own live hub; ``separate=True`` gives one its own database client, as a
    second process would have. Everything stops at the end of the test."""

    def __init__(self, store: Store, mongodb_uri: str):
        self.store = store
        self.mongodb_uri = mongodb_uri
        self.served: list[tuple[Application, HTTPServer]] = []
        self.stores: list[Store] = []

    async def start(
        self, *, separate: bool = False, store: Store | None = None, **overrides: Any
    ) -> Served:
        store = store or self.store
        if separate:
            store = Store(make_client(self.mongodb_uri), self.store.db.name)
            self.stores.append(store)
        config = make_config(**overrides)
        app = make_app(config, store, COOKIE_SECRET)
        if app.settings["live_hub"] is not None:
            await app.settings["live_hub"].start()
        server = HTTPServer(app, max_body_size=hard_cap(config.max_body_size))
        sockets = bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        self.served.append((app, server))
        return Served(f"http://127.0.0.1:{sockets[0].getsockname()[1]}", app)

    async def close(self) -> None:
        close_clients()
        # let the servers see their sockets close, so none outlives the test's loop
        hubs = [app.settings["live_hub"] for app, _ in self.served if app.settings["live_hub"]]
        for _ in range(100):
            if not any(hub.by_owner for hub in hubs):
                break
            await asyncio.sleep(0.02)
        for app, server in self.served:
            server.stop()
            for hook in app.settings["shutdown_hooks"]:
                await hook()
            await server.close_all_connections()
        for store in self.stores:
            await store.close()


class TaskhubProcess:
    """``python app.py`` in its own process on a free loopback port, sharing a database."""

    def __init__(
        self, mongodb_uri: str, database: str, data_dir: Path, *args: str, port: int | None = None
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/live"
        self.log_path = data_dir / f"taskhub-{self.port}.log"
        self.command = [
            sys.executable, str(ROOT / "app.py"),
            "--port", str(self.port),
            "--mongodb-uri", mongodb_uri,
            "--database", database,
            "--data-dir", str(data_dir),
            "--cookie-secret", COOKIE_SECRET,
            "--log-level", "warning",
            *args,
        ]
        self.process: subprocess.Popen | None = None

    async def start(self, timeout: float = 20) -> "TaskhubProcess":
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"taskhub exited: {self.log_path.read_text()}")
                try:
                    if (await client.get(self.url + "/healthz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"taskhub did not answer: {self.log_path.read_text()}")
                await asyncio.sleep(0.1)

    def terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = 15) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
            await asyncio.sleep(0.05)
        self.log.close()
        return self.process.returncode

    async def stop(self) -> None:
        self.terminate()
        if self.process is not None:
            await self.wait()


async def connect(
    url: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    since: int | None = None,
    ticket: str | None = None,
) -> "LiveClient":
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
    from datetime import datetime, timezone

    from bson import ObjectId

    now = datetime.now(timezone.utc).replace(microsecond=0)
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
