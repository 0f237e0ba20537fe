"""Test fixtures: one real database server per test session, one database per test,
and taskhub applications served over real HTTP on loopback."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import httpx
import pymongo
import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

import config as settings
from app import make_app
from handlers.body_limit import hard_cap
from store import EmbeddedMongo, Store
from store.database import make_client

ROOT = Path(__file__).resolve().parent.parent
COOKIE_SECRET = "test-cookie-secret-" + "x" * 32


def wait_for_ping(uri: str, timeout: float = 20) -> None:
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.admin.command("ping")
                return
            except pymongo.errors.ConnectionFailure:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        client.close()


class EmbeddedServer:
    """An nx-27017 server in its own process, for tests that need one to themselves."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.embedded = EmbeddedMongo(data_dir, port)
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return self.embedded.uri

    def start(self) -> "EmbeddedServer":
        self.process = subprocess.Popen(
            self.embedded.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_ping(self.uri)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory) -> str:
    """TASKHUB_TEST_MONGODB_URI when given (a real MongoDB), else the embedded server."""
    given = os.environ.get("TASKHUB_TEST_MONGODB_URI")
    if given:
        yield given
        return
    server = EmbeddedServer(tmp_path_factory.mktemp("embedded-db")).start()
    try:
        yield server.uri
    finally:
        server.stop()


def make_config(**overrides) -> settings.Config:
    """Settings as a deployment would have them, from defaults plus ``overrides``."""
    config = settings.load([], environ={})
    return config.replace(cookie_secret=COOKIE_SECRET, **overrides)


@pytest.fixture
async def store(mongodb_uri) -> AsyncIterator[Store]:
    database = "test_" + uuid.uuid4().hex[:12]
    client = make_client(mongodb_uri)
    store = Store(client, database)
    await store.create_indexes()
    try:
        yield store
    finally:
        await client.drop_database(database)
        await store.close()


ServeApp = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve_app(store) -> AsyncIterator[ServeApp]:
    """Starts taskhub on a free loopback port with settings overridden by keyword;
    returns its base URL. Every server stops at the end of the test."""
    servers: list[HTTPServer] = []

    async def serve(**overrides) -> str:
        config = make_config(**overrides)
        app = make_app(config, store, COOKIE_SECRET)
        server = HTTPServer(
            app, xheaders=config.xheaders, max_body_size=hard_cap(config.max_body_size)
        )
        sockets = bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        servers.append(server)
        return f"http://127.0.0.1:{sockets[0].getsockname()[1]}"

    yield serve
    for server in servers:
        server.stop()
        await server.close_all_connections()


@pytest.fixture
async def base_url(serve_app) -> str:
    return await serve_app()


@pytest.fixture
async def client(base_url) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as c:
        yield c


@pytest.fixture
async def apps(store, mongodb_uri):
    """taskhub applications with live updates, each with its own change streams,
    sharing one database (see live_support.LiveApps)."""
    from live_support import LiveApps  # here: live_support imports this module

    apps = LiveApps(store, mongodb_uri)
    yield apps
    await apps.close()
