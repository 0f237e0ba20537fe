"""The ``todos_urls`` collection: Todo-Backend capabilities, one per (list, user).

Todo-Backend clients send no cookies or headers, so a list's todos live at a URL
holding a long random capability. Unlike a login token it is kept as it is: its user
is shown it again (``GET /api/me`` for the default list, ``GET /api/lists/{id}``
for any) for as long as it lasts, and it reaches nothing but that list, and only
while its user may edit it. Replacing it makes the old URL answer 404.

A user's default list has the user's id, and its capability is keyed by that id
alone, as it was before there were lists; any other list's by "<list>:<user>".
"""

from __future__ import annotations

import secrets

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact, insert_or_get


def _key(user: str, list_id: str) -> str:
    return user if list_id == user else f"{list_id}:{user}"


def new_capability() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class TodosUrls:
    def __init__(self, collection: AsyncCollection):
        # one document per (list, user): {_id, user, list, capability, created_at}
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.collection.create_index([("capability", ASCENDING)], unique=True)
        await self.collection.create_index([("list", ASCENDING)])

    async def capability(self, user: str, list_id: str | None = None) -> str:
        """The user's capability for the list (by default their default list), made
        on first use."""
        list_id = list_id or user
        doc = await insert_or_get(
            self.collection,
            {
                "_id": _key(user, list_id),
                "user": user,
                "list": list_id,
                "capability": new_capability(),
                "created_at": utcnow(),
            },
        )
        return doc["capability"]

    async def replace(self, user: str, list_id: str | None = None) -> str:
        """A new capability for the user and list; the old one stops working."""
        list_id = list_id or user
        capability = new_capability()
        await self.collection.update_one(
            exact({"_id": _key(user, list_id)}),
            {
                "$set": {
                    "capability": capability,
                    "created_at": utcnow(),
                    "user": user,
                    "list": list_id,
                }
            },
            upsert=True,
        )
        return capability

    async def owner(self, capability: str) -> tuple[str, str] | None:
        """(user, list) the capability stands for."""
        doc = await self.collection.find_one(exact({"capability": capability}))
        if doc is None:
            return None
        # from before there were lists: keyed by the user, for their default list
        return doc.get("user", doc["_id"]), doc.get("list", doc["_id"])

    async def forget(self, user: str, list_id: str) -> None:
        """Ends the user's capability for the list (they may no longer edit it)."""
        await self.collection.delete_one(exact({"_id": _key(user, list_id)}))

    async def forget_user(self, user_id: str) -> None:
        await self.collection.delete_many(exact({"user": user_id}))
        await self.collection.delete_one(exact({"_id": user_id}))  # from before lists

    async def forget_list(self, list_id: str) -> None:
        await self.collection.delete_many(exact({"list": list_id}))
