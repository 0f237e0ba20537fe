"""Hooks for tests/test_openapi.py's schemathesis run, loaded by tests/schemathesis.toml:
what the generated requests need that the OpenAPI document cannot say."""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis

from handlers.tasks import WHITESPACE

_clients = itertools.count(1)


@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    """Leaves out bodies whose labels are the same once trimmed ("a" and "a "): the
    server refuses them (400), but JSON Schema's uniqueItems compares them untrimmed."""
    labels = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return True
    trimmed = [label.strip(WHITESPACE) for label in labels]
    return len(set(trimmed)) == len(trimmed)


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    """Each request from a client address of its own, as nginx passes it on in
    X-Real-IP (the server runs with --xheaders): the per-address limits (20 scores a
    minute, 30 password checks) would otherwise answer most requests 429, and leave
    the rules behind them untested."""
    n = next(_clients)
    case.headers = {
        **(case.headers or {}),
        "X-Real-IP": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
    }
    return case
