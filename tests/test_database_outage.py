"""The database going away while taskhub runs: 503 with Retry-After, then recovery."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from accounts import register_and_login
from app import make_app
from conftest import COOKIE_SECRET, EmbeddedServer, make_config
from store import Store
from store.database import make_client
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets


@pytest.fixture
def own_database(tmp_path):
    server = EmbeddedServer(tmp_path / "db").start()
    yield server
    server.stop()


async def test_503_while_the_database_is_down_then_recovery(own_database):
    store = Store(make_client(own_database.uri, serverSelectionTimeoutMS=1000), "outage")
    await store.create_indexes()
    app = make_app(make_config(), store, COOKIE_SECRET)
    server = HTTPServer(app)
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{sockets[0].getsockname()[1]}", timeout=15
        ) as c:
            _, auth = await register_and_login(c)
            c.cookies.clear()
            own_database.stop()

            for response in (
                await c.get("/api/me", headers=auth),
                await c.post("/api/login", json={"username": "someone", "password": "x" * 8}),
            ):
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "service_unavailable"
                assert int(response.headers["Retry-After"]) > 0
            health = await c.get("/healthz")
            assert health.status_code == 503
            assert health.json()["db"] != "ok"

            own_database.start()  # same port, same files
            for _ in range(40):
                if (await c.get("/healthz")).status_code == 200:
                    break
                await asyncio.sleep(0.25)
            me = await c.get("/api/me", headers=auth)
            assert me.status_code == 200, me.text
    finally:
        server.stop()
        await store.close()
