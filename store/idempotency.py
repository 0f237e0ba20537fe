"""The ``idempotency_keys`` collection: the first answer to a POST sent with an
``Idempotency-Key``, so that a retry gets that answer instead of a second write.

A key is claimed inside the transaction of the write it protects: the write and its
key are stored together or not at all, and of two concurrent requests with one key
exactly one claims it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .clock import utcnow
from .compat import exact

T = TypeVar("T")


class KeyTaken(Exception):
    """Another request claimed this key first."""


class IdempotencyKeyReused(Exception):
    """The key was used before with a different request."""


@dataclass(frozen=True)
class Claim:
    fingerprint: str  # digest of the request that claimed the key
    result: dict[str, Any]  # what that request produced


def _id(owner: str, key: str) -> str:
    # owners are user ids (hex), so the first ':' separates them from the key
    return f"{owner}:{key}"


class IdempotencyKeys:
    def __init__(self, collection: AsyncCollection, retention_seconds: float):
        self.collection = collection
        self.retention = timedelta(seconds=retention_seconds)

    async def create_indexes(self) -> None:
        """A key lives at least the retention time, then goes: expires_at is indexed,
        and expired keys removed, by the Store (a TTL index on a replica set:
        Store.create_indexes, store/compat.py: expiry_index)."""

    async def claim(
        self,
        owner: str,
        key: str,
        fingerprint: str,
        result: dict[str, Any],
        session: AsyncClientSession,
    ) -> None:
        """Stores ``result`` under ``key`` within ``session``'s transaction; KeyTaken if
        the key is already held (the transaction is then lost and must be abandoned)."""
        now = utcnow()
        try:
            await self.collection.insert_one(
                {
                    "_id": _id(owner, key),
                    "fingerprint": fingerprint,
                    "result": result,
                    "created_at": now,
                    "expires_at": now + self.retention,
                },
                session=session,
            )
        except DuplicateKeyError as e:
            raise KeyTaken(key) from e

    async def find(self, owner: str, key: str) -> Claim | None:
        doc = await self.collection.find_one(exact({"_id": _id(owner, key)}))
        if doc is None:
            return None
        return Claim(fingerprint=doc["fingerprint"], result=doc["result"])


async def once(
    keys: IdempotencyKeys,
    owner: str,
    key: str | None,
    fingerprint: str,
    write: Callable[[], Awaitable[T]],
    replayed: Callable[[dict[str, Any]], T],
) -> tuple[T, bool]:
    """``write()``'s result and True; or, when ``key`` was claimed by an earlier
    request with the same ``fingerprint``, that request's result (as ``replayed``
    makes it) and False. ``write`` claims the key in its transaction. Raises
    IdempotencyKeyReused for the key with another fingerprint."""
    if key is None:
        return await write(), True
    for _ in range(3):
        try:
            return await write(), True
        except KeyTaken:
            earlier = await keys.find(owner, key)
        if earlier is None:
            continue  # expired between the two steps: claim it afresh
        if earlier.fingerprint != fingerprint:
            raise IdempotencyKeyReused(key)
        return replayed(earlier.result), False
    raise KeyTaken(key)
