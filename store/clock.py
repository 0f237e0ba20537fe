"""The store's notion of now."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, at the millisecond precision MongoDB stores, so that a value
    returned at creation equals the same value read back later."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
