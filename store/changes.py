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
costs the same round trips whatever the number of members, stores one small document
per member (at most ``max_members_per_list``), and nothing at all per connected
socket.

Each user's last ``seq`` is kept in their *head*, a document of the same collection
(``_id`` and ``owner`` ``head:<user>``, so that no query of a user's changes finds it,
``seq`` 0 so that it fits the unique (owner, seq) index, and no expiry), beside the number of tasks the lists they own hold (``tasks``, for the task
limit; absent until first counted). A write reads the heads of the users it tells
(with the list's members when it reads them: ``with_heads``), then bumps them and inserts
its changes in one command: every statement an update, each change an upsert of a
new ``_id``. Both servers report that upsert to change streams as an insert. Read
within the transaction, a head cannot move before the commit: on a standalone,
transactions run one at a time (store/compat.py); on a replica set a concurrent
writer's bump of the same head is a write conflict, and the driver retries the
transaction; the unique index refuses a seq stored twice either way.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, ReplaceOne, UpdateOne
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

# Users' heads as read: a user asked for and missing has none yet (None).
Heads = dict[str, dict[str, Any] | None]

_HEAD = "head:"


def head_id(owner: str) -> str:
    return _HEAD + owner


def is_head(doc_id: Any) -> bool:
    """Whether a document of ``changes`` with this ``_id`` is a head, not a change."""
    return isinstance(doc_id, str) and doc_id.startswith(_HEAD)


def with_heads(collection: AsyncCollection, user_field: str) -> list[dict[str, Any]]:
    """Aggregation stages that join each document to the head of the user its
    ``user_field`` names, so that heads come with another query (``split_heads``
    takes them out). A join, not a union: a real MongoDB runs no ``$unionWith`` in
    a transaction; the index on (owner, seq) serves it."""
    return [
        {"$addFields": {"_head": {"$concat": [_HEAD, "$" + user_field]}}},
        {
            "$lookup": {
                "from": collection.name,
                "localField": "_head",
                "foreignField": "owner",
                "as": "_head",
            }
        },
    ]


def split_heads(docs: list[dict[str, Any]], user_field: str) -> Heads:
    """The heads ``with_heads`` joined to ``docs``, by user, taken out of them."""
    return {doc[user_field]: joined_head(doc) for doc in docs}


def joined_head(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The head ``with_heads`` joined to ``doc``, taken out of it. The embedded server
    sends a join that follows another join as JSON text (a head holds only strings
    and integers, which JSON keeps)."""
    joined = doc.pop("_head", None)
    if isinstance(joined, str):
        joined = json.loads(joined)
    return joined[0] if joined else None


async def counters(collection: AsyncCollection) -> AsyncIterator[dict[str, Any]]:
    """Each user's last seq as an export keeps it (store/backup.py): one document per
    user, ``{_id: user, seq: last}``, as they were stored before heads."""
    async for head in collection.find(exact({"seq": 0})).sort("_id", ASCENDING):
        if is_head(head["_id"]):
            yield {"_id": head["_id"][len(_HEAD) :], "seq": int(head["last"])}


def held_tasks(heads: Heads, owner: str) -> int | None:
    """How many tasks the owner's lists hold, by their head: None when not counted yet."""
    head = heads.get(owner)
    return None if head is None or head.get("tasks") is None else int(head["tasks"])


class Changes:
    def __init__(
        self, collection: AsyncCollection, counters: AsyncCollection, retention_seconds: float
    ):
        self.collection = collection
        # where the last seqs were kept before heads: moved into heads at start-up
        self.counters = counters
        # owners are user ids as strings (see store/users.py)
        self.retention = timedelta(seconds=retention_seconds)

    async def create_indexes(self) -> None:
        await self.collection.create_index([("owner", ASCENDING), ("seq", ASCENDING)], unique=True)
        # expires_at: indexed, and expired changes removed, by the Store
        # (Store.create_indexes; store/compat.py: expiry_index)
        await self._move_counters()

    async def _move_counters(self) -> None:
        """Moves each last seq kept the old way, one document per user in
        ``change_counters``, into the user's head; never lowers a head."""
        async for counter in self.counters.find():
            owner, last = counter["_id"], int(counter["seq"])
            await self.collection.update_one(
                exact({"_id": head_id(owner)}),
                {"$max": {"last": last}, "$set": {"owner": head_id(owner), "seq": 0}},
                upsert=True,
            )
            await self.counters.delete_one(exact({"_id": owner, "seq": counter["seq"]}))

    async def heads(
        self, owners: Iterable[str], session: AsyncClientSession | None = None
    ) -> Heads:
        """The heads of ``owners``; None for one who has none yet."""
        heads: Heads = dict.fromkeys(owners)
        ids = [head_id(owner) for owner in heads]
        async for head in self.collection.find(exact({"_id": {"$in": ids}}), session=session):
            heads[head["_id"][len(_HEAD) :]] = head
        return heads

    async def record(
        self, owner: str, kind: str, task: dict[str, Any], session: AsyncClientSession
    ) -> int:
        """Stores one task change for ``owner`` within ``session``'s transaction; its seq.

        ``task`` is the task as the store returns it (without its owner).
        """
        (seq,) = await self.record_all([(owner, kind, {"task": task})], session)
        return seq

    async def record_all(
        self,
        entries: Sequence[Entry],
        session: AsyncClientSession,
        heads: Heads | None = None,
        tasks: Mapping[str, int] | None = None,
    ) -> list[int]:
        """Stores the changes within ``session``'s transaction, each in the next seq of
        the user it is for, in the order given; their seqs. ``heads``: those already
        read in this transaction (the others are read now); ``tasks``: by how many the
        tasks of an owner's lists grew (or shrank), for an owner whose head counts
        them (``held_tasks``). One round trip, and one more for heads not given."""
        for _, kind, _ in entries:
            if kind not in CHANGE_TYPES:
                raise ValueError(f"unknown change type {kind!r}")
        tasks = {owner: n for owner, n in (tasks or {}).items() if n}
        if not entries and not tasks:
            return []
        counts = Counter(owner for owner, _, _ in entries)
        heads = dict(heads or {})
        unread = [owner for owner in {**counts, **tasks} if owner not in heads]
        if unread:
            heads.update(await self.heads(unread, session))
        writes: list[UpdateOne | ReplaceOne] = []
        for owner in {**counts, **tasks}:
            update: dict[str, Any] = {"$set": {"owner": head_id(owner), "seq": 0}}
            if counts[owner]:
                update["$inc"] = {"last": counts[owner]}
            held = held_tasks(heads, owner)
            if owner in tasks and held is not None:
                update["$set"]["tasks"] = max(held + tasks[owner], 0)
            writes.append(UpdateOne(exact({"_id": head_id(owner)}), update, upsert=True))
        last = {owner: int((heads[owner] or {}).get("last", 0)) for owner in counts}
        now = utcnow()
        seqs = []
        for owner, kind, body in entries:
            last[owner] += 1
            seqs.append(last[owner])
            doc = change_document(owner, last[owner], kind, body, now, self.retention)
            writes.append(ReplaceOne(exact({"_id": ObjectId()}), doc, upsert=True))
        await self.collection.bulk_write(writes, ordered=True, session=session)
        return seqs

    async def forget(self, owner: str) -> None:
        """Deletes the owner's change log and head (their account is gone)."""
        await self.collection.delete_many(exact({"owner": owner}))
        await self.collection.delete_one(exact({"_id": head_id(owner)}))
        await self.counters.delete_one(exact({"_id": owner}))

    async def last_seq(self, owner: str, session: AsyncClientSession | None = None) -> int:
        head = await self.collection.find_one(exact({"_id": head_id(owner)}), session=session)
        return int(head["last"]) if head else 0

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
