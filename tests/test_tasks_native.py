"""The native task API, /api/tasks: lifecycle, ownership, bad input, pagination,
conditional writes, idempotent creation, the change log and database round trips."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bson import ObjectId
from harness.database import Commands, fresh_store
from harness.tasks import NATIVE_FIELDS, create
from harness.users import PASSWORD, register, user

from store import Person


def iso(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_lifecycle(client):
    auth = await user(client)
    response = await client.post(
        "/api/tasks", json={"title": "write the report", "order": 3}, headers=auth
    )
    assert response.status_code == 201
    task = response.json()["task"]
    assert set(task) == NATIVE_FIELDS
    assert task["title"] == "write the report"
    assert task["description"] == "" and task["done"] is False and task["order"] == 3
    assert task["version"] == 1
    assert task["created_at"] == task["updated_at"]
    assert abs(iso(task["created_at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert response.headers["Location"] == f"/api/tasks/{task['id']}"
    assert response.headers["ETag"] == '"1"'

    response = await client.get(f"/api/tasks/{task['id']}", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"task": task}
    assert response.headers["ETag"] == '"1"'

    response = await client.patch(f"/api/tasks/{task['id']}", json={"done": True}, headers=auth)
    assert response.status_code == 200
    patched = response.json()["task"]
    assert patched["done"] is True and patched["title"] == "write the report"
    assert patched["version"] == 2 and response.headers["ETag"] == '"2"'
    assert iso(patched["updated_at"]) >= iso(task["updated_at"])
    assert patched["created_at"] == task["created_at"]

    # PUT replaces every editable field: those not sent go back to their defaults
    response = await client.put(
        f"/api/tasks/{task['id']}", json={"title": "rewrite it", "description": "all"}, headers=auth
    )
    assert response.status_code == 200
    replaced = response.json()["task"]
    assert (replaced["title"], replaced["description"], replaced["done"], replaced["order"]) == (
        "rewrite it",
        "all",
        False,
        None,
    )
    assert replaced["version"] == 3

    listed = (await client.get("/api/tasks", headers=auth)).json()
    assert listed == {"tasks": [replaced], "next": None}

    response = await client.delete(f"/api/tasks/{task['id']}", headers=auth)
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"/api/tasks/{task['id']}", headers=auth)).status_code == 404
    assert (await client.delete(f"/api/tasks/{task['id']}", headers=auth)).status_code == 404
    assert (await client.get("/api/tasks", headers=auth)).json() == {"tasks": [], "next": None}


async def test_cjk_and_emoji_are_kept_intact(client):
    auth = await user(client)
    title = "买牛奶 🥛 — 東京タワー 👩‍👩‍👧‍👦"
    description = "한국어 テスト 中文 \U0001f680 e\u0301"
    task = await create(client, auth, title=title, description=description)
    assert (task["title"], task["description"]) == (title, description)
    fetched = await client.get(f"/api/tasks/{task['id']}", headers=auth)
    assert "买牛奶 🥛".encode() in fetched.content  # UTF-8 on the wire, not \u escapes
    assert fetched.json()["task"]["title"] == title
    assert fetched.headers["Content-Type"] == "application/json; charset=UTF-8"
    # 200 characters are allowed whatever their size in bytes
    emoji = await create(client, auth, title="🎉" * 200)
    assert emoji["title"] == "🎉" * 200


async def test_title_is_trimmed(client):
    auth = await user(client)
    task = await create(client, auth, title="  \t buy milk \u3000\n")
    assert task["title"] == "buy milk"
    padded = "x" * 200
    assert (await create(client, auth, title=f"   {padded}   "))["title"] == padded


async def test_unauthenticated_calls_are_401(client):
    auth = await user(client)
    task = await create(client, auth)
    for method, url in [
        ("GET", "/api/tasks"),
        ("POST", "/api/tasks"),
        ("GET", f"/api/tasks/{task['id']}"),
        ("PATCH", f"/api/tasks/{task['id']}"),
        ("PUT", f"/api/tasks/{task['id']}"),
        ("DELETE", f"/api/tasks/{task['id']}"),
    ]:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = await client.request(method, url, json={"title": "x"}, headers=headers)
            assert response.status_code == 401, (method, url)
            assert response.json()["error"]["code"] == "unauthorized"
    assert (await client.get(f"/api/tasks/{task['id']}", headers=auth)).json()["task"] == task


async def test_another_users_task_is_404_like_a_missing_one(client):
    alice, bob = await user(client), await user(client)
    task = await create(client, alice, title="alice's")
    missing = "0" * 24
    for method, body in [
        ("GET", None),
        ("PATCH", {"done": True}),
        ("PUT", {"title": "x"}),
        ("DELETE", None),
    ]:
        theirs = await client.request(method, f"/api/tasks/{task['id']}", json=body, headers=bob)
        absent = await client.request(method, f"/api/tasks/{missing}", json=body, headers=bob)
        assert theirs.status_code == absent.status_code == 404
        assert theirs.json() == absent.json()
    assert (await client.get("/api/tasks", headers=bob)).json()["tasks"] == []
    # untouched
    response = await client.get(f"/api/tasks/{task['id']}", headers=alice)
    assert response.json()["task"] == task


@pytest.mark.parametrize(
    "task_id", ["nope", "123", "g" * 24, "0" * 25, "%00", "..", "0" * 23 + "Z"]
)
async def test_malformed_ids_are_404(client, task_id):
    auth = await user(client)
    for method, body in [
        ("GET", None),
        ("PATCH", {"done": True}),
        ("PUT", {"title": "x"}),
        ("DELETE", None),
    ]:
        response = await client.request(method, f"/api/tasks/{task_id}", json=body, headers=auth)
        assert response.status_code == 404, (method, task_id, response.text)
        assert response.json()["error"]["code"] == "not_found"


BAD_BODIES = [
    ({"title": "x", "colour": "red"}, "colour"),
    ({"title": "x", "id": "0" * 24}, "id"),
    ({"title": "x", "owner": "someone"}, "owner"),
    ({"title": "x", "version": 7}, "version"),
    ({"title": "x", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ({"title": "x", "updated_at": "2020-01-01T00:00:00Z"}, "updated_at"),
    ({"title": "x", "$set": {"owner": "me"}}, "$set"),
    ({"title": "x", "a.b": 1}, "a.b"),
    ({"title": 5}, "title"),
    ({"title": None}, "title"),
    ({"title": ["x"]}, "title"),
    ({"title": {"$ne": None}}, "title"),
    ({"title": ""}, "title"),
    ({"title": " \t\n\u3000 "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "\ud800"}, "title"),
    ({"title": "x", "description": "d" * 2001}, "description"),
    ({"title": "x", "description": None}, "description"),
    ({"title": "x", "description": 1}, "description"),
    ({"title": "x", "done": "true"}, "done"),
    ({"title": "x", "done": 1}, "done"),
    ({"title": "x", "done": None}, "done"),
    ({"title": "x", "order": "3"}, "order"),
    ({"title": "x", "order": 1.5}, "order"),
    ({"title": "x", "order": True}, "order"),
    ({"title": "x", "order": 2**53}, "order"),
    ({"title": "x", "order": -(2**53)}, "order"),
    ({"title": "x", "order": [1]}, "order"),
]


@pytest.mark.parametrize("body, field", BAD_BODIES)
async def test_bad_input_is_400_naming_the_field(client, body, field):
    auth = await user(client)
    task = await create(client, auth)
    # json.dumps escapes what httpx would refuse to encode (a lone surrogate)
    headers = {**auth, "Content-Type": "application/json"}
    response = await client.post("/api/tasks", content=json.dumps(body), headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == "bad_request"
    response = await client.put(
        f"/api/tasks/{task['id']}", content=json.dumps(body), headers=headers
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == field
    patch = {k: v for k, v in body.items() if k != "title" or field == "title"}
    response = await client.patch(
        f"/api/tasks/{task['id']}", content=json.dumps(patch), headers=headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    # nothing was written
    assert (await client.get("/api/tasks", headers=auth)).json()["tasks"] == [task]


async def test_other_bad_requests(client):
    auth = await user(client)
    task = await create(client, auth)
    cases = [
        ("POST", "/api/tasks", {"content": b"{oops"}, 400),
        ("POST", "/api/tasks", {"content": b"[1]"}, 400),
        ("POST", "/api/tasks", {"json": {}}, 400),  # no title
        ("PUT", f"/api/tasks/{task['id']}", {"json": {"done": True}}, 400),  # PUT needs a title
        ("PATCH", f"/api/tasks/{task['id']}", {"json": {}}, 400),  # nothing to change
        (
            "POST",
            "/api/tasks",
            {"content": b"<t/>", "headers": {"Content-Type": "application/xml"}},
            415,
        ),
    ]
    for method, url, kwargs, status in cases:
        headers = {**auth, **kwargs.pop("headers", {})}
        if "content" in kwargs and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        response = await client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == status, (method, url, response.text)
        assert response.json()["error"]["message"]
    assert (await client.get("/api/tasks", headers=auth)).json()["tasks"] == [task]


async def test_form_bodies_as_mini_programs_send_them(client):
    auth = await user(client)
    response = await client.post(
        "/api/tasks", data={"title": "from wx.request", "done": "true", "order": "4"}, headers=auth
    )
    assert response.status_code == 201, response.text
    task = response.json()["task"]
    assert (task["title"], task["done"], task["order"]) == ("from wx.request", True, 4)
    response = await client.patch(
        f"/api/tasks/{task['id']}", data={"done": "false", "order": ""}, headers=auth
    )
    assert response.status_code == 200
    assert (response.json()["task"]["done"], response.json()["task"]["order"]) == (False, None)
    response = await client.patch(f"/api/tasks/{task['id']}", data={"done": "yes"}, headers=auth)
    assert response.status_code == 400 and response.json()["error"]["field"] == "done"


async def test_cookie_authenticated_writes_need_the_xsrf_token(client):
    username = await register(client)
    await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert (await client.get("/api/tasks")).status_code == 200  # the cookie is enough to read
    refused = await client.post("/api/tasks", json={"title": "forged"})
    assert refused.status_code == 403
    xsrf = {"X-XSRFToken": client.cookies["_xsrf"]}
    response = await client.post("/api/tasks", json={"title": "mine"}, headers=xsrf)
    assert response.status_code == 201
    assert [t["title"] for t in (await client.get("/api/tasks")).json()["tasks"]] == ["mine"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("done=yes", "done"),
        ("done=1", "done"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=%24gt", "cursor"),
        ("sort=title", "sort"),
        ("done=true&done=false", "done"),
    ],
)
async def test_bad_list_queries(client, query, field):
    auth = await user(client)
    response = await client.get(f"/api/tasks?{query}", headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


async def test_default_order_then_creation_and_done_filter(client):
    auth = await user(client)
    made = []
    for title, order, done in [
        ("c", None, False),
        ("a", 2, True),
        ("b", -5, False),
        ("d", None, True),
        ("e", 2, False),
        ("f", 0, True),
    ]:
        made.append(await create(client, auth, title=title, order=order, done=done))
    listed = (await client.get("/api/tasks", headers=auth)).json()["tasks"]
    # by order (tasks without one last), then by creation time
    assert [t["title"] for t in listed] == ["b", "f", "a", "e", "c", "d"]
    done = (await client.get("/api/tasks?done=true", headers=auth)).json()["tasks"]
    assert [t["title"] for t in done] == ["f", "a", "d"]
    open_ = (await client.get("/api/tasks?done=false", headers=auth)).json()["tasks"]
    assert [t["title"] for t in open_] == ["b", "e", "c"]
    # changing the order moves a task
    await client.patch(f"/api/tasks/{made[0]['id']}", json={"order": -10}, headers=auth)
    listed = (await client.get("/api/tasks", headers=auth)).json()["tasks"]
    assert [t["title"] for t in listed] == ["c", "b", "f", "a", "e", "d"]


async def walk(client, auth, url) -> list[dict]:
    seen = []
    while url:
        response = await client.get(url, headers=auth)
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(page["tasks"])
        url = page["next"]
    return seen


async def test_pages_walk_the_whole_list(client, base_url):
    auth = await user(client)
    for i in range(7):
        await create(client, auth, title=f"t{i}", order=i % 3, done=i % 2 == 0)
    everything = (await client.get("/api/tasks", headers=auth)).json()["tasks"]
    assert len(everything) == 7
    first = (await client.get("/api/tasks?limit=3", headers=auth)).json()
    assert len(first["tasks"]) == 3
    next_url = urlsplit(first["next"])
    assert f"{next_url.scheme}://{next_url.netloc}" == base_url  # absolute
    assert parse_qs(next_url.query)["limit"] == ["3"]
    assert await walk(client, auth, "/api/tasks?limit=3") == everything
    assert await walk(client, auth, "/api/tasks?limit=1") == everything
    done = [t for t in everything if t["done"]]
    assert await walk(client, auth, "/api/tasks?limit=2&done=true") == done
    exact = (await client.get("/api/tasks?limit=7", headers=auth)).json()
    assert exact["next"] is None and exact["tasks"] == everything


async def test_pages_stay_right_under_concurrent_inserts_and_deletes(client):
    auth = await user(client)
    made = [await create(client, auth, title=f"t{i}", order=10 * i) for i in range(6)]
    page = (await client.get("/api/tasks?limit=2", headers=auth)).json()
    assert [t["title"] for t in page["tasks"]] == ["t0", "t1"]
    # between pages: one already seen and one not yet seen are deleted, and tasks
    # are inserted before and after the place the client has reached
    await client.delete(f"/api/tasks/{made[0]['id']}", headers=auth)
    await client.delete(f"/api/tasks/{made[3]['id']}", headers=auth)
    await create(client, auth, title="before", order=5)
    await create(client, auth, title="after", order=25)
    rest = await walk(client, auth, page["next"])
    titles = [t["title"] for t in page["tasks"]] + [t["title"] for t in rest]
    # nothing repeated, nothing still there skipped; only the insert before the
    # cursor is (rightly) not on the pages still to come
    assert titles == ["t0", "t1", "t2", "after", "t4", "t5"]


async def test_if_match_guards_writes(client, store):
    auth = await user(client)
    task = await create(client, auth, title="v1")
    url = f"/api/tasks/{task['id']}"
    stale = {**auth, "If-Match": '"1"'}
    assert (await client.patch(url, json={"title": "v2"}, headers=stale)).status_code == 200
    for method, body in [
        ("PATCH", {"title": "lost"}),
        ("PUT", {"title": "lost"}),
        ("DELETE", None),
    ]:
        response = await client.request(method, url, json=body, headers=stale)
        assert response.status_code == 412, method
        assert response.json()["error"]["code"] == "precondition_failed"
        assert response.headers["ETag"] == '"2"'  # what to fetch and retry from
    for tag in ['W/"2"', '"two"', '""']:  # weak tags never match a write; junk neither
        response = await client.patch(
            url, json={"title": "lost"}, headers={**auth, "If-Match": tag}
        )
        assert response.status_code == 412, tag
    current = (await client.get(url, headers=auth)).json()["task"]
    assert current["title"] == "v2" and current["version"] == 2
    owner = (await client.get("/api/me", headers=auth)).json()["user"]["id"]
    assert [c["type"] for c in await store.changes.since(owner, 0)] == [
        "task.created",
        "task.updated",
    ]

    ok = await client.put(url, json={"title": "v3"}, headers={**auth, "If-Match": '"1", "2"'})
    assert ok.status_code == 200 and ok.json()["task"]["version"] == 3
    ok = await client.patch(url, json={"done": True}, headers={**auth, "If-Match": "*"})
    assert ok.status_code == 200
    # a missing task stays 404, whatever the If-Match
    missing = await client.patch("/api/tasks/" + "0" * 24, json={"done": True}, headers=stale)
    assert missing.status_code == 404
    deleted = await client.delete(url, headers={**auth, "If-Match": '"4"'})
    assert deleted.status_code == 204


async def test_concurrent_updates_with_the_same_etag_one_wins(client):
    auth = await user(client)
    task = await create(client, auth)
    url = f"/api/tasks/{task['id']}"
    headers = {**auth, "If-Match": '"1"'}
    responses = await asyncio.gather(
        *(client.patch(url, json={"title": f"writer {i}"}, headers=headers) for i in range(6))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 5
    winner = next(r for r in responses if r.status_code == 200).json()["task"]
    current = (await client.get(url, headers=auth)).json()["task"]
    assert current == winner and current["version"] == 2


async def test_if_none_match_answers_304_while_unchanged(client):
    auth = await user(client)
    task = await create(client, auth)
    url = f"/api/tasks/{task['id']}"
    first = await client.get(url, headers=auth)
    assert (
        "no-cache" in first.headers["Cache-Control"] and "private" in first.headers["Cache-Control"]
    )
    for tag in ('"1"', 'W/"1"', '"9", "1"', "*"):
        response = await client.get(url, headers={**auth, "If-None-Match": tag})
        assert response.status_code == 304, tag
        assert response.content == b"" and response.headers["ETag"] == '"1"'
    await client.patch(url, json={"done": True}, headers=auth)
    response = await client.get(url, headers={**auth, "If-None-Match": '"1"'})
    assert response.status_code == 200 and response.headers["ETag"] == '"2"'
    assert response.json()["task"]["done"] is True


async def test_idempotent_retries_create_once(client, store):
    auth = await user(client)
    key = {**auth, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/api/tasks", json={"title": "pay rent", "order": 1}, headers=key)
    assert first.status_code == 201
    # the same body, even with its keys in another order
    retry = await client.post("/api/tasks", json={"order": 1, "title": "pay rent"}, headers=key)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    # the first answer, even after the task has changed since
    await client.patch(first.headers["Location"], json={"done": True}, headers=auth)
    assert (
        await client.post("/api/tasks", json={"title": "pay rent", "order": 1}, headers=key)
    ).json() == first.json()

    other = await client.post("/api/tasks", json={"title": "pay bills"}, headers=key)
    assert other.status_code == 422
    assert other.json()["error"]["field"] == "Idempotency-Key"
    listed = (await client.get("/api/tasks", headers=auth)).json()["tasks"]
    assert [t["title"] for t in listed] == ["pay rent"]

    # keys are per user: another user's identical key is their own
    bob = await user(client)
    theirs = await client.post(
        "/api/tasks",
        json={"title": "pay rent", "order": 1},
        headers={**bob, "Idempotency-Key": key["Idempotency-Key"]},
    )
    assert theirs.status_code == 201 and theirs.json()["task"]["id"] != first.json()["task"]["id"]

    # kept at least 24 hours, then dropped: by a TTL index on a replica set, by the
    # store's purge on a standalone (store/compat.py: expiry_index)
    stored = [doc async for doc in store.db.idempotency_keys.find({})]
    assert len(stored) == 2
    for doc in stored:
        assert doc["expires_at"] - doc["created_at"] >= timedelta(hours=24)
    on_expiry = [
        i
        for i in (await store.db.idempotency_keys.index_information()).values()
        if i["key"] == [("expires_at", 1)]
    ]
    assert len(on_expiry) == 1
    assert ("expireAfterSeconds" in on_expiry[0]) is not await store.standalone()


async def test_concurrent_retries_with_one_key_create_one_task(client):
    auth = await user(client)
    headers = {**auth, "Idempotency-Key": "retry-storm"}
    responses = await asyncio.gather(
        *(client.post("/api/tasks", json={"title": "once"}, headers=headers) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["task"]["id"] for r in responses}) == 1
    assert len((await client.get("/api/tasks", headers=auth)).json()["tasks"]) == 1


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "ключ"])
async def test_bad_idempotency_keys(client, key):
    auth = await user(client)
    response = await client.post(
        "/api/tasks", json={"title": "x"}, headers={**auth, "Idempotency-Key": key.encode()}
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert (await client.get("/api/tasks", headers=auth)).json()["tasks"] == []


async def test_every_write_records_its_change(client, store):
    auth = await user(client)
    owner = (await client.get("/api/me", headers=auth)).json()["user"]["id"]
    task = await create(client, auth, title="first")
    url = f"/api/tasks/{task['id']}"
    patched = (await client.patch(url, json={"done": True}, headers=auth)).json()["task"]
    replaced = (await client.put(url, json={"title": "second"}, headers=auth)).json()["task"]
    await client.delete(url, headers=auth)
    # refused writes record nothing
    await client.patch(url, json={"done": True}, headers=auth)
    await client.post("/api/tasks", json={"title": ""}, headers=auth)

    changes = await store.changes.since(owner, 0)
    assert [(c["seq"], c["type"]) for c in changes] == [
        (1, "task.created"),
        (2, "task.updated"),
        (3, "task.updated"),
        (4, "task.deleted"),
    ]
    from services.encoding import to_json

    for change, expected in zip(changes, [task, patched, replaced, replaced], strict=True):
        # exactly the native fields, typed: done a bool, version an int, times aware
        assert set(change["task"]) == NATIVE_FIELDS
        assert type(change["task"]["done"]) is bool and type(change["task"]["version"]) is int
        assert change["task"]["created_at"].tzinfo is not None
        assert to_json(change["task"]) == expected
    assert all(c["owner"] == owner for c in changes)


@pytest.fixture
async def monitored(mongodb_uri, apps):
    """taskhub served with a database client whose every command is recorded."""
    commands = Commands()
    async with fresh_store(mongodb_uri, event_listeners=[commands]) as store:
        yield commands, store, await apps.url(store=store, live=False)


async def test_listing_takes_two_round_trips(monitored):
    commands, store, base = monitored
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        auth = await user(client)
        me = (await client.get("/api/me", headers=auth)).json()["user"]
        owner = Person(me["id"], me["username"])
        # more than the server's default first batch (101 documents)
        for i in range(130):
            fields = {"title": f"t{i}", "done": i % 2 == 0}
            await store.tasks.create(owner, owner.id, fields, allowed=["owner"])
        for url in ("/api/tasks?limit=200", "/api/tasks", "/api/tasks?done=true&limit=60"):
            commands.clear()
            response = await client.get(url, headers=auth)
            assert response.status_code == 200
            # the lists the user sees, their tasks (the login is remembered: its
            # lookup is the first request's alone, tests/test_login_cache.py)
            assert commands.requests() == [
                ("find", "list_members"),
                ("find", "tasks"),
            ], url
        page = (await client.get("/api/tasks?limit=200", headers=auth)).json()
        assert len(page["tasks"]) == 130 and page["next"] is None
        commands.clear()
        second = await client.get(
            (await client.get("/api/tasks", headers=auth)).json()["next"], headers=auth
        )
        assert second.status_code == 200 and len(second.json()["tasks"]) == 50
        assert len(commands.requests()) == 4  # two pages, two round trips each


async def test_a_write_takes_four_round_trips(monitored):
    commands, store, base = monitored
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        auth = await user(client)
        # the first write also makes the default list, takes the transaction lease
        # (kept from then on: store/compat.py) and counts the user's tasks once
        task = await create(client, auth)
        commands.clear()
        made = await client.post("/api/tasks", json={"title": "counted"}, headers=auth)
        assert made.status_code == 201
        # the task; the list's members with the user's head; the head moved on with
        # the change beside it; the commit
        assert commands.requests() == [
            ("insert", "tasks"),
            ("aggregate", "list_members"),
            ("update", "changes"),
            ("commitTransaction", 1),
        ]
        for method, written in (("PATCH", ("update", "tasks")), ("DELETE", ("delete", "tasks"))):
            commands.clear()
            body = {"title": "patched"} if method == "PATCH" else None
            answer = await client.request(
                method, f"/api/tasks/{task['id']}", json=body, headers=auth
            )
            assert answer.status_code in (200, 204), answer.text
            # the task with its list's members and their heads; the task written;
            # the heads moved on with the change beside them; the commit
            assert commands.requests() == [
                ("aggregate", "tasks"),
                written,
                ("update", "changes"),
                ("commitTransaction", 1),
            ], method
    changes = await store.changes.since(task["created_by"]["id"], 0)
    assert changes is not None
    assert [(c["seq"], c["type"]) for c in changes] == [
        (1, "task.created"),
        (2, "task.created"),
        (3, "task.updated"),
        (4, "task.deleted"),
    ]


async def test_a_write_keeps_every_stored_field_as_it_was(client, store):
    """The task a write reads comes joined to its members, which the embedded server
    sends through JSON: written back whole, not one field's value or type may
    change but those the write sets."""
    auth = await user(client)
    made = await client.post(
        "/api/tasks",
        json={
            "title": "pay rent",
            "description": "by transfer",
            "done": True,
            "order": 7,
            "due": "2031-05-01T09:30:00+02:00",
            "priority": 2,
            "labels": ["home", "money"],
        },
        headers=auth,
    )
    assert made.status_code == 201, made.text
    task = made.json()["task"]
    before = await store.db.tasks.find_one({"_id": ObjectId(task["id"])})
    patched = await client.patch(f"/api/tasks/{task['id']}", json={"title": "paid"}, headers=auth)
    assert patched.status_code == 200, patched.text
    after = await store.db.tasks.find_one({"_id": ObjectId(task["id"])})
    assert after["sid"] == task["id"]
    moved_on = {"title", "search", "version", "updated_at", "k_updated"}
    for name, value in before.items():
        if name not in moved_on:
            assert after[name] == value and type(after[name]) is type(value), name
    assert set(after) == set(before)
    assert after["title"] == "paid" and after["version"] == before["version"] + 1


async def test_a_task_stored_without_a_string_id_is_written_and_gets_one(client, store):
    auth = await user(client)
    task = await create(client, auth)
    oid = ObjectId(task["id"])
    await store.db.tasks.update_one({"_id": oid}, {"$unset": {"sid": ""}})
    patched = await client.patch(f"/api/tasks/{task['id']}", json={"title": "again"}, headers=auth)
    assert patched.status_code == 200, patched.text
    assert (await store.db.tasks.find_one({"_id": oid}))["sid"] == task["id"]
    await store.db.tasks.update_one({"_id": oid}, {"$unset": {"sid": ""}})
    gone = await client.delete(f"/api/tasks/{task['id']}", headers=auth)
    assert gone.status_code == 204, gone.text
    assert await store.db.tasks.find_one({"_id": oid}) is None


def _index_serves(index_keys: list[str], equality: set[str], sort: list[str]) -> bool:
    """Whether an index with these keys serves equality on ``equality`` plus a range
    and sort on ``sort``: the equality fields first, in any order, then the sort."""
    n = len(equality)
    return set(index_keys[:n]) == equality and index_keys[n : n + len(sort)] == sort


async def test_the_queries_issued_are_served_by_indexes(monitored):
    commands, store, base = monitored
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        auth = await user(client)
        task = await create(client, auth)
        await create(client, auth, order=1)
        commands.clear()
        first = (await client.get("/api/tasks?limit=1", headers=auth)).json()
        await client.get(first["next"], headers=auth)
        await client.get("/api/tasks?done=false", headers=auth)
        await client.get(f"/api/tasks/{task['id']}", headers=auth)
        await client.get("/todo/api/v1.0/tasks", headers=auth)
        await client.patch(f"/api/tasks/{task['id']}", json={"done": True}, headers=auth)
    indexes = [
        [name for name, _ in info["key"]]
        for info in (await store.db.tasks.index_information()).values()
    ]
    finds = [
        cmd
        for name, target, cmd in commands.sent
        if target == "tasks" and name in ("find", "findAndModify", "aggregate")
    ]
    assert len(finds) >= 6
    for cmd in finds:
        # an aggregation's first stage picks its documents
        first = cmd["pipeline"][0].get("$match", {}) if "pipeline" in cmd else {}
        query = cmd.get("filter", cmd.get("query", first))
        if "_id" in query:
            continue  # the _id index
        # {"f": {"$eq": v}} is an equality too: the store writes them so (store/compat.py: exact)
        equality = {k for k, v in query.items() if not isinstance(v, dict) or set(v) == {"$eq"}}
        sort = list(cmd.get("sort", {}))
        assert any(_index_serves(keys, equality, sort) for keys in indexes), (query, sort, indexes)
    if not await store.standalone():
        # a real MongoDB can say so itself: no collection scan, no in-memory sort
        for cmd in finds:
            if "filter" not in cmd:
                continue
            plan = await store.db.command(
                "explain", {"find": "tasks", "filter": cmd["filter"], "sort": cmd.get("sort", {})}
            )
            text = str(plan["queryPlanner"]["winningPlan"])
            assert "COLLSCAN" not in text and "'SORT'" not in text, text
