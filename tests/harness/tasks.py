"""Helpers for the task API tests."""

from __future__ import annotations

from typing import Any

import httpx

NATIVE_FIELDS = {
    "id",
    "list_id",
    "title",
    "description",
    "done",
    "order",
    "due",
    "priority",
    "labels",
    "completed_at",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "version",
}


async def create(client: httpx.AsyncClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    fields.setdefault("title", "a task")
    response = await client.post("/api/tasks", json=fields, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["task"]
