"""``/todo/api/v1.0/tasks``: tasks as the classic REST tutorial serves them.

For clients written from that tutorial: ``{"tasks": [...]}`` with each task's
absolute ``uri`` in place of an id, PUT that changes only the fields sent,
``{"result": true}`` on delete, and errors as ``{"error": "Not found"}``. They may
log in with HTTP Basic as well as a token or the session cookie. They see and write
the tasks of the user's default list, as before there were lists.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from services.accounts import Login
from services.tasks import classic_task

from .base import APIError, Route, authenticated
from .tasks import CLASSIC, TaskHandler


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(username, password) from ``Authorization: Basic ...``; None for other schemes."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise APIError(401, "malformed Basic credentials") from e
    username, colon, password = decoded.partition(":")
    if not colon or not username or not password:
        raise APIError(401, "malformed Basic credentials")
    return username, password


class ClassicHandler(TaskHandler):
    def error_body(self, status: int, code: str, message: str, field: str | None) -> Any:
        # "Not found", "Bad request", ...: the tutorial's error shape
        return {"error": HTTPStatus(status).phrase.capitalize()}

    async def prepare(self) -> None:
        await super().prepare()
        header = self.request.headers.get("Authorization", "")
        credentials = basic_credentials(header) if self.current_user is None else None
        if credentials is not None:
            # 401 and 429 here go out without a Basic challenge, so that a browser
            # never opens its own login dialog over the page
            user = await self.accounts.check_basic(*credentials, self.request.remote_ip or "")
            # a login for this request alone: nothing is stored, nothing to revoke
            self.current_user = Login(
                digest="",
                user_id=user.id,
                username=user.username,
                expires_at=datetime.now(UTC),
            )

    def task_uri(self, task: dict[str, Any]) -> str:
        return self.absolute_url(self.reverse_url("classic_task", task["id"]))


class ClassicTasksHandler(ClassicHandler):
    @authenticated
    async def get(self) -> None:
        tasks = await self.tasks.all(self.actor, self.actor.id)
        self.write_json({"tasks": [classic_task(t, self.task_uri(t)) for t in tasks]})

    @authenticated
    async def post(self) -> None:
        fields = self.task_fields(CLASSIC, complete=True)
        task, _ = await self.tasks.create(self.actor, fields)
        uri = self.task_uri(task)
        self.set_header("Location", uri)
        self.write_json({"task": classic_task(task, uri)}, status=201)


class ClassicTaskHandler(ClassicHandler):
    @authenticated
    async def get(self, task_id: str) -> None:
        task = await self.tasks.get(self.actor, task_id, within=self.actor.id)
        self.write_json({"task": classic_task(task, self.task_uri(task))})

    @authenticated
    async def put(self, task_id: str) -> None:
        # the tutorial's PUT leaves the fields not sent as they were
        fields = self.task_fields(CLASSIC, complete=False)
        task = await self.tasks.update(self.actor, task_id, fields, within=self.actor.id)
        self.write_json({"task": classic_task(task, self.task_uri(task))})

    @authenticated
    async def delete(self, task_id: str) -> None:
        await self.tasks.delete(self.actor, task_id, within=self.actor.id)
        self.write_json({"result": True})


routes: list[Route] = [
    (r"/todo/api/v1.0/tasks", ClassicTasksHandler),
    (r"/todo/api/v1.0/tasks/([^/]+)", ClassicTaskHandler, {}, "classic_task"),
]
