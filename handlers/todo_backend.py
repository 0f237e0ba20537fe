"""The Todo-Backend shape: a list's tasks at a capability URL, for TodoMVC-style clients.

Such clients, served from any origin, send no cookies or custom headers, so the
URL is the credential: ``/todos/<capability>`` lists, creates (``{title, order?}``)
and deletes all of the list's todos; ``/todos/<capability>/<id>`` reads, changes
(``title``, ``completed``, ``order``) and deletes one. ``GET /api/me`` shows the URL
of the default list as ``todos_url``, ``GET /api/lists/{id}`` that of any list the
user may edit; ``POST /api/me/todos_url`` (or ``/api/lists/{id}/todos_url``) replaces
it, and the old one answers 404, as it does once its user may no longer edit the list.
The capability is never written to the logs.
"""

from __future__ import annotations

import re
from typing import Any

from services.tasks import todo

from .base import APIError, APIHandler, Person, Route, authenticated
from .tasks import TODO, TaskHandler

_CAPABILITY = re.compile(r"[A-Za-z0-9_-]{43}")  # store/todos_urls.py: 256 bits, base64url
_HIDDEN = re.compile(r"^/todos/[^/]*")


def todos_url(handler: APIHandler, capability: str) -> str:
    request = handler.request
    return f"{request.protocol}://{request.host}{handler.reverse_url('todos', capability)}"


class TodoBackendHandler(TaskHandler):
    uses_login = False  # the capability is the credential; cookies are never looked at
    cors_policy = "public"

    holder: Person
    list_id: str

    @property
    def loggable_path(self) -> str:
        return _HIDDEN.sub("/todos/{capability}", self.request.path)

    @property
    def actor(self) -> Person:
        return self.holder

    async def prepare(self) -> None:
        if self.request.method == "OPTIONS":
            return  # a preflight carries no credential to check
        capability = self.path_args[0]
        found = None
        if _CAPABILITY.fullmatch(capability):
            found = await self.lists.todos_holder(capability)
        if found is None:
            raise APIError(404, "no such todo list; GET /api/me shows yours as todos_url")
        self.holder, self.list_id = found

    def todo(self, task: dict[str, Any]) -> dict[str, Any]:
        path = self.reverse_url("todo", self.path_args[0], task["id"])
        return todo(task, self.absolute_url(path))


class TodosHandler(TodoBackendHandler):
    async def get(self, capability: str) -> None:
        tasks = await self.tasks.all(self.actor, self.list_id)
        self.write_json([self.todo(t) for t in tasks])

    async def post(self, capability: str) -> None:
        task, _ = await self.tasks.create(
            self.actor, self.task_fields(TODO, complete=True), list_id=self.list_id
        )
        body = self.todo(task)
        self.set_header("Location", body["url"])
        self.write_json(body, status=201)

    async def delete(self, capability: str) -> None:
        await self.tasks.delete_all(self.actor, self.list_id)
        self.no_content()


class TodoHandler(TodoBackendHandler):
    async def get(self, capability: str, task_id: str) -> None:
        task = await self.tasks.get(self.actor, task_id, within=self.list_id)
        self.write_json(self.todo(task))

    async def patch(self, capability: str, task_id: str) -> None:
        fields = self.task_fields(TODO, complete=False)
        task = await self.tasks.update(self.actor, task_id, fields, within=self.list_id)
        self.write_json(self.todo(task))

    async def delete(self, capability: str, task_id: str) -> None:
        await self.tasks.delete(self.actor, task_id, within=self.list_id)
        self.no_content()


class TodosUrlHandler(APIHandler):
    """``POST /api/me/todos_url``: a new capability; the old URL stops working."""

    @authenticated
    async def post(self) -> None:
        capability = await self.accounts.replace_todos_capability(self.login.user_id)
        self.write_json({"todos_url": todos_url(self, capability)})


async def current_todos_url(handler: APIHandler, owner: str) -> str:
    """The owner's Todo-Backend URL, made on first use (for ``GET /api/me``)."""
    return todos_url(handler, await handler.accounts.todos_capability(owner))


routes: list[Route] = [
    (r"/api/me/todos_url", TodosUrlHandler),
    # a trailing slash, and anything deeper, still reach these handlers, so that no
    # path holding a capability is logged by the default 404 handler
    (r"/todos/([^/]+)", TodosHandler, {}, "todos"),
    (r"/todos/([^/]+)/", TodosHandler),
    (r"/todos/([^/]+)/(.+)", TodoHandler, {}, "todo"),
]
