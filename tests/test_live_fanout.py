"""Live updates across processes, through the real task API: a change made through any
process, in any of the three shapes, reaches the owner's sockets on every process; a
client that reconnects catches up to the server's state; SIGTERM closes sockets with
1001; a broken change stream resumes without skipping anything."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
from harness.database import EmbeddedServer
from harness.live import connect
from harness.processes import TaskhubProcess
from harness.tasks import NATIVE_FIELDS
from harness.users import register_and_login

from store import Store, make_client

pytestmark = pytest.mark.integration


@pytest.fixture
async def process_b(store, mongodb_uri, tmp_path):
    """A second taskhub: a real process of its own on the same database."""
    process = await TaskhubProcess(
        data_dir=tmp_path, mongodb_uri=mongodb_uri, database=store.db.name
    ).started()
    yield process
    await process.stopped()


async def new_user(base_url: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        _, headers = await register_and_login(client)
    return headers


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split()[1]


async def all_tasks(
    client: httpx.AsyncClient, base_url: str, headers: dict[str, str]
) -> dict[str, dict]:
    """The server's state: every task, following ``next`` links."""
    tasks: dict[str, dict] = {}
    url: str | None = base_url + "/api/tasks?limit=2"  # small pages, so paging is exercised
    while url:
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        tasks.update({t["id"]: t for t in body["tasks"]})
        url = body["next"]
    return tasks


def apply(view: dict[str, dict], message: dict[str, Any]) -> None:
    """What a client does with a change: the newest version of each task wins."""
    task = message["task"]
    if message["type"] == "task.deleted":
        view.pop(task["id"], None)
    elif task["id"] not in view or view[task["id"]]["version"] < task["version"]:
        view[task["id"]] = task


async def test_a_change_in_any_shape_through_either_process_reaches_both(apps, process_b):
    a = await apps.start()
    headers = await new_user(a.url)
    stranger = await new_user(a.url)
    on_a = await connect(a.ws_url, token=token_of(headers))
    on_b = await connect(process_b.ws_url, token=token_of(headers))
    strangers = await connect(process_b.ws_url, token=token_of(stranger))
    for s in (on_a, on_b, strangers):
        await s.ready()

    async with httpx.AsyncClient() as http:
        me = (await http.get(a.url + "/api/me", headers=headers)).json()
        created = await http.post(a.url + "/api/tasks", json={"title": "native"}, headers=headers)
        assert created.status_code == 201
        task_id = created.json()["task"]["id"]
        expected = [("task.created", task_id, 1)]

        classic = await http.post(
            process_b.url + "/todo/api/v1.0/tasks", json={"title": "classic"}, headers=headers
        )
        assert classic.status_code == 201
        classic_id = classic.json()["task"]["uri"].rsplit("/", 1)[1]
        expected.append(("task.created", classic_id, 2))

        patched = await http.patch(
            process_b.url + f"/api/tasks/{task_id}",
            json={"done": True},
            headers={**headers, "If-Match": created.headers["ETag"]},
        )
        assert patched.status_code == 200
        expected.append(("task.updated", task_id, 3))

        todos_url = me.get("todos_url") or me["user"].get("todos_url")
        todo = (await http.get(todos_url)).json()
        (classic_todo,) = [t for t in todo if t["title"] == "classic"]
        assert (
            await http.patch(classic_todo["url"], json={"title": "todo-backend"})
        ).status_code == 200
        expected.append(("task.updated", classic_id, 4))

        assert (
            await http.delete(a.url + f"/api/tasks/{task_id}", headers=headers)
        ).status_code == 204
        expected.append(("task.deleted", task_id, 5))

    for client in (on_a, on_b):
        got = [await client.next() for _ in expected]
        assert [(m["type"], m["task"]["id"], m["seq"]) for m in got] == expected
        assert got[3]["task"]["title"] == "todo-backend"
        assert got[2]["task"]["done"] is True
        assert set(got[0]["task"]) == NATIVE_FIELDS
    assert await strangers.nothing_pending() == []


async def test_after_a_reconnect_the_clients_view_equals_the_servers(apps, process_b):
    a = await apps.start()
    headers = await new_user(a.url)
    async with httpx.AsyncClient() as http:
        for title in ("one", "two", "three"):
            await http.post(a.url + "/api/tasks", json={"title": title}, headers=headers)

        # the client: connect, note where it stands, fetch the list, follow changes
        client = await connect(a.ws_url, token=token_of(headers))
        last_seq = (await client.ready())["seq"]
        view = await all_tasks(http, a.url, headers)
        ids = list(view)
        await http.patch(
            a.url + f"/api/tasks/{ids[0]}", json={"title": "seen live"}, headers=headers
        )
        message = await client.next()
        apply(view, message)
        last_seq = message["seq"]
        client.close()

        # while it is away, another process changes things
        b = process_b.url
        await http.post(b + "/api/tasks", json={"title": "four", "order": 1}, headers=headers)
        await http.patch(b + f"/api/tasks/{ids[1]}", json={"done": True}, headers=headers)
        await http.delete(b + f"/api/tasks/{ids[2]}", headers=headers)
        await http.patch(
            b + f"/api/tasks/{ids[0]}", json={"description": "又改了"}, headers=headers
        )

        client = await connect(a.ws_url, token=token_of(headers), since=last_seq)
        while (message := await client.next())["type"] != "ready":
            assert message["seq"] == last_seq + 1  # in order, none missing, none twice
            last_seq = message["seq"]
            apply(view, message)
        assert message["seq"] == last_seq
        assert view == await all_tasks(http, a.url, headers)

        # and it stays in step: a change after the catch-up arrives live
        await http.post(b + "/api/tasks", json={"title": "five"}, headers=headers)
        apply(view, await client.next())
        assert view == await all_tasks(http, a.url, headers)
        client.close()


async def test_sigterm_closes_live_sockets_with_1001(process_b):
    headers = await new_user(process_b.url)
    client = await connect(process_b.ws_url, token=token_of(headers))
    await client.ready()
    process_b.terminate()
    assert await client.closed(timeout=10) == 1001
    assert await process_b.wait() == 0


@pytest.mark.skipif(
    bool(os.environ.get("TASKHUB_TEST_MONGODB_URI")),
    reason="restarts a database server of its own: the embedded one",
)
async def test_a_broken_change_stream_resumes_where_it_was(tmp_path, apps):
    server = EmbeddedServer(tmp_path / "db").start()
    store = Store(make_client(server.uri, serverSelectionTimeoutMS=1000), "resume")
    try:
        await store.create_indexes()
        live = await apps.start(store=store)
        assert live.hub is not None
        headers = await new_user(live.url)
        client = await connect(live.ws_url, token=token_of(headers))
        await client.ready()
        async with httpx.AsyncClient(base_url=live.url) as http:
            await http.post("/api/tasks", json={"title": "before"}, headers=headers)
            assert (await client.next())["seq"] == 1

            server.stop()  # the stream breaks
            await asyncio.sleep(0.5)
            server = EmbeddedServer(tmp_path / "db", server.embedded.port).start()
            for title in ("during", "after"):
                for _ in range(50):  # the driver reconnects within a second or so
                    answer = await http.post("/api/tasks", json={"title": title}, headers=headers)
                    if answer.status_code == 201:
                        break
                    await asyncio.sleep(0.2)
                assert answer.status_code == 201, answer.text

            got = [await client.next(timeout=15) for _ in range(2)]
            assert [(m["seq"], m["task"]["title"]) for m in got] == [(2, "during"), (3, "after")]
            watch = live.hub.watches[0]
            assert watch.reopened >= 1
            assert live.hub.gap_catch_ups == 0  # the stream itself skipped nothing
        client.close()
    finally:
        await apps.close()  # its change streams first, while their client is open
        await store.close()
        server.stop()
