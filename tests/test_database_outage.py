"""The database going away while taskhub runs: 503 with Retry-After, then recovery."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from harness.database import EmbeddedServer, fresh_store
from harness.users import register_and_login


@pytest.fixture
def own_database(tmp_path):
    server = EmbeddedServer(tmp_path / "db").start()
    yield server
    server.stop()


async def test_503_while_the_database_is_down_then_recovery(own_database, apps):
    async with fresh_store(own_database.uri, serverSelectionTimeoutMS=1000) as store:
        url = await apps.url(store=store, live=False)
        async with httpx.AsyncClient(base_url=url, timeout=15) as c:
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
