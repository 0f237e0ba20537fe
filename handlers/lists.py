"""``/api/lists``: a user's lists, and their members.

A list is ``{id, name, owner: {id, username}, role, default, created_at,
updated_at, version}``, ``role`` being the caller's. Its ``ETag`` is its version:
``If-Match`` on PATCH and DELETE writes only at that version (else 412), and
``Idempotency-Key`` on POST makes a retry return the first answer, as for tasks.
Someone who is not a member gets 404 for the list, exactly as for a missing id.
"""

from __future__ import annotations

from typing import Any

from services.errors import InvalidInput
from services.lists import NAME_MAX, ROLES
from services.tasks import fingerprint

from .base import APIHandler, Route, authenticated
from .params import idempotency_key, reject_unknown, text, valid_unicode
from .tasks import WHITESPACE, if_match_versions
from .todo_backend import todos_url


def list_name(body: dict[str, Any]) -> str:
    reject_unknown(body, ("name",))
    name = text(body, "name", max_length=4 * NAME_MAX)
    name = valid_unicode(name.strip(WHITESPACE), "name")
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput(f"name must be 1 to {NAME_MAX} characters", field="name")
    return name


def list_etag(found: dict[str, Any]) -> str:
    return f'"{found["version"]}"'


class ListsHandler(APIHandler):
    """``/api/lists``: every list the caller owns or is a member of; new lists."""

    @authenticated
    async def get(self) -> None:
        self.write_json({"lists": await self.lists.of_person(self.person)})

    @authenticated
    async def post(self) -> None:
        body = self.body_fields()
        name = list_name(body)
        created, now = await self.lists.create(
            self.person,
            name,
            idempotency_key=idempotency_key(self.request.headers),
            fingerprint=fingerprint(body),
        )
        if not now:
            self.set_header("Idempotent-Replayed", "true")
        self.set_header("Location", self.reverse_url("list", created["id"]))
        self.set_header("ETag", list_etag(created))
        self.write_json({"list": created}, status=201)


class ListHandler(APIHandler):
    """``/api/lists/{id}``: one list, read, renamed or deleted (with its tasks)."""

    def versions(self) -> set[int] | None:
        return if_match_versions(self.request.headers.get("If-Match"))

    @authenticated
    async def get(self, list_id: str) -> None:
        found = await self.lists.get(self.person, list_id)
        capability = await self.lists.todos_capability(self.person, list_id)
        self.set_header("ETag", list_etag(found))
        url = todos_url(self, capability) if capability else None
        self.write_json({"list": {**found, "todos_url": url}})

    @authenticated
    async def patch(self, list_id: str) -> None:
        name = list_name(self.body_fields())
        renamed = await self.lists.rename(self.person, list_id, name, versions=self.versions())
        self.set_header("ETag", list_etag(renamed))
        self.write_json({"list": renamed})

    @authenticated
    async def delete(self, list_id: str) -> None:
        await self.lists.delete(self.person, list_id, versions=self.versions())
        self.no_content()


class MembersHandler(APIHandler):
    """``/api/lists/{id}/members``: who is in the list, with which role."""

    @authenticated
    async def get(self, list_id: str) -> None:
        self.write_json({"members": await self.lists.members(self.person, list_id)})


class MemberHandler(APIHandler):
    """``/api/lists/{id}/members/{username}``: the owner adds a member or changes their
    role (PUT ``{"role": "editor" | "viewer"}``), or removes them; a member leaves
    (DELETE with their own name)."""

    @authenticated
    async def put(self, list_id: str, username: str) -> None:
        body = self.body_fields()
        reject_unknown(body, ("role",))
        role = text(body, "role", max_length=16)
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
        member, _ = await self.lists.set_member(self.person, list_id, username, role)
        self.write_json({"member": member})

    @authenticated
    async def delete(self, list_id: str, username: str) -> None:
        await self.lists.remove_member(self.person, list_id, username)
        self.no_content()


class ListTodosUrlHandler(APIHandler):
    """``POST /api/lists/{id}/todos_url``: a new Todo-Backend URL for the list; the old
    one stops working."""

    @authenticated
    async def post(self, list_id: str) -> None:
        capability = await self.lists.todos_capability(self.person, list_id, replace=True)
        assert capability is not None  # a viewer was refused
        self.write_json({"todos_url": todos_url(self, capability)})


routes: list[Route] = [
    (r"/api/lists", ListsHandler, {}, "lists"),
    (r"/api/lists/([^/]+)", ListHandler, {}, "list"),
    (r"/api/lists/([^/]+)/members", MembersHandler),
    (r"/api/lists/([^/]+)/members/([^/]+)", MemberHandler),
    (r"/api/lists/([^/]+)/todos_url", ListTodosUrlHandler),
]
