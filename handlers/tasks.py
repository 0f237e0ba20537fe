"""The native task API, ``/api/tasks``, and what the three task shapes share.

Conditional requests: a task's ``ETag`` is its version. ``If-None-Match`` on GET
answers 304 while the version is the same; ``If-Match`` on PUT, PATCH and DELETE
makes the write happen only at that version, else 412 with nothing written.
``Idempotency-Key`` on POST makes a retry return the first answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Awaitable, Mapping, TypeVar
from urllib.parse import urlencode

from store.idempotency import IdempotencyKeyReused
from store.tasks import StaleVersion, TaskNotFound, is_rank

from .base import APIError, APIHandler, authenticated
from .task_views import NATIVE, Shape, native_task, task_fields

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as UUIDs and the like
_STRONG_ETAG = re.compile(r'"(\d{1,18})"')
_LIMIT = re.compile(r"[0-9]{1,4}")

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def etag(task: Mapping[str, Any]) -> str:
    return f'"{task["version"]}"'


def if_match_versions(header: str | None) -> set[int] | None:
    """The versions ``If-Match`` allows; None when any will do (absent or ``*``).

    Strong comparison: weak tags (``W/"3"``) and malformed ones match nothing.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        match = _STRONG_ETAG.fullmatch(tag.strip())
        if match:
            versions.add(int(match.group(1)))
    return versions


def none_match(header: str | None, task: Mapping[str, Any]) -> bool:
    """Whether ``If-None-Match`` names the task's current version (weak comparison)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag(task) in tags


def fingerprint(body: Mapping[str, Any]) -> str:
    """A digest of a request body, the same however its keys are ordered."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class TaskHandler(APIHandler):
    """What every task route shares, whatever its representation."""

    @property
    def owner(self) -> str:
        """Whose tasks this request may see: the logged-in user's."""
        return self.current_user.user_id

    def absolute_url(self, path: str) -> str:
        # behind nginx, the scheme comes from X-Forwarded-Proto (the xheaders setting)
        return f"{self.request.protocol}://{self.request.host}{path}"

    def is_form(self) -> bool:
        media_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return media_type in ("application/x-www-form-urlencoded", "multipart/form-data")

    def task_fields(self, shape: Shape, *, complete: bool) -> dict[str, Any]:
        return task_fields(self.body_fields(), shape, complete=complete, form=self.is_form())

    async def stored(self, call: Awaitable[T]) -> T:
        """The store's answer, its refusals turned into HTTP errors."""
        try:
            return await call
        except TaskNotFound as e:
            # a malformed id, a missing task and someone else's are all the same 404
            raise APIError(404, "no such task") from e
        except StaleVersion as e:
            raise APIError(
                412,
                f"the task has changed: it is at version {e.task['version']}; "
                "fetch it and apply your change again",
                headers={"ETag": etag(e.task)},
            ) from e


class TasksHandler(TaskHandler):
    """``/api/tasks``: the list, a page at a time, and new tasks."""

    @authenticated
    async def get(self) -> None:
        query = self.query_fields()
        for name in query:
            if name not in ("done", "limit", "cursor", "_"):  # "_": cache busters
                raise APIError(400, f"unknown query argument {name!r}", field=name)
        done = None
        if "done" in query:
            if query["done"] not in ("true", "false"):
                raise APIError(400, "done must be true or false", field="done")
            done = query["done"] == "true"
        limit = DEFAULT_LIMIT
        if "limit" in query:
            if not _LIMIT.fullmatch(query["limit"]) or not 1 <= int(query["limit"]) <= MAX_LIMIT:
                raise APIError(400, f"limit must be from 1 to {MAX_LIMIT}", field="limit")
            limit = int(query["limit"])
        cursor = query.get("cursor")
        if cursor is not None and not is_rank(cursor):
            raise APIError(400, "cursor is not one this API gave out", field="cursor")
        tasks, after = await self.store.tasks.page(
            self.owner, limit=limit, done=done, after=cursor
        )
        next_url = None
        if after is not None:
            args = {"limit": limit, **({"done": query["done"]} if done is not None else {})}
            next_url = self.absolute_url(
                self.reverse_url("tasks") + "?" + urlencode({**args, "cursor": after})
            )
        self.write_json({"tasks": [native_task(t) for t in tasks], "next": next_url})

    @authenticated
    async def post(self) -> None:
        body = self.body_fields()
        fields = task_fields(body, NATIVE, complete=True, form=self.is_form())
        key = self.request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            raise APIError(
                400,
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                field="Idempotency-Key",
            )
        try:
            task, created = await self.store.tasks.create(
                self.owner, fields, idempotency_key=key, fingerprint=fingerprint(body)
            )
        except IdempotencyKeyReused as e:
            raise APIError(
                422,
                "this Idempotency-Key came with a different request; use a new key",
                field="Idempotency-Key",
            ) from e
        if not created:
            self.set_header("Idempotent-Replayed", "true")
        self.set_header("Location", self.reverse_url("task", task["id"]))
        self.set_header("ETag", etag(task))
        self.write_json({"task": native_task(task)}, status=201)


class TaskItemHandler(TaskHandler):
    """``/api/tasks/{id}``: one task, read, replaced, changed or deleted."""

    def versions(self) -> set[int] | None:
        return if_match_versions(self.request.headers.get("If-Match"))

    @authenticated
    async def get(self, task_id: str) -> None:
        task = await self.stored(self.store.tasks.get(self.owner, task_id))
        self.set_header("ETag", etag(task))
        # the browser may keep it, but must ask (If-None-Match) before reusing it
        self.set_header("Cache-Control", "private, no-cache")
        if none_match(self.request.headers.get("If-None-Match"), task):
            self.set_status(304)
            self.finish()
            return
        self.write_json({"task": native_task(task)})

    @authenticated
    async def put(self, task_id: str) -> None:
        fields = self.task_fields(NATIVE, complete=True)
        await self.write_task(task_id, fields)

    @authenticated
    async def patch(self, task_id: str) -> None:
        fields = self.task_fields(NATIVE, complete=False)
        await self.write_task(task_id, fields)

    async def write_task(self, task_id: str, fields: dict[str, Any]) -> None:
        task = await self.stored(
            self.store.tasks.update(self.owner, task_id, fields, versions=self.versions())
        )
        self.set_header("ETag", etag(task))
        self.write_json({"task": native_task(task)})

    @authenticated
    async def delete(self, task_id: str) -> None:
        await self.stored(
            self.store.tasks.delete(self.owner, task_id, versions=self.versions())
        )
        self.set_status(204)
        self.finish()


class OpenAPIHandler(APIHandler):
    """The OpenAPI document of the native API; public, and readable from any origin."""

    uses_session = False
    cors_policy = "public"
    document = OPENAPI_PATH.read_bytes()  # read once, at import, off the request path

    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(self.document)


routes = [
    (r"/api/tasks", TasksHandler, {}, "tasks"),
    (r"/api/tasks/([^/]+)", TaskItemHandler, {}, "task"),
    (r"/api/openapi.json", OpenAPIHandler),
]
