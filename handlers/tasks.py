"""The native task API, ``/api/tasks``, and what the three task shapes share.

Conditional requests: a task's ``ETag`` is its version. ``If-None-Match`` on GET
answers 304 while the version is the same; ``If-Match`` on PUT, PATCH and DELETE
makes the write happen only at that version, else 412 with nothing written.
``Idempotency-Key`` on POST makes a retry return the first answer.

Request bodies of every shape are read by ``task_fields`` with the same checks; each
``Shape`` says how one representation names the editable fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from services.errors import InvalidInput
from services.tasks import ORDER_LIMIT, fingerprint, is_rank, native_task

from .base import APIHandler, Route, authenticated
from .params import (
    boolean,
    bounded_int,
    printable_name,
    reject_unknown,
    text,
    valid_unicode,
    whole_number,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

TITLE_MAX = 200
DESCRIPTION_MAX = 2000

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as UUIDs and the like
_STRONG_ETAG = re.compile(r'"(\d{1,18})"')

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

# Stored by the server, never set by a client.
READ_ONLY = frozenset({"id", "owner", "version", "created_at", "updated_at"})

DEFAULTS = {"description": "", "done": False, "order": None}

# What trimming removes: the whitespace of JavaScript's String.prototype.trim(), so
# that a browser and this server agree, and the OpenAPI document can say it exactly.
WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


# --- request bodies, in any shape ---


@dataclass(frozen=True)
class Shape:
    """How one representation names the editable fields."""

    fields: Mapping[str, str]  # the name a client sends -> the task's field
    # the representation's own read-only fields, which its clients send back as
    # they got them; ignored
    echoed: frozenset[str] = field(default_factory=frozenset)


NATIVE = Shape({"title": "title", "description": "description", "done": "done", "order": "order"})
CLASSIC = Shape(
    {"title": "title", "description": "description", "done": "done"}, frozenset({"uri"})
)
TODO = Shape({"title": "title", "completed": "done", "order": "order"}, frozenset({"url"}))


def task_fields(
    body: Mapping[str, Any], shape: Shape, *, complete: bool, form: bool = False
) -> dict[str, Any]:
    """The editable task fields in ``body``, checked; 400 naming the first bad field.

    ``complete`` (create, replace): ``title`` is required and omitted fields take
    their defaults. Otherwise (a partial update) only the fields given, at least one.
    ``form``: values are text, as form fields are (``done=true``, ``order=3``).
    """
    for name in body:
        if name not in shape.fields and name not in shape.echoed:
            reject(name)
    out: dict[str, Any] = {}
    for name, target in shape.fields.items():
        if name in body:
            out[target] = CHECKS[target](body, name, form)
    if complete:
        if "title" not in out:
            raise InvalidInput("title is required", field="title")
        for target, default in DEFAULTS.items():
            if target in shape.fields.values():
                out.setdefault(target, default)
    elif not out:
        names = ", ".join(shape.fields)
        raise InvalidInput(f"nothing to change: send at least one of {names}")
    return out


def reject(name: str) -> None:
    shown = printable_name(name)
    if name.startswith("$") or "." in name:
        message = f"field names may not start with '$' or contain '.': {shown!r}"
    elif name in READ_ONLY:
        message = f"{name} is set by the server and cannot be sent"
    else:
        message = f"unknown field {shown!r}"
    raise InvalidInput(message, field=shown)


def check_title(body: Mapping[str, Any], name: str, form: bool) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    value = valid_unicode(value.strip(WHITESPACE), name)
    if not value:
        raise InvalidInput(f"{name} must not be empty", field=name)
    if len(value) > TITLE_MAX:
        raise InvalidInput(f"{name} must be at most {TITLE_MAX} characters", field=name)
    return value


def check_description(body: Mapping[str, Any], name: str, form: bool) -> str:
    return text(body, name, max_length=DESCRIPTION_MAX)


def check_done(body: Mapping[str, Any], name: str, form: bool) -> bool:
    value = body[name]
    if form and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false", field=name)
    return value


def check_order(body: Mapping[str, Any], name: str, form: bool) -> int | None:
    value = body[name]
    if form and isinstance(value, str):
        if value in ("", "null"):
            return None
        value = whole_number(value, name)
    if value is None:
        return None
    # JSON has one kind of number: 3.0 is the integer 3, 3.5 is not an integer
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number or null", field=name)
    if abs(value) > ORDER_LIMIT:
        raise InvalidInput(f"{name} must be between -{ORDER_LIMIT} and {ORDER_LIMIT}", field=name)
    return value


CHECKS = {
    "title": check_title,
    "description": check_description,
    "done": check_done,
    "order": check_order,
}


# --- routes ---


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


class TaskHandler(APIHandler):
    """What every task route shares, whatever its representation."""

    @property
    def owner(self) -> str:
        """Whose tasks this request may see: the logged-in user's."""
        return self.login.user_id

    def absolute_url(self, path: str) -> str:
        # behind nginx, the scheme comes from X-Forwarded-Proto (the xheaders setting)
        return f"{self.request.protocol}://{self.request.host}{path}"

    def task_fields(self, shape: Shape, *, complete: bool) -> dict[str, Any]:
        return task_fields(self.body_fields(), shape, complete=complete, form=self.is_form())


class TasksHandler(TaskHandler):
    """``/api/tasks``: the list, a page at a time, and new tasks."""

    @authenticated
    async def get(self) -> None:
        query = self.query_fields()
        # "_": cache busters
        reject_unknown(query, ("done", "limit", "cursor", "_"), "query argument")
        done = boolean(query, "done")
        limit = bounded_int(query, "limit", low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
        assert limit is not None
        cursor = query.get("cursor")
        if cursor is not None and not is_rank(cursor):
            raise InvalidInput("cursor is not one this API gave out", field="cursor")
        tasks, after = await self.tasks.page(self.owner, limit=limit, done=done, after=cursor)
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
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                field="Idempotency-Key",
            )
        task, created = await self.tasks.create(
            self.owner, fields, idempotency_key=key, fingerprint=fingerprint(body)
        )
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
        task = await self.tasks.get(self.owner, task_id)
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
        task = await self.tasks.update(self.owner, task_id, fields, versions=self.versions())
        self.set_header("ETag", etag(task))
        self.write_json({"task": native_task(task)})

    @authenticated
    async def delete(self, task_id: str) -> None:
        await self.tasks.delete(self.owner, task_id, versions=self.versions())
        self.no_content()


class OpenAPIHandler(APIHandler):
    """The OpenAPI document of the native API; public, and readable from any origin."""

    uses_login = False
    cors_policy = "public"
    document = OPENAPI_PATH.read_bytes()  # read once, at import, off the request path

    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(self.document)


routes: list[Route] = [
    (r"/api/tasks", TasksHandler, {}, "tasks"),
    (r"/api/tasks/([^/]+)", TaskItemHandler, {}, "task"),
    (r"/api/openapi.json", OpenAPIHandler),
]
