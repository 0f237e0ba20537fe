"""The ``lists`` and ``list_members`` collections: task lists, and who may use each.

Every task belongs to one list. Each user has a default list, "Inbox", whose id is
the user's own id: whichever path needs it first makes it (never twice: the id is
unique), and tasks stored before there were lists belong to it.

A membership is one document per (list, person) with the person's role, the
owner's included, so that "the lists I can see" and "who sees this list" are each
one indexed query. Usernames are copied into lists and memberships: they never
change, and a list page then needs no look-up of its people.

Writes that change who sees what run in one transaction with the changes they
record for live clients (store/changes.py): one change per member, each in that
member's own ``seq``. Which roles may make a write is the caller's rule (services/);
the store checks it against the membership it reads inside the transaction, so a
member removed meanwhile can no longer write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .changes import Changes, Entry, Heads, split_heads, with_heads
from .clock import utcnow
from .compat import exact, replace_whole, typed
from .idempotency import IdempotencyKeys, once

T = TypeVar("T")
InTransaction = Callable[[Callable[[AsyncClientSession], Awaitable[T]]], Awaitable[T]]

ROLES = ("owner", "editor", "viewer")
DEFAULT_NAME = "Inbox"

_SCHEMA = {"name": str, "default": bool, "version": int}


@dataclass(frozen=True)
class Person:
    """Someone acting on lists and tasks: a user's id and name."""

    id: str
    username: str

    def view(self) -> dict[str, str]:
        return {"id": self.id, "username": self.username}


class ListNotFound(LookupError):
    """No such list: missing, or a malformed id."""


class NoAccess(Exception):
    """The person's role in the list (None: not a member) does not allow the write.
    ``target``: the list a task was to move to, rather than the one it is in."""

    def __init__(self, role: str | None, *, target: bool = False):
        super().__init__(f"role {role!r} may not do this")
        self.role = role
        self.target = target


class OwnerLeaving(Exception):
    """The owner cannot leave their own list."""


class ListStaleVersion(Exception):
    def __init__(self, current: dict[str, Any]):
        super().__init__(f"list {current['id']} is at version {current['version']}")
        self.current = current


class MemberLimit(Exception):
    """The list has as many members as it may."""


class DefaultList(Exception):
    """The default list cannot be deleted."""


def object_id(list_id: str) -> ObjectId:
    try:
        return ObjectId(list_id)
    except (InvalidId, TypeError) as e:
        raise ListNotFound(list_id) from e


def membership_id(list_id: str, user_id: str) -> str:
    return f"{list_id}:{user_id}"


def list_document(
    owner: Person, name: str, now: datetime, *, list_id: ObjectId | None = None
) -> dict[str, Any]:
    default = list_id is not None and str(list_id) == owner.id
    return {
        "_id": list_id or ObjectId(),
        "owner": owner.id,
        "owner_name": owner.username,
        "name": name,
        "default": default,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def membership_document(list_id: str, person: Person, role: str, now: datetime) -> dict[str, Any]:
    return {
        "_id": membership_id(list_id, person.id),
        "list": list_id,
        "user": person.id,
        "username": person.username,
        "role": role,
        "added_at": now,
    }


def list_view(doc: dict[str, Any], role: str) -> dict[str, Any]:
    """A list as one member sees it: their ``role`` in it."""
    doc = typed(doc, _SCHEMA)
    return {
        "id": str(doc["_id"]),
        "name": doc["name"],
        "owner": {"id": doc["owner"], "username": doc["owner_name"]},
        "role": role,
        "default": doc["default"],
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "version": doc["version"],
    }


def member_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"user": {"id": doc["user"], "username": doc["username"]}, "role": doc["role"]}


Members = dict[str, dict[str, Any]]  # user id -> membership document


def role_of(members: Members, person: Person) -> str | None:
    membership = members.get(person.id)
    return membership["role"] if membership else None


def require(
    members: Members, person: Person, allowed: Collection[str], *, target: bool = False
) -> str:
    """The person's role, if it is one of ``allowed``; else NoAccess."""
    role = role_of(members, person)
    if role not in allowed:
        raise NoAccess(role, target=target)
    assert role is not None
    return role


def owner_of(members: Members) -> str:
    return next(user for user, m in members.items() if m["role"] == "owner")


def to_each(members: Members, kind: str, body: Callable[[str], dict[str, Any]]) -> list[Entry]:
    """One change of ``kind`` for each member, its body made for that member's role."""
    return [(user, kind, body(m["role"])) for user, m in members.items()]


class Lists:
    def __init__(
        self,
        collection: AsyncCollection,
        members: AsyncCollection,
        changes: Changes,
        idempotency_keys: IdempotencyKeys,
        in_transaction: InTransaction,
    ):
        self.collection = collection
        self.members = members
        self.changes = changes
        self.idempotency_keys = idempotency_keys
        self.in_transaction = in_transaction

    async def create_indexes(self) -> None:
        # the lists a person sees; the people of a list
        await self.members.create_index([("user", ASCENDING), ("list", ASCENDING)])
        await self.members.create_index([("list", ASCENDING), ("user", ASCENDING)])
        await self.collection.create_index([("owner", ASCENDING)])

    # --- reads ---

    async def visible(self, person: Person) -> Members:
        """The person's memberships by list id: every list they can see, their
        default list included (made now if it is not there yet). One query."""
        found = await self.members.find(exact({"user": person.id})).to_list()
        if not any(doc["list"] == person.id for doc in found):
            await self.ensure_default(person)
            found = await self.members.find(exact({"user": person.id})).to_list()
        return {doc["list"]: doc for doc in found}

    async def of_person(self, person: Person) -> list[dict[str, Any]]:
        """Every list the person can see, as they see it: the default list first, then
        by name."""
        memberships = await self.visible(person)
        ids = [object_id(list_id) for list_id in memberships]
        docs = await self.collection.find({"_id": {"$in": ids}}).to_list()
        views = [list_view(doc, memberships[str(doc["_id"])]["role"]) for doc in docs]
        views.sort(key=lambda v: (not v["default"], v["name"].casefold(), v["id"]))
        return views

    async def get(self, person: Person, list_id: str) -> dict[str, Any]:
        """The list as the person sees it; NoAccess(None) when they are no member."""
        oid = object_id(list_id)
        membership = await self.members.find_one(exact({"_id": membership_id(list_id, person.id)}))
        if membership is None:
            if list_id == person.id:  # their default list, before its first use
                await self.ensure_default(person)
                return await self.get(person, list_id)
            raise NoAccess(None)
        doc = await self.collection.find_one(exact({"_id": oid}))
        if doc is None:
            raise NoAccess(None)
        return list_view(doc, membership["role"])

    async def role(self, list_id: str, user_id: str) -> str | None:
        doc = await self.members.find_one(exact({"_id": membership_id(list_id, user_id)}))
        return doc["role"] if doc else None

    async def people(self, list_id: str) -> list[dict[str, Any]]:
        """The list's members, the owner first, then by username."""
        docs = await self.members.find(exact({"list": list_id})).to_list()
        docs.sort(key=lambda d: (d["role"] != "owner", d["username"].casefold()))
        return [member_view(doc) for doc in docs]

    async def memberships_of(self, user_id: str) -> list[str]:
        """The ids of the lists ``user_id`` is a member of (no default list made)."""
        docs = await self.members.find(exact({"user": user_id}), {"list": 1}).to_list()
        return [doc["list"] for doc in docs]

    async def owned(self, owner_id: str) -> list[str]:
        """The ids of the lists ``owner_id`` owns."""
        docs = await self.collection.find(exact({"owner": owner_id}), {"_id": 1}).to_list()
        return [str(doc["_id"]) for doc in docs]

    async def count_owned(self, owner_id: str) -> int:
        """How many lists the user owns, their default list counted whether it is made
        yet or not (it is made on first use)."""
        found = await self.collection.find(exact({"owner": owner_id}), {"_id": 1}).to_list()
        return len(found) + (0 if any(str(doc["_id"]) == owner_id for doc in found) else 1)

    async def members_of(self, list_id: str, session: AsyncClientSession) -> Members:
        """The list's members by user id, read within ``session``'s transaction."""
        docs = await self.members.find(exact({"list": list_id}), session=session).to_list()
        return {doc["user"]: doc for doc in docs}

    async def members_with_heads(
        self, list_id: str, session: AsyncClientSession
    ) -> tuple[Members, Heads]:
        """``members_of``, and each member's head (store/changes.py), in one query.

        Not the first command of a transaction: the embedded server begins one only
        with a find or a write, never with an aggregation (which it runs outside the
        transaction, and on a standalone the transaction lock isolates it instead).
        """
        pipeline = [
            {"$match": exact({"list": list_id})},
            *with_heads(self.changes.collection, "user"),
        ]
        docs = await (await self.members.aggregate(pipeline, session=session)).to_list()
        heads = split_heads(docs, "user")
        return {doc["user"]: doc for doc in docs}, heads

    async def document(self, list_id: str, session: AsyncClientSession) -> dict[str, Any]:
        doc = await self.collection.find_one(exact({"_id": object_id(list_id)}), session=session)
        if doc is None:
            raise NoAccess(None)
        return typed(doc, _SCHEMA)

    # --- writes ---

    async def ensure_default(
        self, person: Person, session: AsyncClientSession | None = None
    ) -> Members:
        """Makes the person's default list if it is not there; its members."""
        now = utcnow()
        doc = list_document(person, DEFAULT_NAME, now, list_id=ObjectId(person.id))
        membership = membership_document(person.id, person, "owner", now)
        for collection, document in ((self.collection, doc), (self.members, membership)):
            found = await collection.find_one(exact({"_id": document["_id"]}), session=session)
            if found is None:
                try:
                    await collection.insert_one(dict(document), session=session)
                except DuplicateKeyError:
                    if session is not None:
                        raise  # the transaction is retried, and then finds it
        if session is None:
            return {person.id: membership}
        return await self.members_of(person.id, session)

    async def create(
        self,
        owner: Person,
        name: str,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[dict[str, Any], bool]:
        """A new list owned by ``owner``, and whether it was made now (False: the first
        answer for ``idempotency_key``, replayed)."""
        now = utcnow()
        doc = list_document(owner, name, now)
        view = list_view(doc, "owner")

        async def work(session: AsyncClientSession) -> dict[str, Any]:
            if idempotency_key is not None:
                await self.idempotency_keys.claim(
                    owner.id, idempotency_key, fingerprint, view, session
                )
            await self.collection.insert_one(dict(doc), session=session)
            membership = membership_document(view["id"], owner, "owner", now)
            await self.members.insert_one(membership, session=session)
            await self.changes.record_all([(owner.id, "list.created", {"list": view})], session)
            return view

        return await once(
            self.idempotency_keys,
            owner.id,
            idempotency_key,
            fingerprint,
            lambda: self.in_transaction(work),
            lambda result: typed(result, _SCHEMA),
        )

    async def rename(
        self,
        person: Person,
        list_id: str,
        name: str,
        *,
        allowed: Collection[str],
        versions: Collection[int] | None = None,
    ) -> dict[str, Any]:
        async def work(session: AsyncClientSession) -> dict[str, Any]:
            doc = await self.document(list_id, session)  # first (members_with_heads)
            members, heads = await self.members_with_heads(list_id, session)
            role = require(members, person, allowed)
            check_versions(doc, role, versions)
            updated = {**doc, "name": name, "updated_at": utcnow(), "version": doc["version"] + 1}
            match = {"_id": doc["_id"], "version": doc["version"]}
            if not await replace_whole(self.collection, match, updated, session):
                raise RuntimeError(f"list {list_id} changed inside its own transaction")
            entries = to_each(members, "list.updated", lambda r: {"list": list_view(updated, r)})
            await self.changes.record_all(entries, session, heads)
            return list_view(updated, role)

        return await self.in_transaction(work)

    async def set_member(
        self,
        person: Person,
        list_id: str,
        member: Person,
        role: str,
        *,
        allowed: Collection[str],
        limit: int,
    ) -> tuple[dict[str, Any], bool]:
        """Adds ``member`` with ``role``, or gives them that role; the membership, and
        whether they were added now."""
        if role not in ROLES[1:]:
            raise ValueError(f"not a member's role: {role!r}")

        async def work(session: AsyncClientSession) -> tuple[dict[str, Any], bool]:
            doc = await self.document(list_id, session)  # first (members_with_heads)
            members, heads = await self.members_with_heads(list_id, session)
            require(members, person, allowed)
            current = members.get(member.id)
            if current is not None and current["role"] == "owner":
                raise OwnerLeaving()  # the owner's own role is not theirs to change here
            if current is not None and current["role"] == role:
                return member_view(current), False
            membership = membership_document(list_id, member, role, utcnow())
            entries: list[Entry]
            if current is None:
                if len(members) >= limit:
                    raise MemberLimit()
                await self.members.insert_one(membership, session=session)
                entries = [
                    (user, "member.added", {"list_id": list_id, "member": member_view(membership)})
                    for user in members
                ]
                entries.append((member.id, "list.added", {"list": list_view(doc, role)}))
            else:
                membership["added_at"] = current["added_at"]
                await replace_whole(self.members, {"_id": membership["_id"]}, membership, session)
                entries = [
                    (
                        user,
                        "member.updated",
                        {"list_id": list_id, "member": member_view(membership)},
                    )
                    for user in members
                    if user != member.id
                ]
                entries.append((member.id, "list.updated", {"list": list_view(doc, role)}))
            await self.changes.record_all(entries, session, heads)
            return member_view(membership), current is None

        return await self.in_transaction(work)

    async def remove_member(
        self, person: Person, list_id: str, member_id: str, *, allowed: Collection[str]
    ) -> None:
        """Removes ``member_id`` from the list; NoAccess(None) when they were not in it."""

        async def work(session: AsyncClientSession) -> None:
            doc = await self.document(list_id, session)  # first (members_with_heads)
            members, heads = await self.members_with_heads(list_id, session)
            require(members, person, allowed)
            gone = members.pop(member_id, None)
            if gone is None:
                raise NoAccess(None)
            if gone["role"] == "owner":
                raise OwnerLeaving()
            await self.members.delete_one(exact({"_id": gone["_id"]}), session=session)
            entries: list[Entry] = [
                (user, "member.removed", {"list_id": list_id, "member": member_view(gone)})
                for user in members
            ]
            entries.append((member_id, "list.removed", {"list": list_view(doc, gone["role"])}))
            await self.changes.record_all(entries, session, heads)

        await self.in_transaction(work)

    async def remove(
        self, list_id: str, members: Members, session: AsyncClientSession
    ) -> dict[str, Any]:
        """Deletes the list and its memberships within ``session``, telling every member
        (``list.deleted``); the list as it was. Its tasks must be gone already."""
        doc = await self.document(list_id, session)
        await self.collection.delete_one(exact({"_id": doc["_id"]}), session=session)
        await self.members.delete_many(exact({"list": list_id}), session=session)
        entries = to_each(members, "list.deleted", lambda r: {"list": list_view(doc, r)})
        await self.changes.record_all(entries, session)
        return doc


def check_versions(doc: dict[str, Any], role: str, versions: Collection[int] | None) -> None:
    if versions is not None and doc["version"] not in versions:
        raise ListStaleVersion(list_view(doc, role))


__all__: Sequence[str] = [
    "DEFAULT_NAME",
    "ROLES",
    "DefaultList",
    "ListNotFound",
    "ListStaleVersion",
    "Lists",
    "MemberLimit",
    "NoAccess",
    "OwnerLeaving",
    "Person",
    "check_versions",
    "list_view",
    "member_view",
    "membership_id",
]
