"""Hostile input never gets a 500: every route and method, sent malformed bodies and
odd query values, answers a 4xx with the route's error shape, and stores nothing."""

from __future__ import annotations

import json

import httpx
import pytest
from code2session_server import code2session  # noqa: F401 (fixture)
from harness.apps import route_paths
from harness.board import assert_served_as_javascript, board_modules
from harness.live import connect
from harness.settings import make_config
from harness.tasks import create
from harness.users import login, me, register_and_login, user

import app

DEEP = 5000

BODIES: dict[str, tuple[bytes, str]] = {
    "deep object": (b'{"title": ' + b"[" * DEEP + b"]" * DEEP + b"}", "application/json"),
    "deep array": (b"[" * DEEP + b"]" * DEEP, "application/json"),
    "deep as text/plain": (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "text/plain"),
    "NaN and Infinity": (b'{"title": NaN, "order": Infinity, "grade1": -Infinity}', ""),
    "huge integer": (b'{"title": "x", "order": ' + b"9" * 5000 + b"}", "application/json"),
    "duplicate keys": (b'{"title": "a", "title": "b", "code": "x", "code": 1}', "application/json"),
    "null bytes": (b'{"title": "a\\u0000b", "username": "\\u0000", "code": "\\u0000"}', ""),
    "invalid UTF-8": (b'{"title": "\xff\xfe", "username": "\xc3"}', "application/json"),
    "lone surrogates": (
        b'{"title": "\\ud800", "username": "\\udc00", "password": "\\ud800aaaaaaaa",'
        b' "txt1": "\\ud800", "txt2": "\\"\\\\ud800\\"", "acc_nbr": "\\ud800"}',
        "application/json",
    ),
    "lone surrogate field name": (b'{"\\ud800": 1}', "application/json"),
    "form with bad bytes": (
        b"title=%ff%fe&%00=1&txt1=%ed%a0%80",
        "application/x-www-form-urlencoded",
    ),
}
QUERY = "?limit=%C2%B2&since=%D9%A3&cursor=%00&done=%ff&acc_nbr=%ed%a0%80&ticket=%00"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def error_shaped(path: str, body: object) -> bool:
    """The route's documented error shape: JSON strings for /score, the classic
    tutorial's {"error": "..."}, and {"error": {"code", "message"}} everywhere else."""
    if path == "/score":
        return isinstance(body, str)
    if path.startswith("/todo/api/"):
        return isinstance(body, dict) and isinstance(body.get("error"), str)
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and {"code", "message"} <= set(error)


@pytest.fixture
async def configured(apps, code2session):
    """taskhub with every feature configured: mini-program logins through the local
    code2Session server."""
    async with httpx.AsyncClient(base_url=await apps.url(**code2session.settings())) as c:
        yield c


async def test_no_route_answers_hostile_input_with_a_5xx(configured):
    client = configured
    # a user with a task and a Todo-Backend URL, so requests reach past the lookups
    username, auth = await register_and_login(client)
    client.cookies.clear()
    task = await create(client, auth, title="keep me")
    capability = (await me(client, auth))["todos_url"].rsplit("/", 1)[1]
    routes = app.routes(make_config())
    paths = route_paths(routes, task["id"])
    paths += [f"/todos/{capability}", f"/todos/{capability}/{task['id']}"]
    paths.sort(key=lambda path: path == "/api/logout")  # keep the login until the end
    seen = 0
    for path in paths:
        for method in METHODS:
            for name, (body, content_type) in BODIES.items():
                headers = {**auth, "Content-Type": content_type} if content_type else auth
                response = await client.request(method, path + QUERY, content=body, headers=headers)
                where = f"{method} {path} with {name}: {response.status_code} {response.text[:200]}"
                assert response.status_code < 500, where
                seen += 1
                if response.status_code >= 400 and method != "HEAD" and response.content:
                    assert response.headers["Content-Type"].startswith("application/json"), where
                    assert error_shaped(path, response.json()), where
    assert seen == len(paths) * len(METHODS) * len(BODIES)
    # none of it stored anything (DELETE, which takes no body, may have removed the task)
    auth = {"Authorization": f"Bearer {await login(client, username)}"}
    tasks = (await client.get("/api/tasks", headers=auth)).json()["tasks"]
    assert [t for t in tasks if t != task] == []


async def test_a_null_byte_in_a_static_path_is_a_json_404(client):
    response = await client.get("/static/board/main.js%00.png")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (await client.get("/static/board/main.js")).status_code == 200


async def test_the_boards_modules_are_served_as_javascript(client):
    # taskhub serves /static/ itself without nginx: module scripts need a JavaScript type
    modules = await board_modules(client)
    assert "/static/board/api.js" in modules, sorted(modules)
    assert_served_as_javascript(modules)


async def test_unicode_digits_in_numeric_arguments_are_refused(client):
    auth = await user(client)
    for url in (
        "/api/tasks?limit=²",
        "/api/tasks?limit=٣",
        "/api/scores?acc_nbr=13800138000&limit=²",
    ):
        response = await client.get(url, headers=auth)
        assert response.status_code == 400, url
        assert response.json()["error"]["field"] == "limit"


async def test_a_deep_websocket_message_is_an_error_and_the_socket_stays_open(apps):
    live = await apps.start()
    async with httpx.AsyncClient(base_url=live.url) as c:
        token = (await user(c))["Authorization"].split()[1]
    socket = await connect(live.ws_url, token=token)
    await socket.ready()
    socket.send("[" * DEEP + "]" * DEEP)
    message = await socket.next()
    assert message["type"] == "error" and "deeper" in message["error"]["message"]
    assert await socket.nothing_pending() == []  # still answering pings
    socket.close()


async def test_head_is_answered_wherever_get_is(client):
    auth = await user(client)
    for path, headers in (
        ("/healthz", {}),
        ("/api/openapi.json", {}),
        ("/", {}),
        ("/api/tasks", auth),
    ):
        get = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)
        assert head.status_code == get.status_code == 200, path
        assert head.content == b""
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
    refused = await client.head("/api/logout", headers=auth)
    assert refused.status_code == 405
    assert "HEAD" not in refused.headers["Allow"]


async def test_a_lone_surrogate_in_a_score_comment_is_a_400(client):
    for txt1 in ("\ud800", json.dumps("\ud800")):
        body = json.dumps(
            {"acc_nbr": "13800138000", "grade1": 1, "grade2": 2, "grade3": 3, "txt1": txt1}
        )
        response = await client.post(
            "/score",
            content=body.encode("utf-8", "surrogatepass"),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert isinstance(response.json(), str)


async def test_requests_to_the_live_socket_that_are_no_upgrade_get_json(apps):
    live = await apps.start()
    async with httpx.AsyncClient(base_url=live.url) as c:
        auth = await user(c)
        upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
        for headers, status in (
            ({}, 400),
            ({**upgrade}, 400),  # no Sec-WebSocket-Key
            (
                {
                    **upgrade,
                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version": "99",
                },
                426,
            ),
        ):
            response = await c.get("/api/live", headers={**auth, **headers})
            assert response.status_code == status, response.text
            assert response.json()["error"]["message"]
