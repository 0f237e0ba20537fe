"""The ``todos_urls`` collection: each user's Todo-Backend capability.

Todo-Backend clients send no cookies or headers, so a user's todos live at a URL
holding a long random capability. Unlike a login token it is kept as it is: the
owner is shown it again (``GET /api/me``) for as long as it lasts, and it can reach
nothing but that owner's tasks. Replacing it makes the old URL answer 404.
"""

from __future__ import annotations

import secrets

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact, insert_or_get


def new_capability() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class TodosUrls:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection  # one document per owner: {_id: owner, capability}

    async def create_indexes(self) -> None:
        await self.collection.create_index([("capability", ASCENDING)], unique=True)

    async def capability(self, owner: str) -> str:
        """The owner's capability, made on first use."""
        doc = await insert_or_get(
            self.collection,
            {"_id": owner, "capability": new_capability(), "created_at": utcnow()},
        )
        return doc["capability"]

    async def replace(self, owner: str) -> str:
        """A new capability for the owner; the old one stops working."""
        capability = new_capability()
        await self.collection.update_one(
            exact({"_id": owner}),
            {"$set": {"capability": capability, "created_at": utcnow()}},
            upsert=True,
        )
        return capability

    async def owner(self, capability: str) -> str | None:
        doc = await self.collection.find_one(exact({"capability": capability}), {"_id": 1})
        return doc["_id"] if doc else None
