"""What changed for a user since a ``seq``: the same messages ``/api/live`` sends, for
clients that cannot hold a socket (a mini-program in the background), or that were
away. The change log keeps them as long as live catch-up does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from store import Store
from store.changes import BODY_FIELDS

from .tasks import native_task


def change_payload(change: dict[str, Any]) -> dict[str, Any]:
    """A change as clients receive it, over the socket and from ``/api/changes``: its
    type, what it carries (a task, a list, or a list's id and a member), its seq."""
    payload: dict[str, Any] = {"type": change["type"]}
    for name in BODY_FIELDS:
        if name in change:
            payload[name] = native_task(change[name]) if name == "task" else change[name]
    payload["seq"] = change["seq"]
    return payload


@dataclass(frozen=True)
class ChangesPage:
    changes: list[dict[str, Any]]
    seq: int  # the seq to ask after next time
    more: bool  # whether more changes follow right away


@dataclass(frozen=True)
class Resync:
    """The changes after the client's seq are gone: it fetches its lists again, then
    follows from ``seq``."""

    seq: int


class Changes:
    def __init__(self, store: Store):
        self.store = store

    async def since(self, owner: str, since: int | None, limit: int) -> ChangesPage | Resync:
        """The owner's changes after ``since``, oldest first, ``limit`` at most.
        Without ``since``, none: only where the log stands now."""
        if since is None:
            return ChangesPage([], await self.store.changes.last_seq(owner), False)
        page = await self.store.changes.page_after(owner, since, limit)
        if page is None:
            return Resync(await self.store.changes.last_seq(owner))
        found, _, more = page
        seq = found[-1]["seq"] if found else since
        return ChangesPage([change_payload(c) for c in found], seq, more)
