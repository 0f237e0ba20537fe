"""The Todo-Backend shape: the protocol's behaviours at a capability URL, replacing
the URL, and keeping the capability out of the logs."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from harness.tasks import create
from harness.users import me, user


async def todos_url(client) -> tuple[dict[str, str], str]:
    auth = await user(client)
    return auth, (await me(client, auth))["todos_url"]


async def test_me_shows_an_absolute_todos_url_that_stays(client, base_url):
    auth = await user(client)
    first = (await me(client, auth))["todos_url"]
    assert first.startswith(f"{base_url}/todos/")
    assert len(urlsplit(first).path.split("/")[-1]) == 43  # 256 random bits
    assert (await me(client, auth))["todos_url"] == first
    other = (await me(client, await user(client)))["todos_url"]
    assert other != first


async def test_the_protocol(client):
    """What the Todo-Backend spec runner checks, in its order."""
    _, root = await todos_url(client)
    # the api root responds to a DELETE, and then GET gives an empty list
    assert (await client.delete(root)).status_code in (200, 204)
    response = await client.get(root)
    assert response.status_code == 200 and response.json() == []

    # the api root responds to a POST with the todo which was posted to it
    response = await client.post(root, json={"title": "a todo"})
    assert response.status_code == 201
    todo = response.json()
    assert todo["title"] == "a todo"
    assert todo["completed"] is False  # new todos are not completed
    assert set(todo) == {"title", "completed", "order", "url"}
    assert todo["url"].startswith(root + "/")
    assert response.headers["Location"] == todo["url"]

    # the new todo shows up in the list, and its url returns it
    assert (await client.get(root)).json() == [todo]
    assert (await client.get(todo["url"])).json() == todo

    # change its title and completedness by PATCHing its url; changes persist
    response = await client.patch(todo["url"], json={"title": "bathe the cat"})
    assert response.json()["title"] == "bathe the cat"
    response = await client.patch(todo["url"], json={"completed": True})
    assert response.json() == {**todo, "title": "bathe the cat", "completed": True}
    fetched = (await client.get(todo["url"])).json()
    assert fetched["title"] == "bathe the cat" and fetched["completed"] is True
    assert (await client.get(root)).json() == [fetched]

    # delete it by its url
    assert (await client.delete(todo["url"])).status_code in (200, 204)
    assert (await client.get(root)).json() == []
    assert (await client.get(todo["url"])).status_code == 404

    # order: created with one, changed by PATCH, kept as sent
    todo = (await client.post(root, json={"title": "blah", "order": 523})).json()
    assert todo["order"] == 523
    assert (await client.patch(todo["url"], json={"order": 95})).json()["order"] == 95
    assert (await client.get(todo["url"])).json()["order"] == 95


async def test_todo_backend_echoes_and_bad_input(client):
    _, root = await todos_url(client)
    todo = (await client.post(root, json={"title": "x"})).json()
    # a front end may PATCH the whole todo back, url included
    response = await client.patch(todo["url"], json={**todo, "completed": True})
    assert response.status_code == 200 and response.json()["completed"] is True
    for body, field in [
        ({"title": ""}, "title"),
        ({"completed": "yes"}, "completed"),
        ({"order": "first"}, "order"),
        ({"done": True}, "done"),  # the native name is not this shape's
        ({"id": "x"}, "id"),
    ]:
        response = await client.patch(todo["url"], json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["field"] == field
    assert (await client.post(root, json={"order": 1})).status_code == 400
    assert (await client.patch(todo["url"], json={})).status_code == 400
    assert (await client.get(root)).json() == [{**todo, "completed": True}]


async def test_replacing_the_url_retires_the_old_one(client):
    auth, old = await todos_url(client)
    todo = (await client.post(old, json={"title": "kept"})).json()
    response = await client.post("/api/me/todos_url", headers=auth)
    assert response.status_code == 200
    new = response.json()["todos_url"]
    assert new != old and (await me(client, auth))["todos_url"] == new
    for method, url in [
        ("GET", old),
        ("POST", old),
        ("DELETE", old),
        ("GET", todo["url"]),
        ("PATCH", todo["url"]),
        ("DELETE", todo["url"]),
    ]:
        response = await client.request(method, url, json={"title": "x"})
        assert response.status_code == 404, (method, url)
    # the todos themselves are untouched, at their new address
    assert [t["title"] for t in (await client.get(new)).json()] == ["kept"]
    assert (await client.post("/api/me/todos_url")).status_code == 401


async def test_a_capability_reaches_only_its_owners_todos(client):
    alice_auth, alice = await todos_url(client)
    _, bob = await todos_url(client)
    theirs = await create(client, alice_auth, title="alice's")
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, f"{bob}/{theirs['id']}", json={"completed": True})
        assert response.status_code == 404
    await client.delete(bob)  # bob's "delete all" leaves alice alone
    assert [t["title"] for t in (await client.get(alice)).json()] == ["alice's"]
    for path in ("/todos/" + "A" * 43, "/todos/short", "/todos/" + "A" * 43 + "/" + theirs["id"]):
        assert (await client.get(path)).status_code == 404


async def test_delete_all_removes_every_todo_with_its_change(client, store, monkeypatch):
    monkeypatch.setattr("store.tasks.DELETE_BATCH", 3)  # several batches
    auth, root = await todos_url(client)
    owner = (await me(client, auth))["user"]["id"]
    for i in range(7):
        await client.post(root, json={"title": f"t{i}"})
    assert (await client.delete(root)).status_code == 204
    assert (await client.get(root)).json() == []
    changes = await store.changes.since(owner, 0)
    assert [c["type"] for c in changes] == ["task.created"] * 7 + ["task.deleted"] * 7
    assert sorted(c["task"]["title"] for c in changes[7:]) == [f"t{i}" for i in range(7)]


async def test_cookies_are_ignored(client):
    auth, root = await todos_url(client)
    # a browser with a session cookie for another account changes nothing here
    other = await user(client)
    todo = (await client.post(root, json={"title": "mine"}, headers=other)).json()
    assert [t["title"] for t in (await client.get(root)).json()] == ["mine"]
    listed = await client.get("/api/tasks", headers=auth)
    assert [t["id"] for t in listed.json()["tasks"]] == [todo["url"].rsplit("/", 1)[1]]


async def test_the_capability_never_reaches_the_logs(client, caplog):
    _, root = await todos_url(client)
    capability = urlsplit(root).path.split("/")[2]
    with caplog.at_level(logging.DEBUG):
        todo = (await client.post(root, json={"title": "secret list"})).json()
        await client.get(root)
        await client.get(root + "/")
        await client.patch(todo["url"], json={"completed": True})
        await client.get(todo["url"] + "/deeper/still")
        await client.patch(todo["url"], json={"completed": "bad"})
        await client.put(root, json={})  # 405
        await client.delete(todo["url"])
        await client.delete(root)
        await client.options(
            root,
            headers={
                "Origin": "https://elsewhere.example",
                "Access-Control-Request-Method": "PATCH",
            },
        )
    # the server's own loggers (the access log among them); not the test's HTTP
    # client, nor the database driver's command trace at debug level
    server_lines = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("taskhub", "handlers", "tornado", "store", "app"))
    ]
    access = [line for line in server_lines if "/todos/" in line]
    assert len(access) >= 10
    assert all("/todos/{capability}" in line for line in access)
    assert not [line for line in server_lines if capability in line]
