"""The ``login_failures`` collection: failed logins per account, shared by every process."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow


class LoginFailures:
    def __init__(self, collection: AsyncCollection, window_seconds: float):
        self.collection = collection
        self.window = timedelta(seconds=window_seconds)

    async def create_indexes(self) -> None:
        await self.collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self.collection.create_index([("account", ASCENDING), ("at", DESCENDING)])

    async def locked_until(self, account: str, limit: int) -> datetime | None:
        """When ``account`` has ``limit`` failures within the window, the time the
        oldest of them leaves it; else None."""
        since = utcnow() - self.window
        cursor = (
            self.collection.find({"account": account, "at": {"$gt": since}}, {"at": 1})
            .sort("at", DESCENDING)
            .limit(limit)
        )
        recent = [doc["at"] async for doc in cursor]
        if len(recent) < limit:
            return None
        return recent[-1] + self.window

    async def record(self, account: str) -> None:
        now = utcnow()
        await self.collection.insert_one(
            {"account": account, "at": now, "expires_at": now + self.window}
        )

    async def clear(self, account: str) -> None:
        await self.collection.delete_many({"account": account})
