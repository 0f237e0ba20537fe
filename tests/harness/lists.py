"""Helpers for the lists and sharing tests: members with their tokens, lists, shares."""

from __future__ import annotations

from typing import Any

import httpx

from .users import login, register


class Member:
    """A registered user with their headers and id."""

    def __init__(self, username: str, token: str, user_id: str):
        self.username, self.token, self.id = username, token, user_id
        self.auth = {"Authorization": f"Bearer {token}"}


async def member(client: httpx.AsyncClient) -> Member:
    username = await register(client)
    token = await login(client, username)
    client.cookies.clear()
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    return Member(username, token, me.json()["user"]["id"])


async def new_list(
    client: httpx.AsyncClient, owner: Member, name: str = "Groceries"
) -> dict[str, Any]:
    response = await client.post("/api/lists", json={"name": name}, headers=owner.auth)
    assert response.status_code == 201, response.text
    return response.json()["list"]


async def share(
    client: httpx.AsyncClient, owner: Member, list_id: str, who: Member, role: str
) -> dict[str, Any]:
    response = await client.put(
        f"/api/lists/{list_id}/members/{who.username}", json={"role": role}, headers=owner.auth
    )
    assert response.status_code == 200, response.text
    return response.json()["member"]
