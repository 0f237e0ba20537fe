"""Tasks: one stored task, the rules every shape shares, and its representations.

The store returns a task as a plain dict (store/tasks.py). Each API shape is a small
mapping over it: ``native_task`` (``/api/tasks`` and live updates), ``classic_task``
(``/todo/api/v1.0/tasks``) and ``todo`` (Todo-Backend). A user only ever reaches
their own tasks: someone else's id is NotFound, exactly like a missing one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Any

from store import Store
from store.idempotency import IdempotencyKeyReused
from store.tasks import FIELDS, ORDER_LIMIT, TaskNotFound, is_rank
from store.tasks import StaleVersion as StoreStaleVersion

from .errors import KeyReused, LimitReached, NotFound, StaleVersion

__all__ = ["ORDER_LIMIT", "Tasks", "classic_task", "fingerprint", "is_rank", "native_task", "todo"]

Task = dict[str, Any]


# --- representations ---


def native_task(task: Mapping[str, Any]) -> Task:
    """The native form: every field of the task (times stay datetimes until encoded)."""
    return {name: task[name] for name in FIELDS}


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
    """Each user's tasks; every write is recorded for live clients by the store."""

    def __init__(self, store: Store, *, max_per_user: int = 10_000):
        self.store = store
        self.max_per_user = max_per_user

    async def page(
        self, owner: str, *, limit: int, done: bool | None = None, after: str | None = None
    ) -> tuple[list[Task], str | None]:
        return await self.store.tasks.page(owner, limit=limit, done=done, after=after)

    async def all(self, owner: str) -> list[Task]:
        return await self.store.tasks.all(owner)

    async def get(self, owner: str, task_id: str) -> Task:
        try:
            return await self.store.tasks.get(owner, task_id)
        except TaskNotFound as e:
            raise NotFound("no such task") from e

    async def create(
        self,
        owner: str,
        fields: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> tuple[Task, bool]:
        """The new task and whether it was made now (False: an idempotent replay);
        LimitReached when the owner holds ``max_per_user`` tasks already."""
        if await self.store.tasks.count(owner) >= self.max_per_user:
            raise LimitReached(
                f"you have {self.max_per_user} tasks, the most one account may hold "
                "(max_tasks_per_user); delete some first",
                limit="max_tasks_per_user",
            )
        try:
            return await self.store.tasks.create(
                owner, fields, idempotency_key=idempotency_key, fingerprint=fingerprint
            )
        except IdempotencyKeyReused as e:
            raise KeyReused(
                "this Idempotency-Key came with a different request; use a new key",
                field="Idempotency-Key",
            ) from e

    async def update(
        self,
        owner: str,
        task_id: str,
        changes: dict[str, Any],
        *,
        versions: Collection[int] | None = None,
    ) -> Task:
        try:
            return await self.store.tasks.update(owner, task_id, changes, versions=versions)
        except (TaskNotFound, StoreStaleVersion) as e:
            raise self._refusal(e) from e

    async def delete(
        self, owner: str, task_id: str, *, versions: Collection[int] | None = None
    ) -> Task:
        try:
            return await self.store.tasks.delete(owner, task_id, versions=versions)
        except (TaskNotFound, StoreStaleVersion) as e:
            raise self._refusal(e) from e

    async def delete_all(self, owner: str) -> int:
        return await self.store.tasks.delete_all(owner)

    @staticmethod
    def _refusal(error: Exception) -> Exception:
        if isinstance(error, StoreStaleVersion):
            return StaleVersion(
                f"the task has changed: it is at version {error.task['version']}; "
                "fetch it and apply your change again",
                current=error.task,
            )
        return NotFound("no such task")
