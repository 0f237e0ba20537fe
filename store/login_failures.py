"""The ``login_failures`` collection: failed logins per account and client address,
shared by every process. (The scoring form's flood control counts submissions the same
way, with the client address as the "account".)"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact


class LoginFailures:
    def __init__(self, collection: AsyncCollection, window_seconds: float):
        self.collection = collection
        self.window = timedelta(seconds=window_seconds)

    async def create_indexes(self) -> None:
        # expires_at: indexed, and old failures removed, by the Store
        # (Store.create_indexes; store/compat.py: expiry_index)
        await self.collection.create_index([("account", ASCENDING), ("at", DESCENDING)])
        await self.collection.create_index(
            [("account", ASCENDING), ("address", ASCENDING), ("at", DESCENDING)]
        )

    async def locked_until(
        self, account: str, limit: int, *, address: str | None = None
    ) -> datetime | None:
        """When ``account`` has ``limit`` failures within the window (from ``address``
        alone, when given), the time the oldest of them leaves it; else None."""
        since = utcnow() - self.window
        match = {"account": account, "at": {"$gt": since}}
        if address is not None:
            match["address"] = address
        cursor = self.collection.find(exact(match), {"at": 1}).sort("at", DESCENDING).limit(limit)
        recent = [doc["at"] async for doc in cursor]
        if len(recent) < limit:
            return None
        return recent[-1] + self.window

    async def recent_by_account(self) -> dict[str, list[str | None]]:
        """The failures within the window, by account: the client address of each
        (None for those recorded without one)."""
        since = utcnow() - self.window
        cursor = self.collection.find({"at": {"$gt": since}}, {"account": 1, "address": 1})
        found: dict[str, list[str | None]] = {}
        async for doc in cursor:
            found.setdefault(doc["account"], []).append(doc.get("address"))
        return found

    async def record(self, account: str, *, address: str | None = None) -> None:
        now = utcnow()
        doc = {"account": account, "at": now, "expires_at": now + self.window}
        if address is not None:
            doc["address"] = address
        await self.collection.insert_one(doc)

    async def clear(self, account: str, *, address: str | None = None) -> int:
        """Forgets the account's failures (from ``address`` alone, when given); how many."""
        match = (
            {"account": account} if address is None else {"account": account, "address": address}
        )
        result = await self.collection.delete_many(exact(match))
        return result.deleted_count
