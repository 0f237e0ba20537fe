"""Every workaround for the embedded server (nx-27017), in one place.

taskhub is written for a real MongoDB replica set. The embedded server speaks the
same protocol but differs in the ways below; each helper names what a real MongoDB
does instead, and is correct on both. Nothing else in the project works around the
embedded server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC
from typing import Any

from bson import json_util
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

# --- types of stored values ---

# Only scalar kinds whose stored form may drift; others pass through untouched.
_CONVERTERS: dict[type, Callable[[Any], Any]] = {bool: bool, int: int, float: float}


def typed(doc: Mapping[str, Any], schema: Mapping[str, type]) -> dict[str, Any]:
    """A copy of ``doc`` whose fields named in ``schema`` have their declared type.

    The embedded server hands back a boolean written with ``$set`` as 1/0; a real
    MongoDB keeps the type, and then this changes nothing. Missing fields and None
    stay as they are; fields not in the schema pass through.
    """
    out = dict(doc)
    for name, kind in schema.items():
        value = out.get(name)
        convert = _CONVERTERS.get(kind)
        if value is not None and convert is not None and type(value) is not kind:
            out[name] = convert(value)
    return out


async def replace_whole(
    collection: AsyncCollection,
    match: Mapping[str, Any],
    document: Mapping[str, Any],
    session: AsyncClientSession | None = None,
) -> bool:
    """Writes ``document`` (without ``_id``) over the one ``match`` finds; whether
    one matched.

    The embedded server stores booleans and datetimes written with ``$set`` as
    numbers and text; a whole-document replace keeps their types. On a real MongoDB
    a ``$set`` of the changed fields would do, with less sent over the wire.
    """
    replacement = {k: v for k, v in document.items() if k != "_id"}
    result = await collection.replace_one(dict(match), replacement, session=session)
    return result.matched_count == 1


async def insert_or_get(collection: AsyncCollection, document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with ``document["_id"]``: the stored one when there is one, else
    ``document``, inserted now (a concurrent insert of the same ``_id`` wins).

    The embedded server ignores ``$setOnInsert``, so this reads, then inserts; on a
    real MongoDB one ``find_one_and_update(upsert=True)`` with ``$setOnInsert`` does it.
    """
    found = await collection.find_one({"_id": document["_id"]})
    if found is not None:
        return found
    try:
        await collection.insert_one(dict(document))
    except DuplicateKeyError:
        found = await collection.find_one({"_id": document["_id"]})
        if found is not None:
            return found
        raise
    return dict(document)


# --- change streams ---

# How often to ask for more events. The embedded server answers a getMore at once
# even when it has nothing; a real replica set holds it open for ``maxAwaitTimeMS``
# (see store/change_stream.py), and then these pauses are never reached.
CHANGES_POLL_INTERVAL = 0.02
LOGINS_POLL_INTERVAL = 0.25

_EXTENDED_JSON = json_util.JSONOptions(tz_aware=True, tzinfo=UTC)


def plain(value: Any) -> Any:
    """A change event's document as BSON types.

    The embedded server hands back a ``fullDocument`` whose dates are extended JSON
    (``{"$date": ...}``) and whose ``_id`` is a plain sub-document; a real MongoDB
    sends BSON dates and ObjectIds. Dates come out as datetimes either way; take ids
    from ``documentKey``, which both servers send right.
    """
    if isinstance(value, dict):
        if len(value) == 1 and "$date" in value:
            return json_util.object_hook(value, _EXTENDED_JSON)
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# A standalone mongod refuses change streams with this code.
CHANGE_STREAMS_UNSUPPORTED = 40573


def lacks_change_streams(error: OperationFailure) -> bool:
    """Whether ``error`` says the server has no change streams. A real standalone
    mongod says so by code; some servers only in words."""
    return error.code == CHANGE_STREAMS_UNSUPPORTED or "replica set" in str(error)


# --- transactions one at a time ---

# A replica set (or sharded cluster) isolates transactions: that is what production
# runs. The embedded server is a standalone that accepts transactions but nests
# concurrent ones into each other on one SQLite connection: the first to commit
# commits the others' writes too, and they then fail ("no such savepoint") with their
# writes already stored. A real standalone mongod refuses transactions outright. So
# on a standalone, taskhub runs its transactions one at a time: one per process (an
# asyncio lock), and one across every process sharing the server (a lease document).

# Longer than any one transaction takes; a process that died holding the lease
# delays the others by at most this long.
LEASE_SECONDS = 2
_LEASE_ID = "transactions"

# Two upserts of the lease colliding: a duplicate key, or, from the embedded
# server under concurrent writers, "Failed to get last row id" (code 8).
_COLLISION_CODES = {11000, 8}


class TransactionLock:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection
        self.local = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self.local:
            holder = uuid.uuid4().hex
            await self._acquire(holder)
            try:
                yield
            finally:
                await self.collection.delete_one({"_id": _LEASE_ID, "holder": holder})

    async def _acquire(self, holder: str) -> None:
        pause = 0.002
        while True:
            # milliseconds as an integer: the embedded server stores a datetime
            # written with $set as text, which no longer compares as a time
            now = int(time.time() * 1000)
            try:
                # takes a free or expired lease; while another holds it, the upsert
                # collides with its document instead
                await self.collection.update_one(
                    {"_id": _LEASE_ID, "expires_ms": {"$lt": now}},
                    {"$set": {"holder": holder, "expires_ms": now + LEASE_SECONDS * 1000}},
                    upsert=True,
                )
                return
            except WriteError as e:
                if e.code not in _COLLISION_CODES:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)
