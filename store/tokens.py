"""The ``tokens`` collection: logins, kept only as digests of their tokens.

A login carries the user's id and name, so that authenticating a request is a
single lookup and never needs the ``users`` collection.

The digest is the document's ``_id``, the database's key, and stays private: an
owner's list of logins names each by ``login_id``, a random public id given at issue
time. Tokens issued before there were login ids are named by ``legacy_login_id``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact, stored_time, time_from_stored
from .login_cache import EndedLogins, Following, LoginCache
from .users import User


@dataclass(frozen=True)
class Login:
    """Who a token logs in, until when; ``digest`` names the login (never the token)."""

    digest: str
    user_id: str
    username: str
    expires_at: datetime


# A login's last use is written at most this often (seconds): a request that
# authenticates within it costs no write.
LAST_USED_RESOLUTION = 60


@dataclass(frozen=True)
class LoginDetails:
    """One login as its owner's list shows it; ``digest`` only to tell the current one."""

    login_id: str
    digest: str
    created_at: datetime
    last_used_at: datetime | None
    client: str | None
    user_agent: str | None


def new_login_id() -> str:
    """A login's public id: 128 random bits, 22 characters (never 16, as
    ``legacy_login_id`` is)."""
    return secrets.token_urlsafe(16)


LEGACY_LOGIN_ID = re.compile(r"[0-9a-f]{16}")


def legacy_login_id(digest: str) -> str:
    """The public id of a login stored without one (issued before login ids):
    derived from, and not revealing, its digest."""
    return hashlib.sha256(f"login-id\0{digest}".encode()).hexdigest()[:16]


def new_token() -> str:
    """An opaque token of 256 random bits."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection
        # recent logins, remembered while the stream of ended logins is followed
        self.cache: LoginCache[Login] = LoginCache()
        self.ended = EndedLogins(collection)
        self.ended.listen(self.cache.end)
        self.ended.on_lost.append(self.cache.clear)
        self.following = Following(self.ended)

    async def create_indexes(self) -> None:
        # expires_at: indexed, and expired logins removed, by the Store (a TTL index
        # on a replica set: Store.create_indexes, store/compat.py: expiry_index);
        # lookups check expiry too, because removal runs only once a minute.
        await self.collection.create_index([("user_id", ASCENDING)])

    async def issue(
        self, user: User, ttl_seconds: float, *, client: str = "", user_agent: str = ""
    ) -> tuple[str, Login]:
        """A new login: its token, shown once; ``client`` (the address it came from)
        and ``user_agent`` are kept for its owner's list."""
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
                "login_id": new_login_id(),
                "client": client,
                "user_agent": user_agent,
                "created_at": now,
                "last_used_ms": stored_time(now),
                "expires_at": login.expires_at,
            }
        )
        return token, login

    async def lookup(self, token: str) -> Login | None:
        """The live login ``token`` stands for, its last use recorded (at most once
        per LAST_USED_RESOLUTION). A login this process looked up lately is answered
        from its memory (store/login_cache.py) with no round trip, but for recording
        its use once per LAST_USED_RESOLUTION; otherwise the lookup is the only one."""
        digest = token_digest(token)
        now = utcnow()
        now_ms = stored_time(now)
        remembered = self.cache.get(digest) if self.ended.following else None
        if remembered is not None and remembered.login.expires_at > now:
            last_used = remembered.last_used_ms
            if self._due(last_used, now_ms):
                remembered.last_used_ms = now_ms  # concurrent requests: one writes
                await self._touch(digest, last_used, now_ms)
            return remembered.login
        following = await self.following.ensure()
        since = self.cache.generation
        doc = await self.collection.find_one(exact({"_id": digest, "expires_at": {"$gt": now}}))
        if doc is None:
            return None
        last_used = doc.get("last_used_ms")
        if self._due(last_used, now_ms):
            await self._touch(digest, last_used, now_ms)
            last_used = now_ms
        login = login_from(doc)
        if following and self.ended.following:
            self.cache.put(login, last_used, since)
        return login

    @staticmethod
    def _due(last_used: int | None, now_ms: int) -> bool:
        """Whether a use at ``now_ms`` is to be written, the last being ``last_used``."""
        return last_used is None or last_used <= now_ms - LAST_USED_RESOLUTION * 1000

    async def _touch(self, digest: str, last_used: int | None, now_ms: int) -> None:
        # conditional, so that of concurrent requests (of every process) one writes;
        # a login stored before last uses were recorded has none
        cutoff = now_ms - LAST_USED_RESOLUTION * 1000
        recorded = {"$exists": False} if last_used is None else {"$lte": cutoff}
        await self.collection.update_one(
            exact({"_id": digest, "last_used_ms": recorded}),
            {"$set": {"last_used_ms": now_ms}},
        )

    async def revoke(self, digest: str) -> None:
        await self.collection.delete_one(exact({"_id": digest}))
        self.cache.end(digest)  # other processes hear of it through the stream

    async def of_user(self, user_id: str) -> list[LoginDetails]:
        """The user's live logins, newest first."""
        cursor = self.collection.find(exact({"user_id": user_id, "expires_at": {"$gt": utcnow()}}))
        found = [details_from(doc) async for doc in cursor]
        found.sort(key=lambda login: login.created_at, reverse=True)
        return found

    async def revoke_by_id(self, user_id: str, login_id: str) -> bool:
        """Ends the login of ``user_id`` named ``login_id``; whether there was one."""
        result = await self.collection.delete_one(exact({"user_id": user_id, "login_id": login_id}))
        # which of the user's logins it was is not read back: all are forgotten here
        self.cache.end_user(user_id)
        if result.deleted_count:
            return True
        if not LEGACY_LOGIN_ID.fullmatch(login_id):
            return False
        # a login from before login ids: named by its digest's legacy id
        cursor = self.collection.find(
            exact({"user_id": user_id, "login_id": {"$exists": False}}), {"_id": 1}
        )
        async for doc in cursor:
            if legacy_login_id(doc["_id"]) == login_id:
                deleted = await self.collection.delete_one(
                    exact({"_id": doc["_id"], "user_id": user_id})
                )
                self.cache.end(doc["_id"])
                return deleted.deleted_count == 1
        return False

    async def revoke_all_but(self, user_id: str, digest: str | None) -> int:
        """Ends every login of ``user_id`` but the one ``digest`` names (every one
        when None); how many."""
        match: dict[str, Any] = {"user_id": user_id}
        if digest is not None:
            match["_id"] = {"$ne": digest}
        result = await self.collection.delete_many(exact(match))
        self.cache.end_user(user_id, keep=digest)
        return result.deleted_count


def login_from(doc: Mapping[str, Any]) -> Login:
    """The login a stored token document stands for."""
    return Login(
        digest=doc["_id"],
        user_id=doc["user_id"],
        username=doc["username"],
        expires_at=doc["expires_at"],
    )


def details_from(doc: Mapping[str, Any]) -> LoginDetails:
    """A stored token document as its owner's list shows it."""
    last_used = doc.get("last_used_ms")
    return LoginDetails(
        login_id=doc.get("login_id") or legacy_login_id(doc["_id"]),
        digest=doc["_id"],
        created_at=doc["created_at"],
        last_used_at=time_from_stored(int(last_used)) if last_used is not None else None,
        client=doc.get("client") or None,
        user_agent=doc.get("user_agent") or None,
    )
