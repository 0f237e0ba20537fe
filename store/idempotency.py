"""The ``idempotency_keys`` collection: the first answer to a POST sent with an
``Idempotency-Key``, so that a retry gets that answer instead of a second write.

A key is claimed inside the transaction of the write it protects: the write and its
key are stored together or not at all, and of two concurrent requests with one key
exactly one claims it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .clock import utcnow
from .compat import exact


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
