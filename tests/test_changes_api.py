"""``GET /api/changes``: the live messages, for clients without a socket."""

from __future__ import annotations

import httpx
from harness.live import connect
from harness.users import me, user


async def test_changes_come_oldest_first_a_page_at_a_time(client):
    auth = await user(client)
    start = (await client.get("/api/changes", headers=auth)).json()
    assert start == {"changes": [], "seq": 0, "more": False}
    ids = []
    for title in ("one", "two", "three"):
        created = await client.post("/api/tasks", json={"title": title}, headers=auth)
        ids.append(created.json()["task"]["id"])
    await client.patch(f"/api/tasks/{ids[0]}", json={"done": True}, headers=auth)
    await client.delete(f"/api/tasks/{ids[1]}", headers=auth)

    first = (await client.get("/api/changes?since=0&limit=3", headers=auth)).json()
    assert [m["seq"] for m in first["changes"]] == [1, 2, 3]
    assert [m["type"] for m in first["changes"]] == ["task.created"] * 3
    assert first["changes"][0]["task"]["title"] == "one"
    assert first["seq"] == 3 and first["more"] is True
    rest = (await client.get(f"/api/changes?since={first['seq']}&limit=3", headers=auth)).json()
    assert [(m["type"], m["task"]["id"]) for m in rest["changes"]] == [
        ("task.updated", ids[0]),
        ("task.deleted", ids[1]),
    ]
    assert rest["seq"] == 5 and rest["more"] is False
    assert (await client.get("/api/changes?since=5", headers=auth)).json() == {
        "changes": [],
        "seq": 5,
        "more": False,
    }


async def test_a_socket_and_the_changes_route_agree_on_seq(apps):
    live = await apps.start()
    async with httpx.AsyncClient(base_url=live.url) as c:
        auth = await user(c)
        await c.post("/api/tasks", json={"title": "before"}, headers=auth)
        socket = await connect(live.ws_url, token=auth["Authorization"].split()[1])
        ready = await socket.ready()
        assert ready["seq"] == (await c.get("/api/changes", headers=auth)).json()["seq"] == 1
        await c.post("/api/tasks", json={"title": "after"}, headers=auth)
        pushed = await socket.next()
        fetched = (await c.get("/api/changes?since=1", headers=auth)).json()["changes"]
        assert fetched == [pushed]
        socket.close()


async def test_changes_no_longer_kept_ask_for_a_resync(client, store):
    auth = await user(client)
    owner = (await me(client, auth))["user"]["id"]
    for title in ("one", "two", "three"):
        await client.post("/api/tasks", json={"title": title}, headers=auth)
    await store.db.changes.delete_many({"owner": owner, "seq": {"$lte": 1}})  # expired
    assert (await client.get("/api/changes?since=0", headers=auth)).json() == {
        "resync": True,
        "seq": 3,
    }
    kept = (await client.get("/api/changes?since=1", headers=auth)).json()
    assert [m["seq"] for m in kept["changes"]] == [2, 3]
    # a seq from another database (beyond the last) is no place to follow from either
    assert (await client.get("/api/changes?since=99", headers=auth)).json()["resync"] is True


async def test_each_user_sees_their_own_changes_only(client):
    alice, bob = await user(client), await user(client)
    await client.post("/api/tasks", json={"title": "alice's"}, headers=alice)
    assert (await client.get("/api/changes?since=0", headers=bob)).json()["changes"] == []


async def test_bad_arguments_are_400_naming_them(client):
    auth = await user(client)
    for query, field in (
        ("since=-1", "since"),
        ("since=²", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("cursor=x", "cursor"),
    ):
        response = await client.get(f"/api/changes?{query}", headers=auth)
        assert response.status_code == 400, query
        assert response.json()["error"]["field"] == field
    assert (await client.get("/api/changes")).status_code == 401


async def test_an_empty_number_is_refused_like_any_other_non_number(client):
    auth = await user(client)
    for url in ("/api/changes?since=", "/api/changes?limit=", "/api/tasks?limit="):
        response = await client.get(url, headers=auth)
        assert response.status_code == 400, url
