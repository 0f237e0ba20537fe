"""The user factory: registered, logged-in users over the HTTP API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PASSWORD = "correct horse battery"


def new_username(prefix: str = "user") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def register(client: httpx.AsyncClient, username: str | None = None) -> str:
    username = username or new_username()
    response = await client.post("/api/users", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return username


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


async def register_and_login(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """A new user; returns its name and the headers that authenticate as it."""
    username = await register(client)
    token = await login(client, username)
    return username, {"Authorization": f"Bearer {token}"}


async def user(client: httpx.AsyncClient) -> dict[str, str]:
    """A new logged-in user: the headers that authenticate as it. The login's
    cookie is dropped, so that each call authenticates by its token alone."""
    _, auth = await register_and_login(client)
    client.cookies.clear()
    return auth


async def me(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/me", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


async def login_as_seen(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> tuple[httpx.Response, str]:
    """A new user logs in sending ``headers``: the login's answer, and the client
    address taskhub recorded for that login (``GET /api/me/logins``)."""
    username = await register(client)
    response = await client.post(
        "/api/login", json={"username": username, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    auth = {"Authorization": f"Bearer {response.json()['token']}"}
    logins = await client.get("/api/me/logins", headers=auth)
    assert logins.status_code == 200, logins.text
    (seen,) = logins.json()["logins"]
    return response, seen["client"]
