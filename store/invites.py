"""The ``invites`` collection: one-time (or few-time) codes that open registration
when it is set to ``invite``. Codes are kept only as digests, like login tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact
from .tokens import new_token, token_digest


@dataclass(frozen=True)
class Invite:
    digest: str
    uses_left: int
    expires_at: datetime
    created_at: datetime


def _invite(doc: dict) -> Invite:
    return Invite(
        digest=doc["_id"],
        uses_left=int(doc["uses_left"]),
        expires_at=doc["expires_at"],
        created_at=doc["created_at"],
    )


class Invites:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.collection.create_index([("created_at", ASCENDING)])

    async def create(self, uses: int, ttl_seconds: float) -> tuple[str, Invite]:
        """A new code (shown once) good for ``uses`` registrations within ``ttl_seconds``."""
        code = new_token()
        now = utcnow()
        doc = {
            "_id": token_digest(code),
            "uses_left": uses,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        await self.collection.insert_one(doc)
        return code, _invite(doc)

    async def redeem(self, code: str) -> bool:
        """Takes one use of ``code``; False when it is unknown, used up or expired."""
        doc = await self.collection.find_one_and_update(
            exact({"_id": token_digest(code)})
            | {"uses_left": {"$gt": 0}, "expires_at": {"$gt": utcnow()}},
            {"$inc": {"uses_left": -1}},
            return_document=ReturnDocument.AFTER,
        )
        return doc is not None

    async def give_back(self, code: str) -> None:
        """Returns a use taken by ``redeem`` when the registration failed after all."""
        await self.collection.update_one(
            exact({"_id": token_digest(code)}), {"$inc": {"uses_left": 1}}
        )

    async def all(self) -> list[Invite]:
        cursor = self.collection.find({}).sort("created_at", ASCENDING)
        return [_invite(doc) async for doc in cursor]
