"""The ``tasks`` collection: every user's tasks, each written together with its change.

A task leaves the store as a plain dict with exactly the native fields — ``id``,
``title``, ``description``, ``done``, ``order``, ``created_at``, ``updated_at``,
``version`` — and no owner. Every write runs in one transaction with the change it
records for live clients (store/changes.py), so one is stored if and only if the
other is. Owners are user ids as strings (see store/users.py).

Lists come in ``rank`` order: a string that sorts as (order, creation time, id), with
tasks that have no order after those that have one. One indexed string field makes
the next page a single range query, ``rank > <last rank seen>``, which stays right
while other tasks are inserted or deleted between pages.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from .changes import Changes
from .clock import utcnow
from .compat import exact, replace_whole, typed
from .idempotency import IdempotencyKeyReused, IdempotencyKeys, KeyTaken

T = TypeVar("T")
InTransaction = Callable[[Callable[[AsyncClientSession], Awaitable[T]]], Awaitable[T]]

FIELDS = ("id", "title", "description", "done", "order", "created_at", "updated_at", "version")
EDITABLE = ("title", "description", "done", "order")

# Orders are integers a JavaScript client holds exactly.
ORDER_LIMIT = 2**53 - 1

# Tasks removed per transaction when a whole list is deleted.
DELETE_BATCH = 200

_SCHEMA = {"title": str, "description": str, "done": bool, "order": int, "version": int}

RANK = re.compile(r"[01][0-9]{17}[0-9]{15}[0-9a-f]{24}")


class TaskNotFound(LookupError):
    """No such task for this owner: missing, someone else's, or a malformed id."""


class StaleVersion(Exception):
    """The task exists, but not at any of the versions the write was conditional on."""

    def __init__(self, task: dict[str, Any]):
        super().__init__(f"task {task['id']} is at version {task['version']}")
        self.task = task


def rank(order: int | None, created_at: datetime, task_id: ObjectId) -> str:
    """The sort key of a task: order (offset to be non-negative, fixed width; none
    sorts last), then creation time in milliseconds, then the id to break ties."""
    head = "1" + "0" * 17 if order is None else "0" + f"{order + 2**53:017d}"
    millis = int(created_at.timestamp() * 1000)
    return f"{head}{millis:015d}{task_id}"


def is_rank(value: str) -> bool:
    return RANK.fullmatch(value) is not None


def object_id(task_id: str) -> ObjectId:
    try:
        return ObjectId(task_id)
    except (InvalidId, TypeError) as e:
        raise TaskNotFound(task_id) from e


def task_document(
    owner: str, fields: dict[str, Any], now: datetime, task_id: ObjectId | None = None
) -> dict[str, Any]:
    """A new task as it is stored, from its editable ``fields``."""
    task_id = task_id or ObjectId()
    order = fields.get("order")
    return {
        "_id": task_id,
        "owner": owner,
        "title": fields["title"],
        "description": fields.get("description", ""),
        "done": bool(fields.get("done", False)),
        "order": order,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "rank": rank(order, now, task_id),
    }


def _task(doc: dict[str, Any]) -> dict[str, Any]:
    doc = typed(doc, _SCHEMA)
    return {
        "id": str(doc["_id"]),
        "title": doc["title"],
        "description": doc["description"],
        "done": doc["done"],
        "order": doc.get("order"),
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "version": doc["version"],
    }


def _replayed(task: dict[str, Any]) -> dict[str, Any]:
    """A task kept as an idempotent request's answer, typed like one just read."""
    task = typed(task, _SCHEMA)
    return {field: task.get(field) for field in FIELDS}


class Tasks:
    def __init__(
        self,
        collection: AsyncCollection,
        changes: Changes,
        idempotency_keys: IdempotencyKeys,
        in_transaction: InTransaction,
    ):
        self.collection = collection
        self.changes = changes
        self.idempotency_keys = idempotency_keys
        self.in_transaction = in_transaction

    async def create_indexes(self) -> None:
        # A user's list, whole or by done; single tasks are found by _id (and owner).
        await self.collection.create_index([("owner", ASCENDING), ("rank", ASCENDING)])
        await self.collection.create_index(
            [("owner", ASCENDING), ("done", ASCENDING), ("rank", ASCENDING)]
        )

    # --- reads ---

    async def get(self, owner: str, task_id: str) -> dict[str, Any]:
        doc = await self.collection.find_one(exact({"_id": object_id(task_id), "owner": owner}))
        if doc is None:
            raise TaskNotFound(task_id)
        return _task(doc)

    async def page(
        self, owner: str, *, limit: int, done: bool | None = None, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` tasks after the rank ``after``, and the rank to continue
        after (None on the last page). One query, answered in one batch."""
        query: dict[str, Any] = {"owner": owner}
        if done is not None:
            query["done"] = done
        if after is not None:
            query["rank"] = {"$gt": after}
        query = exact(query)  # so that the embedded server uses (owner, [done,] rank)
        # one more than asked tells whether another page follows; the batch size
        # keeps it to a single round trip even past the server's default first batch
        cursor = (
            self.collection.find(query)
            .sort("rank", ASCENDING)
            .limit(limit + 1)
            .batch_size(limit + 1)
        )
        docs = await cursor.to_list()
        more = len(docs) > limit
        docs = docs[:limit]
        return [_task(doc) for doc in docs], (docs[-1]["rank"] if more else None)

    async def count(self, owner: str) -> int:
        return await self.collection.count_documents(exact({"owner": owner}))

    async def all(self, owner: str) -> list[dict[str, Any]]:
        cursor = self.collection.find(exact({"owner": owner})).sort("rank", ASCENDING)
        return [_task(doc) async for doc in cursor]

    # --- writes: each in one transaction with its change ---

    async def create(
        self,
        owner: str,
        fields: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """Stores a new task from its editable ``fields``; returns it and whether it
        was created now (False: the first answer for ``idempotency_key``, replayed).

        Raises IdempotencyKeyReused when the key came with another ``fingerprint``.
        """
        doc = task_document(owner, fields, utcnow())
        task = _task(doc)

        async def work(session: AsyncClientSession) -> dict[str, Any]:
            if idempotency_key is not None:
                await self.idempotency_keys.claim(
                    owner, idempotency_key, fingerprint, task, session
                )
            await self.collection.insert_one(dict(doc), session=session)
            await self.changes.record(owner, "task.created", task, session)
            return task

        if idempotency_key is None:
            return await self.in_transaction(work), True
        for _ in range(3):
            try:
                return await self.in_transaction(work), True
            except KeyTaken:
                earlier = await self.idempotency_keys.find(owner, idempotency_key)
            if earlier is None:
                continue  # expired between the two steps: claim it afresh
            if earlier.fingerprint != fingerprint:
                raise IdempotencyKeyReused(idempotency_key)
            return _replayed(earlier.result), False
        raise KeyTaken(idempotency_key)

    async def update(
        self,
        owner: str,
        task_id: str,
        changes: dict[str, Any],
        *,
        versions: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """Sets the editable ``changes`` and moves the version on by one.

        With ``versions``, writes only if the task is at one of them (else
        StaleVersion, nothing written). TaskNotFound when there is no such task.
        """
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        oid = object_id(task_id)
        now = utcnow()

        async def work(session: AsyncClientSession) -> dict[str, Any]:
            doc = await self._current(owner, oid, versions, session)
            updated = {**doc, **changes, "updated_at": now, "version": doc["version"] + 1}
            updated["rank"] = rank(updated["order"], updated["created_at"], oid)
            await self._replace(doc, updated, session)
            task = _task(updated)
            await self.changes.record(owner, "task.updated", task, session)
            return task

        return await self.in_transaction(work)

    async def delete(
        self, owner: str, task_id: str, *, versions: Collection[int] | None = None
    ) -> dict[str, Any]:
        """Removes the task and returns it as it was; TaskNotFound, StaleVersion as for update."""
        oid = object_id(task_id)

        async def work(session: AsyncClientSession) -> dict[str, Any]:
            doc = await self._current(owner, oid, versions, session)
            result = await self.collection.delete_one(
                exact({"_id": oid, "owner": owner, "version": doc["version"]}), session=session
            )
            if result.deleted_count != 1:
                raise RuntimeError(f"task {oid} changed inside its own transaction")
            task = _task(doc)
            await self.changes.record(owner, "task.deleted", task, session)
            return task

        return await self.in_transaction(work)

    async def delete_all(self, owner: str) -> int:
        """Removes every task of ``owner``, a batch per transaction, each with its
        change; returns how many."""

        async def work(session: AsyncClientSession) -> int:
            docs = (
                await self.collection.find(exact({"owner": owner}), session=session)
                .limit(DELETE_BATCH)
                .to_list()
            )
            if not docs:
                return 0
            await self.collection.delete_many(
                exact({"_id": {"$in": [doc["_id"] for doc in docs]}, "owner": owner}),
                session=session,
            )
            for doc in docs:
                await self.changes.record(owner, "task.deleted", _task(doc), session)
            return len(docs)

        total = 0
        while True:
            removed = await self.in_transaction(work)
            total += removed
            if removed < DELETE_BATCH:
                return total

    # --- helpers ---

    async def _current(
        self,
        owner: str,
        oid: ObjectId,
        versions: Collection[int] | None,
        session: AsyncClientSession,
    ) -> dict[str, Any]:
        """The stored task, typed, if it may be written at all: TaskNotFound, or
        StaleVersion when it is at none of ``versions``."""
        doc = await self.collection.find_one(exact({"_id": oid, "owner": owner}), session=session)
        if doc is None:
            raise TaskNotFound(str(oid))
        doc = typed(doc, _SCHEMA)
        if versions is not None and doc["version"] not in versions:
            raise StaleVersion(_task(doc))
        return doc

    async def _replace(
        self, doc: dict[str, Any], updated: dict[str, Any], session: AsyncClientSession
    ) -> None:
        """Writes the task back at the version it was read at. Inside the transaction
        nothing else can change it between the read and this."""
        match = exact({"_id": doc["_id"], "owner": doc["owner"], "version": doc["version"]})
        if not await replace_whole(self.collection, match, updated, session):
            raise RuntimeError(f"task {doc['_id']} changed inside its own transaction")
