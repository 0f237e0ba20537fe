"""The ``users`` collection: accounts, found by username or by id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .clock import utcnow
from .compat import exact, typed
from .errors import Conflict

# Other collections refer to a user by this id as a string, never as an ObjectId:
# the embedded server does not match ObjectId values in fields other than _id.


@dataclass(frozen=True)
class User:
    id: str
    username: str
    created_at: datetime
    password_hash: str | None  # None for accounts that log in by mini-program code
    admin: bool = False  # may read every user's scores; set by `taskhub user admin`


# The time of the account's latest failed login, in milliseconds (store/compat.py:
# stored_time), written by store/login_failures.py; absent when it never had one.
LAST_FAILED_LOGIN = "last_failed_login_ms"

# "admin" is absent unless an operator turned it on; a boolean written with $set may
# come back as 1/0 (store/compat.py: typed)
_SCHEMA = {"username": str, "admin": bool}


def username_key(username: str) -> str:
    """Usernames are unique regardless of case: "Alice" and "alice" are one account."""
    return username.casefold()


# Mini-program accounts are found by the platform's openid (or unionid) in
# "<platform>_openid" / "<platform>_unionid", and named "<prefix>_<hash of the openid>"
# because every account needs a unique username.
MINIPROGRAM_PREFIXES = {"wechat": "wx", "toutiao": "tt"}


def miniprogram_username(platform: str, openid: str, attempt: int = 0) -> str:
    """A stable name for a mini-program user; longer on each retry after a clash."""
    digest = hashlib.sha256(f"{platform}:{openid}".encode()).hexdigest()
    return f"{MINIPROGRAM_PREFIXES[platform]}_{digest[: 10 + 4 * attempt]}"


def _user(doc: dict[str, Any]) -> User:
    doc = typed(doc, _SCHEMA)
    return User(
        id=str(doc["_id"]),
        username=doc["username"],
        created_at=doc["created_at"],
        password_hash=doc.get("password_hash"),
        admin=doc.get("admin", False),
    )


class Users:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def create_indexes(self) -> None:
        await self.collection.create_index([("username_key", ASCENDING)], unique=True)
        for platform in MINIPROGRAM_PREFIXES:
            # sparse: accounts of the other kinds have no such field
            await self.collection.create_index(
                [(f"{platform}_openid", ASCENDING)], unique=True, sparse=True
            )
            await self.collection.create_index([(f"{platform}_unionid", ASCENDING)], sparse=True)

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
        doc = await self.collection.find_one(exact({"username_key": username_key(username)}))
        return _user(doc) if doc else None

    async def for_password_check(self, username: str) -> tuple[User | None, int | None]:
        """The account named ``username`` (None when there is none) and the time of
        its latest failed login (``LAST_FAILED_LOGIN``; None when never), in one read."""
        doc = await self.collection.find_one(exact({"username_key": username_key(username)}))
        if doc is None:
            return None, None
        last_failed = doc.get(LAST_FAILED_LOGIN)
        return _user(doc), None if last_failed is None else int(last_failed)

    async def by_id(self, user_id: str) -> User | None:
        try:
            oid = ObjectId(user_id)
        except (InvalidId, TypeError):
            return None
        doc = await self.collection.find_one(exact({"_id": oid}))
        return _user(doc) if doc else None

    async def delete(self, user_id: str) -> bool:
        try:
            oid = ObjectId(user_id)
        except (InvalidId, TypeError):
            return False
        result = await self.collection.delete_one(exact({"_id": oid}))
        return result.deleted_count == 1

    async def username_of(self, user_id: str) -> str | None:
        user = await self.by_id(user_id)
        return user.username if user else None

    async def for_miniprogram(self, platform: str, openid: str, unionid: str | None = None) -> User:
        """The account of a mini-program user, created on first login.

        Found by openid, else by unionid (the same person under another appid of
        the same developer account); the unionid is kept when given.
        """
        openid_field, unionid_field = f"{platform}_openid", f"{platform}_unionid"
        for attempt in range(5):
            doc = await self.collection.find_one(exact({openid_field: openid}))
            if doc is None and unionid:
                doc = await self.collection.find_one(exact({unionid_field: unionid}))
            if doc is not None:
                changes = {openid_field: openid}
                if unionid:
                    changes[unionid_field] = unionid
                if any(doc.get(k) != v for k, v in changes.items()):
                    try:
                        await self.collection.update_one(
                            exact({"_id": doc["_id"]}), {"$set": changes}
                        )
                    except DuplicateKeyError:
                        continue  # this openid was just given its own account: use that
                return _user(doc)
            identity = {openid_field: openid, **({unionid_field: unionid} if unionid else {})}
            try:
                return await self.create(
                    miniprogram_username(platform, openid, attempt), None, **identity
                )
            except Conflict:
                # a concurrent first login created it, or the name is taken: look again
                continue
        raise Conflict(f"no account could be created for this {platform} user")

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.collection.update_one(
            exact({"_id": ObjectId(user_id)}), {"$set": {"password_hash": password_hash}}
        )

    async def set_admin(self, username: str, admin: bool) -> User | None:
        """Turns the account's admin flag on or off; the account as it is now, or
        None when there is none by that name. Off removes the field, so that "not an
        admin" has one stored form: no field."""
        change = {"$set": {"admin": True}} if admin else {"$unset": {"admin": ""}}
        doc = await self.collection.find_one_and_update(
            exact({"username_key": username_key(username)}),
            change,
            return_document=ReturnDocument.AFTER,
        )
        return _user(doc) if doc else None

    async def all(self) -> list[User]:
        """Every account, oldest first (an operator's listing, not a request's)."""
        cursor = self.collection.find({}).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [_user(doc) async for doc in cursor]
