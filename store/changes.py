"""The ``changes`` collection: every change to a task, numbered per owner.

Task writes record their change in the same transaction, so a change is stored if
and only if the task write is. Each owner's ``seq`` runs 1, 2, 3… without gaps: a
live client that saw ``seq`` n asks for what came after, and a gap before the oldest
change still kept means it must fetch the whole list again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact, read_again_on_gap

CHANGE_TYPES = ("task.created", "task.updated", "task.deleted")


class Changes:
    def __init__(
        self, collection: AsyncCollection, counters: AsyncCollection, retention_seconds: float
    ):
        self.collection = collection
        self.counters = counters  # one document per owner: {_id: owner, seq: last seq}
        # owners are user ids as strings (see store/users.py)
        self.retention = timedelta(seconds=retention_seconds)

    async def create_indexes(self) -> None:
        await self.collection.create_index([("owner", ASCENDING), ("seq", ASCENDING)], unique=True)
        # expires_at: indexed, and expired changes removed, by the Store
        # (Store.create_indexes; store/compat.py: expiry_index)

    async def record(
        self, owner: str, kind: str, task: dict[str, Any], session: AsyncClientSession
    ) -> int:
        """Stores one change within ``session``'s transaction; returns its seq.

        ``task`` is the task as the store returns it (without its owner).
        """
        if kind not in CHANGE_TYPES:
            raise ValueError(f"unknown change type {kind!r}")
        counter = await self.counters.find_one_and_update(
            exact({"_id": owner}),
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        assert counter is not None  # an upsert returning AFTER always has a document
        seq = int(counter["seq"])
        doc = change_document(owner, seq, kind, task, utcnow(), self.retention)
        await self.collection.insert_one(doc, session=session)
        return seq

    async def last_seq(self, owner: str) -> int:
        counter = await self.counters.find_one(exact({"_id": owner}))
        return int(counter["seq"]) if counter else 0

    async def since(self, owner: str, seq: int, limit: int = 1000) -> list[dict[str, Any]] | None:
        """The owner's changes after ``seq``, oldest first; None when some of them are
        no longer kept (or more than ``limit`` are missing), so the client must resync."""
        return await read_again_on_gap(lambda: self._since(owner, seq, limit))

    async def _since(self, owner: str, seq: int, limit: int) -> list[dict[str, Any]] | None:
        # The last seq first: a change committed between the two reads is then one
        # more found, left to the live stream, rather than one "missing" (a resync).
        last = await self.last_seq(owner)
        cursor = (
            self.collection.find(exact({"owner": owner, "seq": {"$gt": seq, "$lte": last}}))
            .sort("seq", ASCENDING)
            .limit(limit + 1)
        )
        found = [change(doc) async for doc in cursor]
        if len(found) > limit:
            return None
        expected = list(range(seq + 1, last + 1))
        if [c["seq"] for c in found][: len(expected)] != expected:
            return None
        return found

    async def page_after(
        self, owner: str, seq: int, limit: int
    ) -> tuple[list[dict[str, Any]], int, bool] | None:
        """Up to ``limit`` of the owner's changes after ``seq``, oldest first, the
        owner's last seq, and whether more follow; None when the ones right after
        ``seq`` are no longer kept (or ``seq`` is beyond the last), so the client
        must resync. Two round trips, whatever the page size."""
        return await read_again_on_gap(lambda: self._page_after(owner, seq, limit))

    async def _page_after(
        self, owner: str, seq: int, limit: int
    ) -> tuple[list[dict[str, Any]], int, bool] | None:
        last = await self.last_seq(owner)  # first, as in since()
        cursor = (
            self.collection.find(exact({"owner": owner, "seq": {"$gt": seq}}))
            .sort("seq", ASCENDING)
            .limit(limit + 1)
            .batch_size(limit + 1)
        )
        found = [change(doc) async for doc in cursor]
        if seq > last or (seq < last and (not found or found[0]["seq"] != seq + 1)):
            return None
        return found[:limit], last, len(found) > limit


def change_document(
    owner: str, seq: int, kind: str, task: dict[str, Any], now: datetime, retention: timedelta
) -> dict[str, Any]:
    """A change as it is stored: kept for ``retention``."""
    return {
        "owner": owner,
        "seq": seq,
        "type": kind,
        "task": task,
        "at": now,
        "expires_at": now + retention,
    }


def change(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored change as plain values, seq as an integer."""
    return {
        "owner": doc["owner"],
        "seq": int(doc["seq"]),
        "type": doc["type"],
        "task": doc["task"],
        "at": doc["at"],
    }
