"""Lists and sharing: who may do what with a list and its tasks.

Roles: a ``viewer`` reads; an ``editor`` also creates, changes, completes, moves and
deletes tasks; the ``owner`` also renames and deletes the list and manages its
members. Someone who is not a member learns nothing: every list and task of it is
NotFound for them, exactly as a missing id is.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from store import Person, Store
from store.idempotency import IdempotencyKeyReused
from store.lists import (
    DefaultList,
    ListNotFound,
    ListStaleVersion,
    MemberLimit,
    NoAccess,
    OwnerLeaving,
)
from store.tasks import StaleVersion as TaskStaleVersion

from .errors import Conflict, Forbidden, KeyReused, LimitReached, NotFound, StaleVersion

__all__ = ["EDITORS", "OWNERS", "READERS", "ROLES", "Lists", "Person"]

READERS = ("owner", "editor", "viewer")
EDITORS = ("owner", "editor")
OWNERS = ("owner",)
ROLES = ("editor", "viewer")  # the roles the owner gives

NAME_MAX = 100

NO_SUCH_LIST = "no such list"


def refusal(
    error: Exception, *, missing: str = NO_SUCH_LIST, allowed: Collection[str] = EDITORS
) -> Exception:
    """The domain error for what the store refused; ``missing``: what a stranger is
    told is not there (the very words of a missing id); ``allowed``: the roles that
    may do what was refused."""
    if isinstance(error, NoAccess):
        if error.role is None:
            if error.target:
                return NotFound(NO_SUCH_LIST, field="list_id")
            return NotFound(missing)
        if error.role == "viewer" and "editor" in allowed:
            return Forbidden(
                "you are a viewer of this list: only its owner and editors may change it"
            )
        return Forbidden("only the list's owner may do this")
    if isinstance(error, ListNotFound):
        return NotFound(missing)
    if isinstance(error, ListStaleVersion):
        return StaleVersion(
            f"the list has changed: it is at version {error.current['version']}; "
            "fetch it and apply your change again",
            current=error.current,
        )
    if isinstance(error, TaskStaleVersion):
        return StaleVersion(
            f"the task has changed: it is at version {error.task['version']}; "
            "fetch it and apply your change again",
            current=error.task,
        )
    if isinstance(error, DefaultList):
        return Conflict("the default list cannot be deleted")
    if isinstance(error, OwnerLeaving):
        return Conflict(
            "the owner cannot leave or change their role in their own list; delete it instead"
        )
    if isinstance(error, IdempotencyKeyReused):
        return KeyReused(
            "this Idempotency-Key came with a different request; use a new key",
            field="Idempotency-Key",
        )
    return error


REFUSED = (
    NoAccess,
    ListNotFound,
    ListStaleVersion,
    TaskStaleVersion,
    DefaultList,
    OwnerLeaving,
    IdempotencyKeyReused,
)


class Lists:
    def __init__(self, store: Store, *, max_members: int = 50, max_lists_per_user: int = 100):
        self.store = store
        self.max_members = max_members
        self.max_lists_per_user = max_lists_per_user

    async def of_person(self, person: Person) -> list[dict[str, Any]]:
        return await self.store.lists.of_person(person)

    async def get(self, person: Person, list_id: str) -> dict[str, Any]:
        try:
            return await self.store.lists.get(person, list_id)
        except REFUSED as e:
            raise refusal(e) from e

    async def create(
        self,
        person: Person,
        name: str,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[dict[str, Any], bool]:
        if await self.store.lists.count_owned(person.id) >= self.max_lists_per_user:
            raise LimitReached(
                f"you own {self.max_lists_per_user} lists, the most one account may "
                "(max_lists_per_user); delete one first",
                limit="max_lists_per_user",
            )
        try:
            return await self.store.lists.create(
                person, name, idempotency_key=idempotency_key, fingerprint=fingerprint
            )
        except REFUSED as e:
            raise refusal(e) from e

    async def rename(
        self, person: Person, list_id: str, name: str, *, versions: Collection[int] | None = None
    ) -> dict[str, Any]:
        await self.default_made(person, list_id)
        try:
            return await self.store.lists.rename(
                person, list_id, name, allowed=OWNERS, versions=versions
            )
        except REFUSED as e:
            raise refusal(e, allowed=OWNERS) from e

    async def delete(
        self, person: Person, list_id: str, *, versions: Collection[int] | None = None
    ) -> dict[str, Any]:
        """Deletes the list with its tasks (each with its change)."""
        await self.default_made(person, list_id)
        try:
            gone = await self.store.tasks.delete_list(
                person, list_id, allowed=OWNERS, versions=versions
            )
        except REFUSED as e:
            raise refusal(e, allowed=OWNERS) from e
        await self.store.todos_urls.forget_list(list_id)
        return gone

    async def members(self, person: Person, list_id: str) -> list[dict[str, Any]]:
        await self.role(person, list_id, READERS)
        return await self.store.lists.people(list_id)

    async def set_member(
        self, person: Person, list_id: str, username: str, role: str
    ) -> tuple[dict[str, Any], bool]:
        """Adds the user with ``role``, or gives them that role: the membership, and
        whether they were added now."""
        await self.role(person, list_id, OWNERS)
        member = await self.person(username)
        try:
            result = await self.store.lists.set_member(
                person, list_id, member, role, allowed=OWNERS, limit=self.max_members
            )
        except MemberLimit as e:
            raise LimitReached(
                f"this list has {self.max_members} members, the most a list may "
                "(max_members_per_list); remove one first",
                limit="max_members_per_list",
            ) from e
        except REFUSED as e:
            raise refusal(e, allowed=OWNERS) from e
        if role not in EDITORS:  # a Todo-Backend URL is for editing: a new one if promoted
            await self.store.todos_urls.forget(member.id, list_id)
        return result

    async def remove_member(self, person: Person, list_id: str, username: str) -> None:
        """The owner removes a member, or a member leaves."""
        await self.role(person, list_id, READERS)
        member = await self.person(username)
        allowed = READERS if member.id == person.id else OWNERS
        try:
            await self.store.lists.remove_member(person, list_id, member.id, allowed=allowed)
        except NoAccess as e:
            if e.role is not None and member.id != person.id:
                raise refusal(e, allowed=allowed) from e
            raise NotFound("no such member of this list") from e
        except REFUSED as e:
            raise refusal(e) from e
        await self.store.todos_urls.forget(member.id, list_id)  # back later: a new URL

    async def todos_capability(
        self, person: Person, list_id: str, *, replace: bool = False
    ) -> str | None:
        """The person's Todo-Backend capability for the list (a new one with
        ``replace``), when they may edit it; None when they may only read it (Forbidden
        with ``replace``)."""
        role = await self.role(person, list_id, EDITORS if replace else READERS)
        if role not in EDITORS:
            return None
        todos = self.store.todos_urls
        if replace:
            return await todos.replace(person.id, list_id)
        return await todos.capability(person.id, list_id)

    async def todos_holder(self, capability: str) -> tuple[Person, str] | None:
        """Who a Todo-Backend capability acts for, and on which list: None unless it
        is current and its user may still edit that list."""
        found = await self.store.todos_urls.owner(capability)
        if found is None:
            return None
        user_id, list_id = found
        user = await self.store.users.by_id(user_id)
        if user is None:
            return None
        person = Person(user.id, user.username)
        if list_id != user.id and await self.store.lists.role(list_id, user.id) not in EDITORS:
            return None
        return person, list_id

    # --- helpers ---

    async def role(self, person: Person, list_id: str, allowed: Collection[str]) -> str:
        """The person's role in the list if it is ``allowed``: NotFound when they are no
        member, Forbidden when their role is another."""
        try:
            role = await self.store.lists.role(list_id, person.id)
            if role is None and list_id == person.id:
                await self.store.lists.ensure_default(person)
                role = "owner"
        except REFUSED as e:
            raise refusal(e) from e
        if role is None:
            raise NotFound(NO_SUCH_LIST)
        if role not in allowed:
            raise refusal(NoAccess(role), allowed=allowed)
        return role

    async def default_made(self, person: Person, list_id: str) -> None:
        """Makes the person's default list if ``list_id`` names it and it is not there
        yet, so that the write's own membership check finds it; other lists are
        checked by the write itself, in its transaction."""
        if list_id == person.id:
            await self.store.lists.ensure_default(person)

    async def person(self, username: str) -> Person:
        user = await self.store.users.by_username(username)
        if user is None:
            raise NotFound("no such user")
        return Person(user.id, user.username)
