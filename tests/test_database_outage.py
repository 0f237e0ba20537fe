"""The database going away while taskhub runs: 503 with Retry-After, then recovery."""

from __future__ import annotations

import asyncio
import gc
import signal
from datetime import UTC, datetime

import httpx
import pytest
from harness.database import EmbeddedServer, fresh_store
from harness.users import register_and_login

from services.scores import EXPORT_BATCH

# pymongo's server monitor leaves the socket of a connection attempt cut short (the
# client closed while its server was down or frozen) to the garbage collector. These
# tests collect it themselves (own_database), so that its ResourceWarning is neither
# lost nor blamed on whichever test runs next.
pytestmark = pytest.mark.filterwarnings(
    "ignore:unclosed <socket.socket:ResourceWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
)


@pytest.fixture
def own_database(tmp_path):
    server = EmbeddedServer(tmp_path / "db").start()
    yield server
    server.stop()
    gc.collect()


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


async def test_a_frozen_database_gets_503_in_bounded_time_and_no_late_commits(own_database, apps):
    """The database stops answering without closing its connections (SIGSTOP): every
    request answers 503 within db_timeout, /healthz within 2 s, and the writes that
    were refused are not stored once it answers again."""
    async with fresh_store(own_database.uri, operation_timeout=2.0) as store:
        url = await apps.url(store=store, live=False, db_timeout=2.0)
        async with httpx.AsyncClient(base_url=url, timeout=15) as c:
            _, auth = await register_and_login(c)
            c.cookies.clear()
            assert own_database.process is not None
            own_database.process.send_signal(signal.SIGSTOP)
            try:
                loop = asyncio.get_running_loop()
                started = loop.time()
                health = await c.get("/healthz")
                assert health.status_code == 503 and loop.time() - started < 3
                started = loop.time()
                refused = await asyncio.gather(
                    *(
                        c.post("/api/tasks", json={"title": f"frozen {i}"}, headers=auth)
                        for i in range(3)
                    )
                )
                assert [r.status_code for r in refused] == [503] * 3
                assert loop.time() - started < 2 * 2.0 + 1.5
            finally:
                own_database.process.send_signal(signal.SIGCONT)
            for _ in range(40):
                if (await c.get("/healthz")).status_code == 200:
                    break
                await asyncio.sleep(0.25)
            await asyncio.sleep(1.0)  # whatever the database had queued has run by now
            listed = (await c.get("/api/tasks", headers=auth)).json()["tasks"]
            assert [t["title"] for t in listed if t["title"].startswith("frozen")] == []


async def test_writes_while_the_database_is_down_fail_fast(own_database, apps):
    async with fresh_store(own_database.uri, operation_timeout=2.0) as store:
        url = await apps.url(store=store, live=False, db_timeout=2.0)
        async with httpx.AsyncClient(base_url=url, timeout=15) as c:
            _, auth = await register_and_login(c)
            c.cookies.clear()
            own_database.stop()
            await c.get("/healthz")  # the client learns that the server is gone
            loop = asyncio.get_running_loop()
            started = loop.time()
            answers = await asyncio.gather(
                *(c.post("/api/tasks", json={"title": f"t{i}"}, headers=auth) for i in range(5))
            )
            assert [a.status_code for a in answers] == [503] * 5
            assert all(int(a.headers["Retry-After"]) > 0 for a in answers)
            # not one server-selection wait after another behind a lock
            assert loop.time() - started < 2.0
            # back up before the client closes: closing it while its monitor is
            # connecting to a dead server leaves that socket unclosed (pymongo)
            own_database.start()
            for _ in range(40):
                if (await c.get("/healthz")).status_code == 200:
                    break
                await asyncio.sleep(0.25)


async def test_an_export_cut_short_by_the_database_never_looks_whole(own_database, apps):
    """Once part of a CSV export is out, no error status can follow: the database
    going away then ends the answer without its last chunk, so the client sees a
    cut-short download rather than a file that looks whole."""
    async with fresh_store(own_database.uri, serverSelectionTimeoutMS=1000) as store:
        # far more than the socket buffers hold, so the export is mid-way when it stops
        comment = "好" * 500
        now = datetime.now(UTC)
        for _ in range(10):
            batch = [
                {"acc_nbr": "13800138000", "grade1": 1, "grade2": 2, "grade3": 3}
                | {"txt1": comment, "txt2": comment, "txt3": comment, "created_at": now}
                for _ in range(EXPORT_BATCH)
            ]
            await store.db.scores.insert_many(batch)
        url = await apps.url(store=store, live=False)
        async with httpx.AsyncClient(base_url=url, timeout=15) as c:
            username, auth = await register_and_login(c)
            c.cookies.clear()
            await store.users.set_admin(username, True)
            received = 0
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                async with c.stream("GET", "/api/scores/export.csv", headers=auth) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_bytes():
                        if not received:
                            own_database.stop()
                        received += len(chunk)
            assert received > 0
            # back up before the client closes (see the test above)
            own_database.start()
            for _ in range(40):
                if (await c.get("/healthz")).status_code == 200:
                    break
                await asyncio.sleep(0.25)
