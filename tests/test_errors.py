"""Every error is JSON with the right status; no traceback reaches a client."""

from __future__ import annotations

import logging

import httpx

from handlers.base import APIHandler


async def test_unknown_routes_are_json_404(client):
    for method in ("GET", "POST", "DELETE"):
        response = await client.request(method, "/api/nothing-here")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    response = await client.get("/not/an/api/path")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")


async def test_wrong_method_is_json_405(client):
    response = await client.delete("/api/users")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    response = await client.get("/api/logout")
    assert response.status_code == 405


async def test_body_over_the_limit_is_json_413(apps):
    base = await apps.url(max_body_size=1024)
    async with httpx.AsyncClient(base_url=base) as c:
        response = await c.post(
            "/api/users",
            content=b"{" + b" " * 2000 + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        # the connection stays usable and a body within the limit is served
        ok = await c.post("/api/users", json={"username": "within_limit", "password": "p" * 12})
        assert ok.status_code == 201


async def test_chunked_body_over_the_limit_is_413(apps):
    base = await apps.url(max_body_size=1024)

    async def chunks():
        for _ in range(4):
            yield b"x" * 600

    async with httpx.AsyncClient(base_url=base) as c:
        response = await c.post(
            "/api/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_default_body_limit_is_one_mebibyte(client):
    body = b'{"username": "' + b"a" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/api/users", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


class Boom(APIHandler):
    async def get(self):
        raise RuntimeError("secret internal detail")


async def test_internal_errors_are_json_with_a_request_id_and_no_traceback(apps, caplog):
    url = await apps.url(handlers=[(r"/api/boom", Boom)])
    async with httpx.AsyncClient(base_url=url) as c:
        with caplog.at_level(logging.ERROR):
            response = await c.get("/api/boom")
    assert response.status_code == 500
    body = response.json()
    request_id = response.headers["X-Request-Id"]
    assert body["error"]["code"] == "internal_error"
    assert request_id in body["error"]["message"]
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    # the log has the traceback, tied to the same request id
    logged = [r for r in caplog.records if r.exc_info and request_id in r.getMessage()]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])


async def test_every_response_carries_a_request_id(client):
    first = await client.get("/healthz")
    second = await client.get("/api/nope")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    # one given by nginx ($request_id) is kept, so both logs agree
    given = "0123456789abcdef0123456789abcdef"
    response = await client.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given
    response = await client.get("/healthz", headers={"X-Request-Id": "bad id; drop table"})
    assert response.headers["X-Request-Id"] != "bad id; drop table"


async def test_access_log_line(client, caplog):
    with caplog.at_level(logging.INFO, logger="taskhub.access"):
        response = await client.get("/healthz?secret=value")
    records = [r for r in caplog.records if r.name == "taskhub.access"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert line.startswith("GET /healthz 200 ")
    assert "ms user=- request=" + response.headers["X-Request-Id"] in line
    assert "secret" not in line


async def test_health(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": "ok"}
