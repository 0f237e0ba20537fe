"""One stored task, three representations, one set of rules for what clients send.

The store returns a task as a plain dict (store/tasks.py). Each API shape is a small
mapping over it: ``native_task`` (``/api/tasks``, and the live updates),
``classic_task`` (``/todo/api/v1.0/tasks``) and ``todo`` (Todo-Backend). Going the
other way, ``task_fields`` reads a request body of any shape into the task's editable
fields, with the same checks for all three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from store.tasks import FIELDS, ORDER_LIMIT

from .base import APIError
from .fields import text, valid_unicode

TITLE_MAX = 200
DESCRIPTION_MAX = 2000

# Stored by the server, never set by a client.
READ_ONLY = frozenset({"id", "owner", "version", "created_at", "updated_at"})

DEFAULTS = {"description": "", "done": False, "order": None}

# What trimming removes: the whitespace of JavaScript's String.prototype.trim(), so
# that a browser and this server agree, and the OpenAPI document can say it exactly.
WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


# --- out: the representations ---


def native_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """The native form: every field of the task (times stay datetimes until to_json)."""
    return {name: task[name] for name in FIELDS}


def classic_task(task: Mapping[str, Any], uri: str) -> dict[str, Any]:
    """The classic tutorial's form: the task's absolute ``uri`` instead of its id."""
    return {
        "uri": uri,
        "title": task["title"],
        "description": task["description"],
        "done": task["done"],
    }


def todo(task: Mapping[str, Any], url: str) -> dict[str, Any]:
    """The Todo-Backend form: ``completed`` for done, and the todo's absolute ``url``."""
    return {"title": task["title"], "completed": task["done"], "order": task["order"], "url": url}


# --- in: request bodies ---


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
            raise APIError(400, "title is required", field="title")
        for target, default in DEFAULTS.items():
            if target in shape.fields.values():
                out.setdefault(target, default)
    elif not out:
        names = ", ".join(shape.fields)
        raise APIError(400, f"nothing to change: send at least one of {names}")
    return out


def reject(name: str) -> None:
    shown = name.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    if name.startswith("$") or "." in name:
        message = f"field names may not start with '$' or contain '.': {shown!r}"
    elif name in READ_ONLY:
        message = f"{name} is set by the server and cannot be sent"
    else:
        message = f"unknown field {shown!r}"
    raise APIError(400, message, field=shown)


def check_title(body: Mapping[str, Any], name: str, form: bool) -> str:
    value = body[name]
    if not isinstance(value, str):
        raise APIError(400, f"{name} must be a string", field=name)
    value = valid_unicode(value.strip(WHITESPACE), name)
    if not value:
        raise APIError(400, f"{name} must not be empty", field=name)
    if len(value) > TITLE_MAX:
        raise APIError(400, f"{name} must be at most {TITLE_MAX} characters", field=name)
    return value


def check_description(body: Mapping[str, Any], name: str, form: bool) -> str:
    return text(body, name, max_length=DESCRIPTION_MAX)


def check_done(body: Mapping[str, Any], name: str, form: bool) -> bool:
    value = body[name]
    if form and value in ("true", "false"):
        return value == "true"
    if not isinstance(value, bool):
        raise APIError(400, f"{name} must be true or false", field=name)
    return value


def check_order(body: Mapping[str, Any], name: str, form: bool) -> int | None:
    value = body[name]
    if form and isinstance(value, str):
        if value in ("", "null"):
            return None
        try:
            value = int(value)
        except ValueError:
            raise APIError(400, f"{name} must be a whole number", field=name) from None
    if value is None:
        return None
    # JSON has one kind of number: 3.0 is the integer 3, 3.5 is not an integer
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise APIError(400, f"{name} must be a whole number or null", field=name)
    if abs(value) > ORDER_LIMIT:
        raise APIError(
            400, f"{name} must be between -{ORDER_LIMIT} and {ORDER_LIMIT}", field=name
        )
    return value


CHECKS = {
    "title": check_title,
    "description": check_description,
    "done": check_done,
    "order": check_order,
}
