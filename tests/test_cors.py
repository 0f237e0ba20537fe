"""CORS as browsers do it: preflights, credentialed calls from configured origins
only, and Todo-Backend URLs open to every origin without credentials."""

from __future__ import annotations

import httpx
import pytest
from harness.apps import route_paths
from harness.settings import make_config
from harness.tasks import create
from harness.users import me, user

import app

APP = "https://app.example.com"
EVIL = [
    "https://evil.example",
    "null",
    "https://app.example.com.evil.example",
    "http://app.example.com",
]


def preflight(method: str, headers: str = "", origin: str = APP) -> dict[str, str]:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    return sent


def listed(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


@pytest.fixture
async def cors_client(apps):
    base = await apps.url(cors_origins=(APP,))
    async with httpx.AsyncClient(base_url=base, timeout=15) as c:
        yield c


@pytest.mark.parametrize(
    "path, method, headers",
    [
        ("/api/tasks", "POST", "content-type, authorization, idempotency-key"),
        ("/api/tasks", "GET", "authorization"),
        ("/api/tasks/0123456789abcdef01234567", "PATCH", "content-type, if-match, x-xsrftoken"),
        ("/api/tasks/0123456789abcdef01234567", "PUT", "content-type, if-match"),
        ("/api/tasks/0123456789abcdef01234567", "DELETE", "if-match"),
        ("/api/tasks/0123456789abcdef01234567", "GET", "if-none-match"),
        ("/todo/api/v1.0/tasks", "POST", "content-type, authorization"),
        ("/todo/api/v1.0/tasks/0123456789abcdef01234567", "PUT", "content-type"),
        ("/todo/api/v1.0/tasks/0123456789abcdef01234567", "DELETE", ""),
        ("/api/me/todos_url", "POST", "x-xsrftoken"),
        ("/api/me", "GET", ""),
        ("/api/login", "POST", "content-type"),
    ],
)
async def test_preflight_from_a_configured_origin(cors_client, path, method, headers):
    response = await cors_client.options(path, headers=preflight(method, headers))
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert method.lower() in listed(response.headers["Access-Control-Allow-Methods"])
    assert listed(headers) <= listed(response.headers["Access-Control-Allow-Headers"])
    assert "origin" in listed(response.headers["Vary"])
    assert int(response.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("origin", EVIL)
async def test_other_origins_get_nothing(cors_client, origin):
    auth = await user(cors_client)
    task = await create(cors_client, auth)
    for path in ("/api/tasks", f"/api/tasks/{task['id']}", "/todo/api/v1.0/tasks", "/api/me"):
        response = await cors_client.options(
            path, headers=preflight("PATCH", "content-type", origin)
        )
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert "Access-Control-Allow-Methods" not in response.headers
        response = await cors_client.get(path, headers={**auth, "Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert "origin" in listed(response.headers["Vary"])


async def test_credentialed_calls_from_a_configured_origin(cors_client):
    auth = await user(cors_client)
    response = await cors_client.post(
        "/api/tasks", json={"title": "x"}, headers={**auth, "Origin": APP}
    )
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = listed(response.headers["Access-Control-Expose-Headers"])
    assert {"etag", "location"} <= exposed
    # errors carry the CORS headers too, so the page can read them
    response = await cors_client.get("/api/tasks/nope", headers={**auth, "Origin": APP})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == APP
    # the answer depends on the Origin, even when none is sent
    response = await cors_client.get("/api/tasks", headers=auth)
    assert "origin" in listed(response.headers["Vary"])
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_no_origin_is_trusted_by_default(client):
    response = await client.options("/api/tasks", headers=preflight("POST", "content-type"))
    assert "Access-Control-Allow-Origin" not in response.headers
    auth = await user(client)
    response = await client.get("/api/tasks", headers={**auth, "Origin": APP})
    assert response.status_code == 200  # answered; the browser just won't show it
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", [APP, *EVIL])
async def test_todo_backend_is_open_to_every_origin_without_credentials(cors_client, origin):
    auth = await user(cors_client)
    root = (await me(cors_client, auth))["todos_url"]
    cors_client.cookies.clear()
    response = await cors_client.options(root, headers=preflight("POST", "content-type", origin))
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert {"get", "post", "delete"} <= listed(response.headers["Access-Control-Allow-Methods"])
    assert "content-type" in listed(response.headers["Access-Control-Allow-Headers"])

    created = await cors_client.post(
        root, json={"title": "cross-origin"}, headers={"Origin": origin}
    )
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in created.headers
    url = created.json()["url"]
    response = await cors_client.options(url, headers=preflight("PATCH", "content-type", origin))
    assert {"get", "patch", "delete"} <= listed(response.headers["Access-Control-Allow-Methods"])
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    response = await cors_client.patch(url, json={"completed": True}, headers={"Origin": origin})
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    # an unknown list answers 404, still readable cross-origin
    response = await cors_client.get("/todos/" + "x" * 43, headers={"Origin": origin})
    assert response.status_code == 404 and response.headers["Access-Control-Allow-Origin"] == "*"


async def test_no_route_reflects_an_origin_with_credentials(cors_client):
    paths = route_paths(app.routes(make_config()))
    assert "/api/tasks" in paths and "/todo/api/v1.0/tasks" in paths
    for path in paths:
        for origin in EVIL:
            for response in (
                await cors_client.options(path, headers=preflight("POST", "content-type", origin)),
                await cors_client.get(path, headers={"Origin": origin}),
            ):
                reflected = response.headers.get("Access-Control-Allow-Origin") == origin
                credentials = response.headers.get("Access-Control-Allow-Credentials") == "true"
                assert not (reflected and credentials), (path, origin)
                if credentials:
                    assert response.headers["Access-Control-Allow-Origin"] == APP
