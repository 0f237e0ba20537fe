"""The JSON form of domain values: times become strings here, at the edge (the store
hands ids out as strings already)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``, non-ASCII kept as it is, always encodable as
    UTF-8: text holding a lone surrogate (which has no UTF-8 form) is written with
    ``\\u`` escapes instead."""
    text = json.dumps(to_json(value), ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(to_json(value), separators=(",", ":"))
    return text
