"""The one toolkit for reading client input: query strings, forms and JSON bodies.

Only the types expected, within their limits: a value that is not a string where a
string is expected (``{"$ne": null}``, a list, a number, null) is refused, so no
client value can become a query operator. Every refusal is an InvalidInput (a 400)
naming the field.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from services.errors import InvalidInput

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as UUIDs and the like
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²" and "٣"
_INTEGER = re.compile(r"-?[0-9]+")

# Deeper JSON than any client sends is refused before it is parsed: the parser, and
# everything that walks a parsed value, recurse once per level.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(data: bytes) -> int:
    """How deeply ``data``'s arrays and objects nest (brackets inside strings aside)."""
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets), default=0)


def parse_json(data: bytes | str, what: str = "the body") -> Any:
    """``data`` as JSON, nested at most MAX_JSON_DEPTH deep; InvalidInput otherwise.
    NaN and Infinity are not JSON and are refused too."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidInput(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{what} is not valid JSON: {e}") from e


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def whole_number(raw: str, name: str) -> int:
    """A whole number written in ASCII digits (``int()`` also takes "٣")."""
    if not _INTEGER.fullmatch(raw) or len(raw) > 20:
        raise InvalidInput(f"{name} must be a whole number", field=name)
    return int(raw)


def media_type(content_type: str) -> str:
    """``application/json`` from ``Application/JSON; charset=utf-8``."""
    return content_type.split(";")[0].strip().lower()


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def single_values(arguments: Mapping[str, list[bytes]], what: str) -> dict[str, str]:
    """Form or query arguments as one string each; a repeated name is an error."""
    out = {}
    for name, values in arguments.items():
        if len(values) != 1:
            raise InvalidInput(f"{what} {name!r} is given more than once", field=name)
        try:
            out[name] = values[0].decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidInput(f"{what} {name!r} is not UTF-8", field=name) from e
    return out


def text(
    fields: Mapping[str, Any],
    name: str,
    *,
    min_length: int = 0,
    max_length: int,
    pattern: re.Pattern[str] | None = None,
    pattern_help: str = "",
    strip: bool = False,
) -> str:
    """The string field ``name``; 400 naming it when missing, of another type or out
    of bounds."""
    if name not in fields:
        raise InvalidInput(f"{name} is required", field=name)
    value = fields[name]
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    valid_unicode(value, name)
    if strip:
        value = value.strip()
    if len(value) < min_length:
        if min_length == 1:
            raise InvalidInput(f"{name} must not be empty", field=name)
        raise InvalidInput(f"{name} must be at least {min_length} characters", field=name)
    if len(value) > max_length:
        raise InvalidInput(f"{name} must be at most {max_length} characters", field=name)
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidInput(f"{name} {pattern_help}", field=name)
    return value


def optional_text(fields: Mapping[str, Any], name: str, **rules: Any) -> str | None:
    """``text()``, or None when the field is absent."""
    return text(fields, name, **rules) if name in fields else None


def valid_unicode(value: str, name: str) -> str:
    """``value`` when it can be stored; 400 for a lone surrogate (a JSON ``\\ud800``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInput(f"{name} is not valid Unicode text", field=name) from e
    return value


def printable_name(name: str) -> str:
    """A field name as it can be shown back, lone surrogates escaped."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def reject_unknown(
    fields: Iterable[str],
    allowed: Iterable[str],
    what: str = "field",
    message: str = "unknown {what} {name!r}",
) -> None:
    """400 naming the first of ``fields`` the route does not take; ``message`` is
    formatted with ``what`` and the field's ``name``."""
    allowed = set(allowed)
    for name in fields:
        if name not in allowed:
            shown = printable_name(name)
            raise InvalidInput(message.format(what=what, name=shown), field=shown)


def bounded_int(
    fields: Mapping[str, str],
    name: str,
    *,
    low: int,
    high: int,
    default: int | None = None,
    empty_is_absent: bool = False,
) -> int | None:
    """A whole number in ASCII digits from ``low`` to ``high``; ``default`` when absent
    (and, with ``empty_is_absent``, when empty, as some clients write "none")."""
    raw = fields.get(name)
    if raw is None or (raw == "" and empty_is_absent):
        return default
    if not _DIGITS.fullmatch(raw) or len(raw) > len(str(high)) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)


def boolean(fields: Mapping[str, str], name: str) -> bool | None:
    """``true`` or ``false`` in a query string; None when absent."""
    raw = fields.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false", field=name)
    return raw == "true"


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The ``Idempotency-Key`` header of a POST, checked; None when absent."""
    key = headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 visible ASCII characters", field="Idempotency-Key"
        )
    return key
