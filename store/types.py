"""Declared field types, applied to every document read from MongoDB.

Some servers speaking the MongoDB protocol hand back a boolean written with
``$set`` as 1/0; converting here, in one place, keeps handlers honest.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

# Only scalar kinds whose stored form may drift; others pass through untouched.
_CONVERTERS = {bool: bool, int: int, float: float}


def typed(doc: Mapping[str, Any], schema: Mapping[str, type]) -> dict[str, Any]:
    """A copy of ``doc`` whose fields named in ``schema`` have their declared type.

    Missing fields and None stay as they are; fields not in the schema pass through.
    """
    out = dict(doc)
    for field, kind in schema.items():
        value = out.get(field)
        convert = _CONVERTERS.get(kind)
        if value is not None and convert is not None and type(value) is not kind:
            out[field] = convert(value)
    return out


def utcnow() -> datetime:
    """Now, in UTC, at the millisecond precision MongoDB stores, so that a value
    returned at creation equals the same value read back later."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
