"""Helpers for the task API tests: users, tasks, and counting database commands."""

from __future__ import annotations

from typing import Any

import httpx
from pymongo import monitoring

from accounts import register_and_login

NATIVE_FIELDS = {"id", "title", "description", "done", "order", "created_at", "updated_at", "version"}


async def user(client: httpx.AsyncClient) -> dict[str, str]:
    """A new logged-in user: the headers that authenticate as it. The login's session
    cookie is dropped, so that each call authenticates by its token alone."""
    _, auth = await register_and_login(client)
    client.cookies.clear()
    return auth


async def create(client: httpx.AsyncClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    fields.setdefault("title", "a task")
    response = await client.post("/api/tasks", json=fields, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["task"]


async def me(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/me", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()


class Commands(monitoring.CommandListener):
    """Every command a client sends, as (name, collection or None, command document)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        self.sent.append((name, event.command.get(name), dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.sent.clear()

    def names(self) -> list[tuple[str, Any]]:
        return [(name, target) for name, target, _ in self.sent]
