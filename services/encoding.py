"""The JSON form of domain values: times become strings here, at the edge (the store
hands ids out as strings already).

The encoder meets a time only where one is (its ``default`` hook), so a value is
encoded as it is, with no copy of it made first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def json_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(value: Any) -> Any:
    """``value`` with its times as the strings the JSON form holds."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return json_time(value)
    return value


def _time(value: Any) -> str:
    if isinstance(value, datetime):
        return json_time(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_time).encode
_encode_ascii = json.JSONEncoder(separators=(",", ":"), default=_time).encode


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``, non-ASCII kept as it is, always encodable as
    UTF-8: text holding a lone surrogate (which has no UTF-8 form) is written with
    ``\\u`` escapes instead."""
    text = _encode(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _encode_ascii(value)
    return text


def encode(value: Any) -> bytes:
    """``dumps(value)`` as UTF-8, encoded once: the body of a response."""
    text = _encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _encode_ascii(value).encode("ascii")
