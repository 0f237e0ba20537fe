"""The ``tokens`` collection: logins, kept only as digests of their tokens.

A login carries the user's id and name, so that authenticating a request is a
single lookup and never needs the ``users`` collection.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact
from .users import User


@dataclass(frozen=True)
class Login:
    """Who a token logs in, until when; ``digest`` names the login (never the token)."""

    digest: str
    user_id: str
    username: str
    expires_at: datetime


def new_token() -> str:
    """An opaque token of 256 random bits."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def create_indexes(self) -> None:
        # expires_at: indexed, and expired logins removed, by the Store (a TTL index
        # on a replica set: Store.create_indexes, store/compat.py: expiry_index);
        # lookups check expiry too, because removal runs only once a minute.
        await self.collection.create_index([("user_id", ASCENDING)])

    async def issue(self, user: User, ttl_seconds: float) -> tuple[str, Login]:
        token = new_token()
        now = utcnow()
        login = Login(
            digest=token_digest(token),
            user_id=user.id,
            username=user.username,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        await self.collection.insert_one(
            {
                "_id": login.digest,
                "user_id": user.id,
                "username": user.username,
                "created_at": now,
                "expires_at": login.expires_at,
            }
        )
        return token, login

    async def lookup(self, token: str) -> Login | None:
        doc = await self.collection.find_one(
            exact({"_id": token_digest(token), "expires_at": {"$gt": utcnow()}})
        )
        if doc is None:
            return None
        return login_from(doc)

    async def revoke(self, digest: str) -> None:
        await self.collection.delete_one(exact({"_id": digest}))


def login_from(doc: Mapping[str, Any]) -> Login:
    """The login a stored token document stands for."""
    return Login(
        digest=doc["_id"],
        user_id=doc["user_id"],
        username=doc["username"],
        expires_at=doc["expires_at"],
    )
