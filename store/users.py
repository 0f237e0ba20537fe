"""The ``users`` collection: accounts, found by username or by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .errors import Conflict
from .types import typed, utcnow


# Other collections refer to a user by this id as a string, never as an ObjectId:
# the embedded server does not match ObjectId values in fields other than _id.


@dataclass(frozen=True)
class User:
    id: str
    username: str
    created_at: datetime
    password_hash: str | None  # None for accounts that log in by mini-program code


_SCHEMA = {"username": str}


def username_key(username: str) -> str:
    """Usernames are unique regardless of case: "Alice" and "alice" are one account."""
    return username.casefold()


def _user(doc: dict[str, Any]) -> User:
    doc = typed(doc, _SCHEMA)
    return User(
        id=str(doc["_id"]),
        username=doc["username"],
        created_at=doc["created_at"],
        password_hash=doc.get("password_hash"),
    )


class Users:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.collection.create_index([("username_key", ASCENDING)], unique=True)

    async def create(self, username: str, password_hash: str | None, **extra: Any) -> User:
        doc = {
            "username": username,
            "username_key": username_key(username),
            "password_hash": password_hash,
            "created_at": utcnow(),
            **extra,
        }
        try:
            result = await self.collection.insert_one(doc)
        except DuplicateKeyError as e:
            raise Conflict(f"username {username!r} is taken") from e
        return _user({**doc, "_id": result.inserted_id})

    async def by_username(self, username: str) -> User | None:
        doc = await self.collection.find_one({"username_key": username_key(username)})
        return _user(doc) if doc else None

    async def by_id(self, user_id: str) -> User | None:
        try:
            oid = ObjectId(user_id)
        except (InvalidId, TypeError):
            return None
        doc = await self.collection.find_one({"_id": oid})
        return _user(doc) if doc else None

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.collection.update_one(
            {"_id": ObjectId(user_id)}, {"$set": {"password_hash": password_hash}}
        )
