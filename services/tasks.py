"""Tasks: one stored task, the rules every shape shares, and its representations.

The store returns a task as a plain dict (store/tasks.py). Each API shape is a small
mapping over it: ``native_task`` (``/api/tasks`` and live updates), ``classic_task``
(``/todo/api/v1.0/tasks``) and ``todo`` (Todo-Backend). Whoever is not a member of a
task's list cannot tell it from a missing one: NotFound either way (services/lists.py
has the roles).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Any

from store import Person, Store
from store.lists import NoAccess
from store.tasks import (
    EDITABLE,
    FIELDS,
    MISSING,
    ORDER_LIMIT,
    SORTS,
    TaskFilter,
    TaskLimit,
    TaskNotFound,
    due_key,
    is_cursor,
    is_rank,
)

from .errors import LimitReached, NotFound
from .lists import EDITORS, READERS, REFUSED, refusal

__all__ = [
    "EDITABLE",
    "ORDER_LIMIT",
    "SORTS",
    "TaskFilter",
    "Tasks",
    "classic_task",
    "due_key",
    "fingerprint",
    "is_cursor",
    "is_rank",
    "native_task",
    "todo",
]

Task = dict[str, Any]
NO_FILTER = TaskFilter()

NO_SUCH_TASK = "no such task"


# --- representations ---


def native_task(task: Mapping[str, Any]) -> Task:
    """The native form: every field of the task (times stay datetimes until encoded).
    A task recorded in the change log before a field existed shows its default."""
    return {name: task.get(name, MISSING.get(name)) for name in FIELDS}


def classic_task(task: Mapping[str, Any], uri: str) -> Task:
    """The classic tutorial's form: the task's absolute ``uri`` instead of its id."""
    return {
        "uri": uri,
        "title": task["title"],
        "description": task["description"],
        "done": task["done"],
    }


def todo(task: Mapping[str, Any], url: str) -> Task:
    """The Todo-Backend form: ``completed`` for done, and the todo's absolute ``url``."""
    return {"title": task["title"], "completed": task["done"], "order": task["order"], "url": url}


def fingerprint(body: Mapping[str, Any]) -> str:
    """A digest of a request body, the same however its keys are ordered."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- the rules ---


class Tasks:
    """The tasks of the lists a person is a member of; every write is recorded for
    live clients, for every member, by the store."""

    def __init__(self, store: Store, *, max_per_user: int = 10_000):
        self.store = store
        self.max_per_user = max_per_user

    async def page(
        self,
        viewer: Person,
        *,
        limit: int,
        list_id: str | None = None,
        sort: str = "order",
        filters: TaskFilter = NO_FILTER,
        after: str | None = None,
    ) -> tuple[list[Task], str | None]:
        """A page of the tasks of one list, or of every list the viewer can see."""
        visible = await self.store.lists.visible(viewer)
        if list_id is not None and list_id not in visible:
            raise NotFound("no such list", field="list_id")
        lists = [list_id] if list_id is not None else sorted(visible)
        return await self.store.tasks.page(
            lists, limit=limit, sort=sort, filters=filters, after=after
        )

    async def all(self, viewer: Person, list_id: str) -> list[Task]:
        """Every task of the list, in order: for the classic and Todo-Backend shapes."""
        role = await self.store.lists.role(list_id, viewer.id)
        if role not in READERS and list_id != viewer.id:  # a default list may not exist yet
            raise NotFound("no such list")
        return await self.store.tasks.all(list_id)

    async def get(self, viewer: Person, task_id: str, *, within: str | None = None) -> Task:
        """The task, if the viewer is a member of its list (and it is in ``within``)."""
        try:
            task = await self.store.tasks.get(task_id)
        except TaskNotFound as e:
            raise NotFound(NO_SUCH_TASK) from e
        if within is not None and task["list_id"] != within:
            raise NotFound(NO_SUCH_TASK)
        if await self.store.lists.role(task["list_id"], viewer.id) is None:
            raise NotFound(NO_SUCH_TASK)
        return task

    async def create(
        self,
        author: Person,
        fields: dict[str, Any],
        *,
        list_id: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[Task, bool]:
        """The new task, in ``list_id`` (by default the author's default list), and
        whether it was made now (False: an idempotent replay); LimitReached when the
        list's owner holds ``max_per_user`` tasks already."""
        try:
            return await self.store.tasks.create(
                author,
                list_id or author.id,
                fields,
                allowed=EDITORS,
                max_per_owner=self.max_per_user,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
            )
        except TaskLimit as e:
            raise self.limit_reached(e) from e
        except NoAccess as e:
            if e.role is None and list_id is not None:  # named, as a move names it
                raise NotFound("no such list", field="list_id") from e
            raise refusal(e, missing="no such list") from e
        except REFUSED as e:
            raise refusal(e, missing="no such list") from e

    async def update(
        self,
        author: Person,
        task_id: str,
        changes: dict[str, Any],
        *,
        versions: Collection[int] | None = None,
        within: str | None = None,
    ) -> Task:
        try:
            return await self.store.tasks.update(
                author,
                task_id,
                changes,
                allowed=EDITORS,
                versions=versions,
                within=within,
                max_per_owner=self.max_per_user,
            )
        except TaskNotFound as e:
            raise NotFound(NO_SUCH_TASK) from e
        except TaskLimit as e:
            raise self.limit_reached(e) from e
        except REFUSED as e:
            raise refusal(e, missing=NO_SUCH_TASK) from e

    def limit_reached(self, error: TaskLimit) -> LimitReached:
        whose = "you have" if error.own else "this list's owner has"
        return LimitReached(
            f"{whose} {self.max_per_user} tasks, the most one account may hold "
            "(max_tasks_per_user); delete some first",
            limit="max_tasks_per_user",
        )

    async def delete(
        self,
        author: Person,
        task_id: str,
        *,
        versions: Collection[int] | None = None,
        within: str | None = None,
    ) -> Task:
        try:
            return await self.store.tasks.delete(
                author, task_id, allowed=EDITORS, versions=versions, within=within
            )
        except TaskNotFound as e:
            raise NotFound(NO_SUCH_TASK) from e
        except REFUSED as e:
            raise refusal(e, missing=NO_SUCH_TASK) from e

    async def delete_all(self, author: Person, list_id: str) -> int:
        try:
            return await self.store.tasks.delete_all(author, list_id, allowed=EDITORS)
        except NoAccess as e:
            if e.role is None and list_id == author.id:
                return 0  # a default list not made yet holds nothing
            raise refusal(e) from e
