"""The classic shape, /todo/api/v1.0/tasks: the tutorial's bodies, errors and HTTP Basic."""

from __future__ import annotations

import base64

import pytest
from harness.tasks import create
from harness.users import PASSWORD, register, user

TASKS = "/todo/api/v1.0/tasks"


def basic(username: str, password: str = PASSWORD) -> dict[str, str]:
    value = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


async def test_lifecycle(client, base_url):
    auth = await user(client)
    assert (await client.get(TASKS, headers=auth)).json() == {"tasks": []}

    response = await client.post(TASKS, json={"title": "Buy groceries"}, headers=auth)
    assert response.status_code == 201
    task = response.json()["task"]
    assert set(task) == {"uri", "title", "description", "done"}
    assert task["uri"].startswith(f"{base_url}{TASKS}/")  # absolute
    assert (task["title"], task["description"], task["done"]) == ("Buy groceries", "", False)
    assert response.headers["Location"] == task["uri"]

    response = await client.post(
        TASKS, json={"title": "Learn Python", "description": "Find a good tutorial"}, headers=auth
    )
    second = response.json()["task"]
    listed = (await client.get(TASKS, headers=auth)).json()
    assert listed == {"tasks": [task, second]}

    assert (await client.get(task["uri"], headers=auth)).json() == {"task": task}

    # PUT changes only what it is sent
    response = await client.put(task["uri"], json={"done": True}, headers=auth)
    assert response.status_code == 200
    assert response.json() == {"task": {**task, "done": True}}
    response = await client.put(task["uri"], json={"description": "milk, eggs"}, headers=auth)
    assert response.json()["task"] == {**task, "done": True, "description": "milk, eggs"}

    response = await client.delete(task["uri"], headers=auth)
    assert response.status_code == 200
    assert response.json() == {"result": True}
    assert (await client.get(TASKS, headers=auth)).json() == {"tasks": [second]}


async def test_errors_in_the_tutorials_shape(client):
    auth = await user(client)
    task = (await client.post(TASKS, json={"title": "x"}, headers=auth)).json()["task"]
    missing = f"{TASKS}/{'0' * 24}"
    for method, url, body in [
        ("GET", missing, None),
        ("PUT", missing, {"done": True}),
        ("DELETE", missing, None),
        ("GET", f"{TASKS}/not-an-id", None),
    ]:
        response = await client.request(method, url, json=body, headers=auth)
        assert response.status_code == 404
        assert response.json() == {"error": "Not found"}
    for method, url, body in [
        ("POST", TASKS, {}),
        ("POST", TASKS, {"description": "no title"}),
        ("POST", TASKS, {"title": ""}),
        ("POST", TASKS, {"title": 3}),
        ("POST", TASKS, {"title": "x", "colour": "red"}),
        ("PUT", task["uri"], {"done": "yes"}),
        ("PUT", task["uri"], {"title": None}),
        ("PUT", task["uri"], {"id": "x"}),
        ("PUT", task["uri"], {}),
    ]:
        response = await client.request(method, url, json=body, headers=auth)
        assert response.status_code == 400, (method, body)
        assert response.json() == {"error": "Bad request"}
    response = await client.post(
        TASKS, content=b"{oops", headers={**auth, "Content-Type": "application/json"}
    )
    assert response.json() == {"error": "Bad request"}
    # a client echoing the task it was given back with its uri is fine
    response = await client.put(task["uri"], json={**task, "done": True}, headers=auth)
    assert response.status_code == 200 and response.json()["task"]["done"] is True


async def test_http_basic_works_and_never_asks_the_browser(client):
    username = await register(client)
    client.cookies.clear()
    response = await client.post(TASKS, json={"title": "with basic"}, headers=basic(username))
    assert response.status_code == 201
    listed = await client.get(TASKS, headers=basic(username))
    assert [t["title"] for t in listed.json()["tasks"]] == ["with basic"]
    # no session is left behind
    assert "set-cookie" not in listed.headers

    for headers in (
        {},
        basic(username, "wrong-password"),
        basic("nobody-here"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
    ):
        response = await client.get(TASKS, headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == {"error": "Unauthorized"}
        # a Basic challenge would make a browser open its own login dialog
        challenge = response.headers.get("WWW-Authenticate", "")
        assert "basic" not in challenge.lower()


async def test_basic_counts_towards_the_login_lockout(client):
    username = await register(client)
    client.cookies.clear()
    for _ in range(5):
        await client.get(TASKS, headers=basic(username, "wrong-password"))
    response = await client.get(TASKS, headers=basic(username))
    assert response.status_code == 429
    assert response.json() == {"error": "Too many requests"}
    assert int(response.headers["Retry-After"]) >= 1


async def test_tokens_and_cookies_work_too(client):
    username = await register(client)
    await client.post("/api/login", json={"username": username, "password": PASSWORD})
    # cookie session: reads freely, writes with the XSRF token
    assert (await client.get(TASKS)).status_code == 200
    assert (await client.post(TASKS, json={"title": "forged"})).status_code == 403
    xsrf = {"X-XSRFToken": client.cookies["_xsrf"]}
    assert (await client.post(TASKS, json={"title": "by cookie"}, headers=xsrf)).status_code == 201
    auth = await user(client)
    assert (await client.post(TASKS, json={"title": "by token"}, headers=auth)).status_code == 201


async def test_another_users_task_is_not_found(client):
    alice, bob = await user(client), await user(client)
    task = (await client.post(TASKS, json={"title": "alice's"}, headers=alice)).json()["task"]
    for method, body in [("GET", None), ("PUT", {"done": True}), ("DELETE", None)]:
        response = await client.request(method, task["uri"], json=body, headers=bob)
        assert response.status_code == 404 and response.json() == {"error": "Not found"}
    assert (await client.get(TASKS, headers=bob)).json() == {"tasks": []}
    assert (await client.get(task["uri"], headers=alice)).json() == {"task": task}


@pytest.mark.parametrize("title", ["学习 Tornado 🌪️", "  padded  "])
async def test_text_round_trips(client, title):
    auth = await user(client)
    response = await client.post(
        TASKS, json={"title": title, "description": "説明 ✅"}, headers=auth
    )
    task = response.json()["task"]
    assert task["title"] == title.strip() and task["description"] == "説明 ✅"
    native = await create(client, auth, title="other")
    assert native["title"] == "other"
    assert len((await client.get(TASKS, headers=auth)).json()["tasks"]) == 2
