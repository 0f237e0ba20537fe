"""The ``changes`` collection: every change a user is told of, numbered per user.

Writes record their changes in the same transaction, so a change is stored if and
only if the write is. Each user's ``seq`` runs 1, 2, 3… without gaps: a live client
that saw ``seq`` n asks for what came after, and a gap before the oldest change
still kept means it must fetch its lists again.

A write to a shared list records one change for each member, in that member's own
sequence ("owner" below is the member a change is for). The other way, one sequence
per list and a cursor per user over all of their lists, would make a user's
position a vector instead of one number: ``?since=`` and ``/api/changes`` would no
longer be a single ``seq``, and catching up would read every list's log. Recording
per member keeps every reader exactly as it is, and its cost is bounded: a write
costs the same three round trips (counters, their values, the changes) whatever the
number of members, stores one small document per member (at most
``max_members_per_list``), and nothing at all per connected socket.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact, read_again_on_gap

CHANGE_TYPES = (
    "task.created",
    "task.updated",
    "task.deleted",
    "list.created",
    "list.updated",
    "list.deleted",
    "list.added",  # to a member just added
    "list.removed",  # to a member just removed
    "member.added",
    "member.updated",
    "member.removed",
)
# What a change carries besides its type and seq: a task, a list, or a member of a list.
BODY_FIELDS = ("task", "list", "list_id", "member")

# (for whom, type, body): one change to record.
Entry = tuple[str, str, Mapping[str, Any]]


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
        """Stores one task change for ``owner`` within ``session``'s transaction; its seq.

        ``task`` is the task as the store returns it (without its owner).
        """
        (seq,) = await self.record_all([(owner, kind, {"task": task})], session)
        return seq

    async def record_all(self, entries: Sequence[Entry], session: AsyncClientSession) -> list[int]:
        """Stores the changes within ``session``'s transaction, each in the next seq of
        the user it is for, in the order given; their seqs. One user: two round trips;
        several: three, however many."""
        for _, kind, _ in entries:
            if kind not in CHANGE_TYPES:
                raise ValueError(f"unknown change type {kind!r}")
        if not entries:
            return []
        counts = Counter(owner for owner, _, _ in entries)
        if len(counts) == 1:
            ((owner, n),) = counts.items()
            counter = await self.counters.find_one_and_update(
                exact({"_id": owner}),
                {"$inc": {"seq": n}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            assert counter is not None  # an upsert returning AFTER always has a document
            last = {owner: int(counter["seq"]) - n}
        else:
            await self.counters.bulk_write(
                [
                    UpdateOne(exact({"_id": owner}), {"$inc": {"seq": n}}, upsert=True)
                    for owner, n in counts.items()
                ],
                ordered=False,
                session=session,
            )
            found = await self.counters.find(
                {"_id": {"$in": list(counts)}}, session=session
            ).to_list()
            last = {doc["_id"]: int(doc["seq"]) - counts[doc["_id"]] for doc in found}
        now = utcnow()
        docs = []
        for owner, kind, body in entries:
            last[owner] += 1
            docs.append(change_document(owner, last[owner], kind, body, now, self.retention))
        if len(docs) == 1:
            await self.collection.insert_one(docs[0], session=session)
        else:
            await self.collection.insert_many(docs, session=session)
        return [doc["seq"] for doc in docs]

    async def forget(self, owner: str) -> None:
        """Deletes the owner's change log and counter (their account is gone)."""
        await self.collection.delete_many(exact({"owner": owner}))
        await self.counters.delete_one(exact({"_id": owner}))

    async def last_seq(self, owner: str, session: AsyncClientSession | None = None) -> int:
        counter = await self.counters.find_one(exact({"_id": owner}), session=session)
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
    owner: str,
    seq: int,
    kind: str,
    body: Mapping[str, Any],
    now: datetime,
    retention: timedelta,
) -> dict[str, Any]:
    """A change as it is stored: kept for ``retention``. ``body`` holds what it
    carries (BODY_FIELDS)."""
    unknown = set(body) - set(BODY_FIELDS)
    if unknown:
        raise ValueError(f"not a change's field: {sorted(unknown)}")
    return {
        "owner": owner,
        "seq": seq,
        "type": kind,
        **body,
        "at": now,
        "expires_at": now + retention,
    }


def change(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored change as plain values, seq as an integer."""
    return {
        "owner": doc["owner"],
        "seq": int(doc["seq"]),
        "type": doc["type"],
        **{name: doc[name] for name in BODY_FIELDS if name in doc},
        "at": doc["at"],
    }
