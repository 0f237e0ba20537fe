"""The ``login_failures`` collection: failed logins per account and client address,
shared by every process. (The scoring form's flood control counts submissions the same
way, with the client address as the "account".)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact, stored_time, time_from_stored
from .users import LAST_FAILED_LOGIN


@dataclass(frozen=True)
class RecentFailures:
    """An account's latest failures within the window, newest first: when each was,
    and from which client address (None for those recorded without one)."""

    failures: list[tuple[datetime, str | None]]
    window: timedelta

    def locked_until(self, limit: int, *, address: str | None = None) -> datetime | None:
        """When there are ``limit`` of them (from ``address`` alone, when given), the
        time the oldest of those leaves the window; else None."""
        times = [at for at, came_from in self.failures if address is None or came_from == address]
        if len(times) < limit:
            return None
        return times[limit - 1] + self.window

    def any_from(self, address: str) -> bool:
        return any(came_from == address for _, came_from in self.failures)


class LoginFailures:
    def __init__(
        self,
        collection: AsyncCollection,
        window_seconds: float,
        *,
        accounts: AsyncCollection | None = None,
    ):
        """``accounts``, when given, is the collection of the accounts counted (users,
        whose ``username_key`` is the account): each failure also writes the time of
        the account's latest failure into its document (``LAST_FAILED_LOGIN``), so
        that a login, which reads the account anyway, reads the failures only when
        that time is within the window (``may_have_recent``)."""
        self.collection = collection
        self.window = timedelta(seconds=window_seconds)
        self.accounts = accounts

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

    def may_have_recent(self, last_failed_ms: int | None) -> bool:
        """Whether an account whose document says its latest failure was at
        ``last_failed_ms`` (``LAST_FAILED_LOGIN``; None: never) may have failures
        within the window. When not, it has none: ``record`` writes that time before
        it stores the failure."""
        return last_failed_ms is not None and time_from_stored(last_failed_ms) > (
            utcnow() - self.window
        )

    async def recent(self, account: str, limit: int) -> RecentFailures:
        """The account's latest ``limit`` failures within the window, from every
        address, in one query (the index on account, at). They settle both kinds of
        lockout at once for limits up to ``limit``: an address whose own latest
        failures are not all among them has older ones, and while the account has
        ``limit`` failures it is locked for everyone until after those leave."""
        since = utcnow() - self.window
        cursor = (
            self.collection.find(
                exact({"account": account, "at": {"$gt": since}}), {"at": 1, "address": 1}
            )
            .sort("at", DESCENDING)
            .limit(limit)
        )
        failures = [(doc["at"], doc.get("address")) async for doc in cursor]
        return RecentFailures(failures, self.window)

    async def carry_over(self, account: str) -> None:
        """Marks the new account ``account`` with the time of its name's latest
        failure within the window, if any: failures recorded while no account had
        the name (``record`` had no document to mark) count against it as ever."""
        if self.accounts is None:
            return
        since = utcnow() - self.window
        latest = await self.collection.find_one(
            exact({"account": account, "at": {"$gt": since}}), {"at": 1}, sort=[("at", DESCENDING)]
        )
        if latest is not None:
            await self._mark(account, latest["at"])

    async def _mark(self, account: str, at: datetime) -> None:
        assert self.accounts is not None
        # milliseconds (store/compat.py: stored_time): a datetime written with $set
        # comes back as text from the embedded server
        await self.accounts.update_one(
            exact({"username_key": account}), {"$set": {LAST_FAILED_LOGIN: stored_time(at)}}
        )

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
        if self.accounts is not None:
            # the mark first, then the failure: a login that reads the account after
            # the failure is stored finds the mark, and so reads the failures
            await self._mark(account, now)
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
