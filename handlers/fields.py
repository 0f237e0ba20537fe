"""Checks on client input: only the types expected, within their limits.

A value that is not a string where a string is expected (``{"$ne": null}``, a list,
a number, null) is refused, so no client value can become a query operator.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from .base import APIError


def text(
    fields: Mapping[str, Any],
    name: str,
    *,
    min_length: int = 0,
    max_length: int,
    pattern: re.Pattern[str] | None = None,
    pattern_help: str = "",
    strip: bool = False,
    required: bool = True,
) -> str | None:
    """The string field ``name``; 400 naming it when missing, of another type or out of bounds."""
    if name not in fields:
        if required:
            raise APIError(400, f"{name} is required", field=name)
        return None
    value = fields[name]
    if not isinstance(value, str):
        raise APIError(400, f"{name} must be a string", field=name)
    valid_unicode(value, name)
    if strip:
        value = value.strip()
    if len(value) < min_length:
        if min_length == 1:
            raise APIError(400, f"{name} must not be empty", field=name)
        raise APIError(400, f"{name} must be at least {min_length} characters", field=name)
    if len(value) > max_length:
        raise APIError(400, f"{name} must be at most {max_length} characters", field=name)
    if pattern is not None and not pattern.fullmatch(value):
        raise APIError(400, f"{name} {pattern_help}", field=name)
    return value


def valid_unicode(value: str, name: str) -> str:
    """``value`` when it can be stored; 400 for a lone surrogate (a JSON ``\\ud800``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise APIError(400, f"{name} is not valid Unicode text", field=name) from e
    return value


def reject_unknown(fields: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """400 naming the first field the route does not take."""
    allowed = set(allowed)
    for name in fields:
        if name not in allowed:
            raise APIError(400, f"unknown field {name!r}", field=name)
