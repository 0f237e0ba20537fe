"""The ``tasks`` collection: the tasks of every list, each written with its changes.

A task leaves the store as a plain dict with exactly the native fields (FIELDS) and
no owner. Every write runs in one transaction with the changes it records for live
clients (store/changes.py), one for each member of the task's list, so that a change
is stored if and only if the write is. ``owner`` is the owner of the task's list
(whose quota it counts against); ``list`` its list's id, both as strings.

Each sort a client may ask for has its own key, a fixed-width string that ends in
the task's id so that no two tasks share one: ``rank`` (order, then creation time),
``k_due``, ``k_priority``, ``k_created``, ``k_updated``. The next page is then a
single range query, ``key > <last key seen>``, which stays right while other tasks
are inserted or deleted between pages, and an index on (list, key) answers it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from .changes import Changes, Entry, Heads, held_tasks, joined_head, with_heads
from .clock import utcnow
from .compat import exact, replace_whole, typed, typed_value
from .idempotency import IdempotencyKeys, once
from .lists import (
    DefaultList,
    Lists,
    Members,
    Person,
    check_versions,
    list_view,
    owner_of,
    require,
    role_of,
)

T = TypeVar("T")
InTransaction = Callable[[Callable[[AsyncClientSession], Awaitable[T]]], Awaitable[T]]

FIELDS = (
    "id",
    "list_id",
    "title",
    "description",
    "done",
    "order",
    "due",
    "priority",
    "labels",
    "completed_at",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "version",
)
EDITABLE = ("title", "description", "done", "order", "due", "priority", "labels", "list_id")
# What a task stored before a field existed has instead.
MISSING: dict[str, Any] = {"due": None, "priority": 0, "labels": [], "completed_at": None}
MISSING_PEOPLE: dict[str, Any] = {"created_by": None, "updated_by": None}

# Orders are integers a JavaScript client holds exactly.
ORDER_LIMIT = 2**53 - 1

# Changes recorded per transaction when many tasks go at once (a list deleted):
# a batch holds this many divided by the list's members, at most DELETE_BATCH tasks.
CHANGES_PER_TRANSACTION = 2000
DELETE_BATCH = 200

_SCHEMA = {"title": str, "description": str, "done": bool, "order": int, "version": int}
_SCHEMA_PRIORITY = {"priority": int}

RANK = re.compile(r"[01][0-9]{17}[0-9]{15}[0-9a-f]{24}")
_RANK = RANK.pattern
_DUE_KEY = r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}(?:-{14}|T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z)|~{24})"

# The sorts a page may come in: the key that orders it, and the shape of that key
# (a cursor is the last key of a page).
SORTS = {
    "order": ("rank", RANK),
    "due": ("k_due", re.compile(_DUE_KEY + _RANK)),
    "priority": ("k_priority", re.compile("[0-3]" + _RANK)),
    "created": ("k_created", re.compile(r"[0-9]{15}[0-9a-f]{24}")),
    "updated": ("k_updated", re.compile(r"[0-9]{15}[0-9a-f]{24}")),
}
NO_DUE = "~" * 24  # sorts after every due date
MAX_MILLIS = 10**15 - 1  # newest first: keys count down from here


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


def is_cursor(sort: str, value: str) -> bool:
    """Whether ``value`` could be the last key of a page in ``sort``."""
    return SORTS[sort][1].fullmatch(value) is not None


def due_key(due: str) -> str:
    """A due date as it sorts and compares: a date (``YYYY-MM-DD``) before any time of
    that day, a date-time as its moment in UTC to the millisecond."""
    if len(due) == 10:
        return due + "-" * 14
    moment = datetime.fromisoformat(due).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def keyed(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its sort keys and search text made from its fields."""
    oid = doc["_id"]
    task_rank = rank(doc["order"], doc["created_at"], oid)
    due = doc.get("due")
    doc["due_key"] = due_key(due) if due else None
    doc["rank"] = task_rank
    doc["k_due"] = (doc["due_key"] or NO_DUE) + task_rank
    doc["k_priority"] = str(3 - doc.get("priority", 0)) + task_rank
    doc["k_created"] = f"{MAX_MILLIS - _millis(doc['created_at']):015d}{oid}"
    doc["k_updated"] = f"{MAX_MILLIS - _millis(doc['updated_at']):015d}{oid}"
    # what ?q= searches: compared folded, as a literal (store: TaskFilter)
    doc["search"] = f"{doc['title']}\n{doc.get('description', '')}".casefold()
    return doc


def object_id(task_id: str) -> ObjectId:
    try:
        return ObjectId(task_id)
    except (InvalidId, TypeError) as e:
        raise TaskNotFound(task_id) from e


def task_document(
    owner: str,
    fields: dict[str, Any],
    now: datetime,
    task_id: ObjectId | None = None,
    *,
    list_id: str | None = None,
    author: Person | None = None,
) -> dict[str, Any]:
    """A new task as it is stored, from its editable ``fields``; in ``list_id`` (by
    default the owner's default list, whose id is the owner's)."""
    done = bool(fields.get("done", False))
    by = author.view() if author else None
    oid = task_id or ObjectId()
    return keyed(
        {
            "_id": oid,
            "sid": str(oid),
            "owner": owner,
            "list": list_id or owner,
            "title": fields["title"],
            "description": fields.get("description", ""),
            "done": done,
            "order": fields.get("order"),
            "due": fields.get("due"),
            "priority": fields.get("priority", 0),
            "labels": list(fields.get("labels", [])),
            "completed_at": now if done else None,
            "created_at": now,
            "updated_at": now,
            "created_by": by,
            "updated_by": by,
            "version": 1,
        }
    )


# For the one pass that builds a task: the stored fields whose type may drift
# (store/compat.py: typed), and what a task stored before a field existed has instead.
_READ_AS = _SCHEMA | _SCHEMA_PRIORITY
_DEFAULTS = MISSING | MISSING_PEOPLE


def _task(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored task in its native form, built in one pass: a page of them is read
    on every list view."""
    task: dict[str, Any] = {"id": str(doc["_id"]), "list_id": doc.get("list", doc.get("owner"))}
    for name in FIELDS[2:]:
        value = doc.get(name)
        if value is None:
            value = _DEFAULTS.get(name)
        elif name in _READ_AS:
            value = typed_value(value, _READ_AS[name])
        task[name] = value
    task["labels"] = list(task["labels"])
    return task


def _replayed(task: dict[str, Any]) -> dict[str, Any]:
    """A task kept as an idempotent request's answer, typed like one just read."""
    task = typed(typed(task, _SCHEMA), _SCHEMA_PRIORITY)
    return {field: task.get(field, MISSING.get(field)) for field in FIELDS}


@dataclass(frozen=True)
class TaskFilter:
    """What a page of tasks is narrowed to, besides its lists. Due dates are compared
    as ``due_key`` makes them; ``q`` is matched as folded literal text."""

    done: bool | None = None
    due_before: str | None = None
    due_after: str | None = None
    label: str | None = None
    priority: int | None = None
    q: str | None = None

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.done is not None:
            query["done"] = self.done
        due: dict[str, str] = {}
        if self.due_before is not None:
            due["$lt"] = due_key(self.due_before)
        if self.due_after is not None:
            due["$gt"] = due_key(self.due_after)
        if due:
            query["due_key"] = due
        if self.label is not None:
            # one element of the array: $all, which both servers match inside arrays
            # (store/compat.py: exact keeps operators as they are)
            query["labels"] = {"$all": [self.label]}
        if self.priority is not None:
            query["priority"] = self.priority
        if self.q is not None:
            # never the user's own pattern: their text, escaped, against folded text
            query["search"] = {"$regex": re.escape(self.q.casefold())}
        return query


NO_FILTER = TaskFilter()


def _branch(list_id: str, query: dict[str, Any], key: str, after: str | None) -> dict[str, Any]:
    branch = {"list": list_id, **query}
    if after is not None:
        branch[key] = {"$gt": after}
    return exact(branch)  # so that the embedded server uses (list, key)


class Tasks:
    def __init__(
        self,
        collection: AsyncCollection,
        lists: Lists,
        changes: Changes,
        idempotency_keys: IdempotencyKeys,
        in_transaction: InTransaction,
        standalone: Callable[[], Awaitable[bool]],
    ):
        self.collection = collection
        self.lists = lists
        self.changes = changes
        self.idempotency_keys = idempotency_keys
        self.in_transaction = in_transaction
        self.standalone = standalone

    async def create_indexes(self) -> None:
        # a list's tasks in each sort, whole or by done; an owner's, for the quota
        for key in ("rank", "k_due", "k_priority", "k_created", "k_updated"):
            await self.collection.create_index([("list", ASCENDING), (key, ASCENDING)])
        await self.collection.create_index(
            [("list", ASCENDING), ("done", ASCENDING), ("rank", ASCENDING)]
        )
        await self.collection.create_index([("owner", ASCENDING), ("rank", ASCENDING)])
        # a task by its id as a string, for aggregations (_writable)
        await self.collection.create_index([("sid", ASCENDING)])

    # --- reads ---

    async def get(self, task_id: str) -> dict[str, Any]:
        """The task, whoever may see it (the caller checks); TaskNotFound."""
        doc = await self.collection.find_one(exact({"_id": object_id(task_id)}))
        if doc is None:
            raise TaskNotFound(task_id)
        return _task(doc)

    async def page(
        self,
        list_ids: Sequence[str],
        *,
        limit: int,
        sort: str = "order",
        filters: TaskFilter = NO_FILTER,
        after: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` tasks of the lists, in ``sort``, after the key ``after``, and
        the key to continue after (None on the last page). One query, in one batch:
        for several lists, one branch per list, each answered from its (list, key)
        index, merged by the server ($unionWith)."""
        key = SORTS[sort][0]
        query = filters.query()
        # one more than asked tells whether another page follows; the batch size
        # keeps it to a single round trip even past the server's default first batch
        # the embedded server's find() matches no date-like text (due_key) under $lt
        # or $gt, where its aggregate $match compares it as text: due bounds go there
        if len(list_ids) == 1 and "due_key" not in query:
            cursor = (
                self.collection.find(_branch(list_ids[0], query, key, after))
                .sort(key, ASCENDING)
                .limit(limit + 1)
                .batch_size(limit + 1)
            )
            docs = await cursor.to_list()
        elif not list_ids:
            docs = []
        else:

            def stages(list_id: str) -> list[dict[str, Any]]:
                return [
                    {"$match": _branch(list_id, query, key, after)},
                    {"$sort": {key: 1}},
                    {"$limit": limit + 1},
                ]

            first, *others = list_ids
            pipeline = stages(first)
            for list_id in others:
                pipeline.append(
                    {"$unionWith": {"coll": self.collection.name, "pipeline": stages(list_id)}}
                )
            pipeline += [{"$sort": {key: 1}}, {"$limit": limit + 1}]
            merged = await self.collection.aggregate(pipeline, batchSize=limit + 1)
            docs = await merged.to_list()
        more = len(docs) > limit
        docs = docs[:limit]
        return [_task(doc) for doc in docs], (docs[-1][key] if more else None)

    async def count(self, owner: str) -> int:
        """How many tasks the lists of ``owner`` hold."""
        return await self.collection.count_documents(exact({"owner": owner}))

    async def all(self, list_id: str) -> list[dict[str, Any]]:
        cursor = self.collection.find(exact({"list": list_id})).sort("rank", ASCENDING)
        return [_task(doc) async for doc in cursor]

    # --- writes: each in one transaction with its changes ---

    async def create(
        self,
        person: Person,
        list_id: str,
        fields: dict[str, Any],
        *,
        allowed: Collection[str],
        max_per_owner: int | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """Stores a new task in the list from its editable ``fields``; returns it and
        whether it was created now (False: the first answer for ``idempotency_key``,
        replayed). NoAccess unless the person's role is ``allowed``; TaskLimit when the
        list's owner holds ``max_per_owner`` tasks already.

        Raises IdempotencyKeyReused when the key came with another ``fingerprint``.
        """
        task_id = ObjectId()
        now = utcnow()
        # a default list's owner is the user whose id it has
        owned = list_id == person.id

        async def work(session: AsyncClientSession) -> dict[str, Any]:
            # whose quota it counts against is known once the members are read
            doc = task_document(person.id, fields, now, task_id, list_id=list_id, author=person)
            task = _task(doc)
            if idempotency_key is not None:
                await self.idempotency_keys.claim(
                    person.id, idempotency_key, fingerprint, task, session
                )
            if owned:
                # in first, so that the read of the members and heads that follows
                # is not the transaction's first command (store/lists.py:
                # members_with_heads); a refusal below undoes it
                await self.collection.insert_one(doc, session=session)
                members, heads = await self.lists.members_with_heads(list_id, session)
                if not members:
                    members = await self.lists.ensure_default(person, session)
            else:
                members = await self.lists.members_of(list_id, session)
                heads = await self.changes.heads(members, session)
            require(members, person, allowed)
            owner = owner_of(members)
            if max_per_owner is not None:
                held = await self._held(owner, heads, session, inserted=1 if owned else 0)
                if held >= max_per_owner:
                    raise TaskLimit(owner == person.id)
            if not owned:
                doc["owner"] = owner
                await self.collection.insert_one(doc, session=session)
            await self.changes.record_all(
                _to_members(members, "task.created", task), session, heads, tasks={owner: 1}
            )
            return task

        return await once(
            self.idempotency_keys,
            person.id,
            idempotency_key,
            fingerprint,
            lambda: self.in_transaction(work),
            _replayed,
        )

    async def update(
        self,
        person: Person,
        task_id: str,
        changes: dict[str, Any],
        *,
        allowed: Collection[str],
        versions: Collection[int] | None = None,
        within: str | None = None,
        max_per_owner: int | None = None,
    ) -> dict[str, Any]:
        """Sets the editable ``changes`` and moves the version on by one; a
        ``list_id`` among them moves the task, which needs an ``allowed`` role in both
        lists.

        TaskNotFound when there is no such task the person can see (in ``within``,
        when given); NoAccess when their role is not ``allowed``; with ``versions``,
        StaleVersion unless the task is at one of them; TaskLimit when it moves to a
        list of another owner, who holds ``max_per_owner`` tasks already. Nothing is
        written then.
        Members of both lists are told ``task.updated``; of the old one only,
        ``task.deleted``; of the new one only, ``task.created``.
        """
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        oid = object_id(task_id)
        now = utcnow()

        async def work(session: AsyncClientSession) -> dict[str, Any]:
            doc, members, heads = await self._writable(
                person, oid, allowed, versions, within, session
            )
            before = _task(doc)
            fields = {k: v for k, v in changes.items() if k != "list_id"}
            updated = {**doc, **fields, "updated_at": now, "version": doc["version"] + 1}
            updated["sid"] = str(oid)  # a task stored before it had one gets it now
            updated["updated_by"] = person.view()
            if "done" in fields and bool(fields["done"]) != bool(doc["done"]):
                updated["completed_at"] = now if fields["done"] else None
            target = changes.get("list_id", doc["list"])
            joining: Members = members
            if target != doc["list"]:
                joining = await self.lists.members_of(target, session)
                if not joining and target == person.id:  # their default list, first used now
                    joining = await self.lists.ensure_default(person, session)
                require(joining, person, allowed, target=True)
                owner = owner_of(joining)
                if (
                    max_per_owner is not None
                    and owner != doc["owner"]
                    and await self._held(owner, heads, session) >= max_per_owner
                ):
                    raise TaskLimit(owner == person.id)
                updated["list"] = target
                updated["owner"] = owner
            keyed(updated)
            await self._replace(doc, updated, session)
            task = _task(updated)
            entries: list[Entry] = []
            for user in {**members, **joining}:
                if user in members and user in joining:
                    entries.append((user, "task.updated", {"task": task}))
                elif user in members:
                    entries.append((user, "task.deleted", {"task": before}))
                else:
                    entries.append((user, "task.created", {"task": task}))
            moved = (
                {doc["owner"]: -1, updated["owner"]: 1} if updated["owner"] != doc["owner"] else {}
            )
            await self.changes.record_all(entries, session, heads, tasks=moved)
            return task

        return await self.in_transaction(work)

    async def delete(
        self,
        person: Person,
        task_id: str,
        *,
        allowed: Collection[str],
        versions: Collection[int] | None = None,
        within: str | None = None,
    ) -> dict[str, Any]:
        """Removes the task and returns it as it was; errors as for ``update``."""
        oid = object_id(task_id)

        async def work(session: AsyncClientSession) -> dict[str, Any]:
            doc, members, heads = await self._writable(
                person, oid, allowed, versions, within, session
            )
            result = await self.collection.delete_one(
                exact({"_id": oid, "version": doc["version"]}), session=session
            )
            if result.deleted_count != 1:
                raise RuntimeError(f"task {oid} changed inside its own transaction")
            task = _task(doc)
            entries = _to_members(members, "task.deleted", task)
            await self.changes.record_all(entries, session, heads, tasks={doc["owner"]: -1})
            return task

        return await self.in_transaction(work)

    async def delete_all(self, person: Person, list_id: str, *, allowed: Collection[str]) -> int:
        """Removes every task of the list, a batch per transaction, each with its
        changes; how many. NoAccess unless the person's role is ``allowed``."""

        async def work(session: AsyncClientSession) -> tuple[int, bool]:
            members = await self.lists.members_of(list_id, session)
            require(members, person, allowed)
            return await self._delete_batch(list_id, members, session)

        total = 0
        while True:
            removed, last = await self.in_transaction(work)
            total += removed
            if last:
                return total

    async def delete_list(
        self,
        person: Person,
        list_id: str,
        *,
        allowed: Collection[str],
        versions: Collection[int] | None = None,
        even_default: bool = False,
    ) -> dict[str, Any]:
        """Deletes the list: its tasks a batch per transaction, each with its changes,
        then, with the last batch, the list and its memberships (``list.deleted`` to
        every member). The list as it was; NoAccess, ListStaleVersion, DefaultList
        (unless ``even_default``: the account itself is going)."""

        async def work(session: AsyncClientSession) -> dict[str, Any] | None:
            members = await self.lists.members_of(list_id, session)
            role = require(members, person, allowed)
            doc = await self.lists.document(list_id, session)
            if doc["default"] and not even_default:
                raise DefaultList()
            check_versions(doc, role, versions)
            _, last = await self._delete_batch(list_id, members, session)
            if not last:
                return None
            await self.lists.remove(list_id, members, session)
            return list_view(doc, role)

        while True:
            gone = await self.in_transaction(work)
            if gone is not None:
                return gone

    async def adopt_unlisted(self, username_of: Callable[[str], Awaitable[str | None]]) -> int:
        """Gives each task stored before there were lists its owner's default list (made
        now where missing), its new fields and sort keys; how many. Run at start-up:
        a scan of the tasks, which finds none once every task has its list."""
        docs = await self.collection.find({"list": {"$exists": False}}).to_list()
        names: dict[str, str] = {}
        for doc in docs:
            owner = doc["owner"]
            if owner not in names:
                names[owner] = await username_of(owner) or ""
                await self.lists.ensure_default(Person(owner, names[owner]))
            by = {"id": owner, "username": names[owner]}
            adopted = {**MISSING, **doc, "list": owner, "created_by": by, "updated_by": by}
            adopted["sid"] = str(doc["_id"])
            if adopted["done"] and adopted["completed_at"] is None:
                adopted["completed_at"] = adopted["updated_at"]
            keyed(typed(adopted, _SCHEMA))
            await replace_whole(self.collection, {"_id": doc["_id"]}, adopted)
        return len(docs)

    # --- helpers ---

    async def _writable(
        self,
        person: Person,
        oid: ObjectId,
        allowed: Collection[str],
        versions: Collection[int] | None,
        within: str | None,
        session: AsyncClientSession,
    ) -> tuple[dict[str, Any], Members, Heads]:
        """The stored task, typed, its list's members and their heads
        (store/changes.py), if the person may write it: TaskNotFound when they cannot
        see it (or it is not in ``within``), NoAccess when they may only read it,
        StaleVersion when it is at none of ``versions``. One round trip (two for a
        task stored before tasks had ``sid``)."""
        found = await self._with_members(oid, session)
        if found is None:
            doc = await self.collection.find_one(exact({"_id": oid}), session=session)
            if doc is None:
                raise TaskNotFound(str(oid))
            members, heads = await self.lists.members_with_heads(doc["list"], session)
        else:
            doc, members, heads = found
        doc = typed(typed(doc, _SCHEMA), _SCHEMA_PRIORITY)
        if role_of(members, person) is None or (within is not None and doc["list"] != within):
            raise TaskNotFound(str(oid))
        require(members, person, allowed)
        if versions is not None and doc["version"] not in versions:
            raise StaleVersion(_task(doc))
        return doc, members, heads

    async def _with_members(
        self, oid: ObjectId, session: AsyncClientSession
    ) -> tuple[dict[str, Any], Members, Heads] | None:
        """The task with its list's members and their heads, in one query; None when
        no task has this ``sid`` (or its list has no members).

        Joined on ``sid``, the id as a string: the embedded server matches no
        ObjectId in an aggregation. That server begins no transaction with an
        aggregation either, and runs one outside the transaction: there (a
        standalone, where the transaction lock isolates it) it is sent without the
        session, and the write after it begins the transaction."""
        reading = None if await self.standalone() else session
        pipeline: list[dict[str, Any]] = [
            {"$match": exact({"sid": str(oid)})},
            {
                "$lookup": {
                    "from": self.lists.members.name,
                    "localField": "list",
                    "foreignField": "list",
                    "as": "_member",
                }
            },
            {"$unwind": "$_member"},
            *with_heads(self.changes.collection, "_member.user"),
        ]
        rows = await (await self.collection.aggregate(pipeline, session=reading)).to_list()
        if not rows:
            return None
        members: Members = {}
        heads: Heads = {}
        for row in rows:
            member = row.pop("_member")
            members[member["user"]] = member
            heads[member["user"]] = joined_head(row)
        doc = rows[0]
        doc["_id"] = oid  # the embedded server sends it as text after a join
        return doc, members, heads

    async def _held(
        self, owner: str, heads: Heads, session: AsyncClientSession, *, inserted: int = 0
    ) -> int:
        """How many tasks the owner's lists hold (``inserted`` of them by this
        transaction left out), as their head keeps it (read now when not read yet).
        Counted once, when the head does not keep it yet; the write then stores it
        there (store/changes.py: record_all), and every later write keeps it."""
        if owner not in heads:
            heads.update(await self.changes.heads([owner], session))
        held = held_tasks(heads, owner)
        if held is None:
            counted = await self.collection.count_documents(
                exact({"owner": owner}), session=session
            )
            held = counted - inserted
            heads[owner] = {**(heads[owner] or {}), "tasks": held}
        return held

    async def _delete_batch(
        self, list_id: str, members: Members, session: AsyncClientSession
    ) -> tuple[int, bool]:
        """Deletes a batch of the list's tasks with their changes: how many, and
        whether that was the last of them."""
        batch = max(1, min(DELETE_BATCH, CHANGES_PER_TRANSACTION // max(len(members), 1)))
        docs = (
            await self.collection.find(exact({"list": list_id}), session=session)
            .limit(batch)
            .to_list()
        )
        if not docs:
            return 0, True
        await self.collection.delete_many(
            exact({"_id": {"$in": [doc["_id"] for doc in docs]}, "list": list_id}),
            session=session,
        )
        entries: list[Entry] = []
        for doc in docs:
            entries += _to_members(members, "task.deleted", _task(doc))
        await self.changes.record_all(entries, session, tasks={owner_of(members): -len(docs)})
        return len(docs), len(docs) < batch

    async def _replace(
        self, doc: dict[str, Any], updated: dict[str, Any], session: AsyncClientSession
    ) -> None:
        """Writes the task back at the version it was read at. Inside the transaction
        nothing else can change it between the read and this."""
        match = exact({"_id": doc["_id"], "version": doc["version"]})
        if not await replace_whole(self.collection, match, updated, session):
            raise RuntimeError(f"task {doc['_id']} changed inside its own transaction")


class TaskLimit(Exception):
    """The list's owner holds as many tasks as one account may; ``own``: the person
    writing is that owner."""

    def __init__(self, own: bool):
        super().__init__("task limit reached")
        self.own = own


def _to_members(members: Members, kind: str, task: dict[str, Any]) -> list[Entry]:
    return [(user, kind, {"task": task}) for user in members]
