"""The ``live_tickets`` collection: single-use tickets that open one live socket.

A browser page on another origin cannot send a header with a WebSocket upgrade, and
its cookies are not ours, so it trades its token for a ticket and passes that in the
URL. A ticket lives seconds, works once, and is kept only as a digest. It stands for
the login that asked for it: when that login ends, so do the sockets it opened.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact
from .tokens import Login, login_from, new_token, token_digest

TICKET_TTL_SECONDS = 30


class Tickets:
    def __init__(self, collection: AsyncCollection, tokens: AsyncCollection):
        self.collection = collection
        self.tokens = tokens  # read only: is the issuing login still alive?

    async def create_indexes(self) -> None:
        """expires_at is indexed, and unused tickets removed, by the Store (a TTL
        index on a replica set: Store.create_indexes, store/compat.py: expiry_index);
        redeem() checks expiry itself, because removal runs only once a minute."""

    async def issue(
        self, login: Login, ttl_seconds: float = TICKET_TTL_SECONDS
    ) -> tuple[str, datetime]:
        ticket = new_token()
        expires_at = utcnow() + timedelta(seconds=ttl_seconds)
        await self.collection.insert_one(
            {"_id": token_digest(ticket), "login": login.digest, "expires_at": expires_at}
        )
        return ticket, expires_at

    async def redeem(self, ticket: str) -> Login | None:
        """The login behind ``ticket``, once: the ticket is gone afterwards.
        None for an unknown, used or expired ticket, or one whose login ended."""
        now = utcnow()
        doc = await self.collection.find_one_and_delete(
            exact({"_id": token_digest(ticket), "expires_at": {"$gt": now}})
        )
        if doc is None:
            return None
        token = await self.tokens.find_one(exact({"_id": doc["login"], "expires_at": {"$gt": now}}))
        if token is None:
            return None
        return login_from(token)
