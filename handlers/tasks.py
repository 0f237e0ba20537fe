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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from services.errors import InvalidInput
from services.tasks import (
    EDITABLE,
    ORDER_LIMIT,
    SORTS,
    TaskFilter,
    fingerprint,
    is_cursor,
    native_task,
)

from .base import APIHandler, Person, Route, authenticated
from .params import (
    boolean,
    bounded_int,
    idempotency_key,
    printable_name,
    reject_unknown,
    text,
    valid_unicode,
    whole_number,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

# What GET /api/tasks narrows by (besides its page: limit, cursor, sort).
QUERY_ARGUMENTS = ("list_id", "done", "due_before", "due_after", "label", "priority", "q")

TITLE_MAX = 200
DESCRIPTION_MAX = 2000
LABELS_MAX = 10
LABEL_MAX = 32
PRIORITY_MAX = 3
QUERY_MAX = 200

# RFC 3339: a date, or a date-time with seconds and an offset (ASCII digits only)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"  # RFC 3339's offsets: Python also takes +08:60
)
# years a due date may have: clear of the edges where a shift to UTC overflows
YEARS = (1900, 9998)

_STRONG_ETAG = re.compile(r'"(\d{1,18})"')

OPENAPI_PATH = Path(__file__).with_name("openapi.json")

# Stored by the server, never set by a client.
READ_ONLY = frozenset(
    {
        "id",
        "owner",
        "version",
        "created_at",
        "updated_at",
        "completed_at",
        "created_by",
        "updated_by",
    }
)

# What a created or replaced task has for a field not sent (its list aside: the
# default list, or the one it is in).
DEFAULTS: dict[str, Any] = {
    "description": "",
    "done": False,
    "order": None,
    "due": None,
    "priority": 0,
    "labels": [],
}

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


NATIVE = Shape({name: name for name in EDITABLE})
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
                out.setdefault(target, list(default) if isinstance(default, list) else default)
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


def due_date(value: str, name: str) -> str:
    """An RFC 3339 date (``2026-11-22``) or date-time with an offset, written back in
    one form: the date as it is, a date-time to the millisecond, UTC as ``Z``."""
    raw = value.strip().upper()
    try:
        if _DATE.fullmatch(raw):
            day = date.fromisoformat(raw)
            if not YEARS[0] <= day.year <= YEARS[1]:
                raise ValueError("year out of range")
            return raw
        if _DATE_TIME.fullmatch(raw):
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if not YEARS[0] <= moment.year <= YEARS[1]:
                raise ValueError("year out of range")
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            shown = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
            return (
                shown.replace("+00:00", "Z") if moment.utcoffset() == UTC.utcoffset(None) else shown
            )
    except ValueError:
        pass
    raise InvalidInput(
        f"{name} must be a date (2026-11-22) or a date-time with an offset "
        f"(2026-11-22T18:00:00+08:00), in the years {YEARS[0]} to {YEARS[1]}",
        field=name,
    )


def check_due(body: Mapping[str, Any], name: str, form: bool) -> str | None:
    value = body[name]
    if value is None or (form and value in ("", "null")):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a date, a date-time or null", field=name)
    return due_date(value, name)


def check_priority(body: Mapping[str, Any], name: str, form: bool) -> int:
    value = body[name]
    if form and isinstance(value, str):
        value = whole_number(value, name)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= PRIORITY_MAX:
        raise InvalidInput(f"{name} must be a whole number from 0 to {PRIORITY_MAX}", field=name)
    return value


def label(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be strings", field=name)
    value = valid_unicode(value.strip(WHITESPACE), name)
    if not 1 <= len(value) <= LABEL_MAX:
        raise InvalidInput(f"each of {name} must be 1 to {LABEL_MAX} characters", field=name)
    return value


def check_labels(body: Mapping[str, Any], name: str, form: bool) -> list[str]:
    value = body[name]
    if form and isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()] if value else []
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a list of strings", field=name)
    if len(value) > LABELS_MAX:
        raise InvalidInput(f"{name} may hold at most {LABELS_MAX} labels", field=name)
    labels = [label(item, name) for item in value]
    if len(set(labels)) != len(labels):
        raise InvalidInput(f"{name} must not repeat a label", field=name)
    return labels


def check_list_id(body: Mapping[str, Any], name: str, form: bool) -> str:
    value = body[name]
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} must be a list's id", field=name)
    return valid_unicode(value, name)


CHECKS = {
    "title": check_title,
    "description": check_description,
    "done": check_done,
    "order": check_order,
    "due": check_due,
    "priority": check_priority,
    "labels": check_labels,
    "list_id": check_list_id,
}


def task_filter(query: Mapping[str, str]) -> TaskFilter:
    """The filters of ``GET /api/tasks``, checked."""
    due_before, due_after = (
        due_date(query[name], name) if name in query else None
        for name in ("due_before", "due_after")
    )
    return TaskFilter(
        done=boolean(query, "done"),
        due_before=due_before,
        due_after=due_after,
        label=label(query["label"], "label") if "label" in query else None,
        priority=bounded_int(query, "priority", low=0, high=PRIORITY_MAX),
        q=text(query, "q", min_length=1, max_length=QUERY_MAX) if "q" in query else None,
    )


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
    def actor(self) -> Person:
        """Who reads and writes tasks in this request: the logged-in user."""
        return self.person

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
        reject_unknown(query, (*QUERY_ARGUMENTS, "limit", "cursor", "sort", "_"), "query argument")
        filters = task_filter(query)
        limit = bounded_int(query, "limit", low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
        assert limit is not None
        sort = query.get("sort", "order")
        if sort not in SORTS:
            raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", field="sort")
        cursor = query.get("cursor")
        if cursor is not None and not is_cursor(sort, cursor):
            raise InvalidInput("cursor is not one this API gave out", field="cursor")
        list_id = query.get("list_id")
        tasks, after = await self.tasks.page(
            self.actor, limit=limit, list_id=list_id, sort=sort, filters=filters, after=cursor
        )
        next_url = None
        if after is not None:
            args = {name: query[name] for name in (*QUERY_ARGUMENTS, "sort") if name in query}
            next_url = self.absolute_url(
                self.reverse_url("tasks")
                + "?"
                + urlencode({**args, "limit": limit, "cursor": after})
            )
        # the store's tasks are in the native form already (store/tasks.py)
        self.write_json({"tasks": tasks, "next": next_url})

    @authenticated
    async def post(self) -> None:
        body = self.body_fields()
        fields = task_fields(body, NATIVE, complete=True, form=self.is_form())
        key = idempotency_key(self.request.headers)
        list_id = fields.pop("list_id", None)
        task, created = await self.tasks.create(
            self.actor, fields, list_id=list_id, idempotency_key=key, fingerprint=fingerprint(body)
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
        task = await self.tasks.get(self.actor, task_id)
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
        task = await self.tasks.update(self.actor, task_id, fields, versions=self.versions())
        self.set_header("ETag", etag(task))
        self.write_json({"task": native_task(task)})

    @authenticated
    async def delete(self, task_id: str) -> None:
        await self.tasks.delete(self.actor, task_id, versions=self.versions())
        self.no_content()


class OpenAPIHandler(APIHandler):
    """The OpenAPI document of the JSON API; public, and readable from any origin."""

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
