"""A whole instance as JSON lines: what ``taskhub export`` writes and ``taskhub import``
reads, to move from the embedded database to MongoDB, or between hosts.

The first line says what the file is; every other line is one stored document and
the collection it belongs to, in MongoDB's canonical Extended JSON, so that ids,
dates and integers come back with their types. What is kept is what people would
miss: accounts (with their password hashes: everyone logs in as before), lists and
their members, tasks (ids and versions as they were), each user's change counter,
scores, Todo-Backend URLs and invitations. Logins, the change log and the
short-lived records (lockouts, tickets, idempotency keys) are not: after an import
everyone logs in again, and a live client that remembers a ``seq`` is told to
resync, as it would be once the log had moved on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC
from typing import Any

from bson import json_util
from pymongo.asynchronous.database import AsyncDatabase

from .changes import counters
from .clock import utcnow

FORMAT = "taskhub-instance/1"
KEPT = (
    "users",
    "lists",
    "list_members",
    "tasks",
    "change_counters",
    "scores",
    "todos_urls",
    "invites",
)
BATCH = 1000

_JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, tz_aware=True, tzinfo=UTC)


class BackupError(ValueError):
    """The file is not an instance export, or the database to import into is not empty."""


async def export_lines(db: AsyncDatabase) -> AsyncIterator[str]:
    """The instance as lines (without their newlines), a document at a time."""
    yield json.dumps({"format": FORMAT, "collections": list(KEPT), "at": utcnow().isoformat()})
    for name in KEPT:
        # each user's last seq is kept in their head, beside the change log; an
        # import moves it back there (store/changes.py)
        docs = (
            counters(db.changes) if name == "change_counters" else db[name].find({}).sort("_id", 1)
        )
        async for doc in docs:
            yield json_util.dumps({"collection": name, "document": doc}, json_options=_JSON)


async def import_lines(db: AsyncDatabase, lines: Iterable[str]) -> dict[str, int]:
    """Stores every document of an export in ``db``, which must hold none of the kept
    collections' documents yet; how many went into each collection."""
    for name in KEPT:
        if await db[name].find_one({}, {"_id": 1}) is not None:
            raise BackupError(
                f"the database is not empty ({name} has documents): import into a new one"
            )
    numbered = iter(enumerate(lines, start=1))
    header = _header(next(numbered, (1, ""))[1])
    if header.get("format") != FORMAT:
        raise BackupError(f"not a taskhub export: its first line names {header.get('format')!r}")
    counts = dict.fromkeys(KEPT, 0)
    pending: dict[str, list[dict[str, Any]]] = {name: [] for name in KEPT}
    for number, line in numbered:
        if not line.strip():
            continue
        name, doc = _entry(line, number)
        pending[name].append(doc)
        if len(pending[name]) >= BATCH:
            counts[name] += await _flush(db, name, pending)
    for name in KEPT:
        counts[name] += await _flush(db, name, pending)
    return counts


def _header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except ValueError as e:
        raise BackupError("not a taskhub export: its first line is not JSON") from e
    if not isinstance(header, dict):
        raise BackupError("not a taskhub export: its first line is not a JSON object")
    return header


def _entry(line: str, number: int) -> tuple[str, dict[str, Any]]:
    try:
        entry = json_util.loads(line, json_options=_JSON)
    except (ValueError, TypeError) as e:
        raise BackupError(f"line {number} is not Extended JSON: {e}") from e
    name = entry.get("collection") if isinstance(entry, dict) else None
    doc = entry.get("document") if isinstance(entry, dict) else None
    if name not in KEPT or not isinstance(doc, dict) or "_id" not in doc:
        raise BackupError(f"line {number} is not a document of a kept collection")
    return name, doc


async def _flush(db: AsyncDatabase, name: str, pending: dict[str, list[dict[str, Any]]]) -> int:
    docs, pending[name] = pending[name], []
    if docs:
        await db[name].insert_many(docs, ordered=True)
    return len(docs)
