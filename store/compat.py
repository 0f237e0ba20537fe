"""Every workaround for the embedded server (nx-27017), in one place.

taskhub is written for a real MongoDB replica set. The embedded server speaks the
same protocol but differs in the ways below; each helper names what a real MongoDB
does instead, and is correct on both. Nothing else in the project works around the
embedded server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import json_util
from bson.regex import Regex
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError, WriteError

from .errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# --- filters: equality written so that an index answers it ---

# Top-level operators whose value is a list of filters.
_FILTER_LISTS = ("$and", "$or", "$nor")


def _is_operators(value: Any) -> bool:
    """Whether ``value`` is a document of query operators (``{"$gt": 1}``), not a value."""
    return isinstance(value, Mapping) and bool(value) and all(str(k).startswith("$") for k in value)


def exact(query: Mapping[str, Any]) -> dict[str, Any]:
    """``query`` with every bare equality ``{field: value}`` written
    ``{field: {"$eq": value}}``; operator documents, regular expressions and
    top-level operators stay as they are (the clauses of ``$and``/``$or``/``$nor``
    are rewritten the same way). ``_id`` is rewritten like any other field.

    On a real MongoDB both forms are the same query, answered from the same index.
    The embedded server translates a bare equality with array-element semantics,
    ``field = ? OR EXISTS (SELECT 1 FROM json_each(field) WHERE value = ?)``, which
    SQLite cannot answer from an index on ``field``: such a query scans every
    document of the collection, every user's. ``$eq`` it translates to a plain
    ``field = ?`` that uses the index (its plan: ``SEARCH ... USING INDEX``), so a
    user's request costs the same with one user stored as with thousands. What the
    embedded server loses with ``$eq`` is matching inside arrays; the store filters
    no array fields.
    """
    out: dict[str, Any] = {}
    for key, value in query.items():
        if key in _FILTER_LISTS:
            out[key] = [exact(clause) for clause in value]
        elif key.startswith("$") or _is_operators(value):
            out[key] = value
        elif isinstance(value, re.Pattern | Regex):
            out[key] = value  # a pattern to match, not a value to equal
        else:
            out[key] = {"$eq": value}
    return out


# --- expiry: a TTL index, or the store's own purge ---

# The field holding the time a document expires, in every collection that has one.
EXPIRES = "expires_at"

# Seconds between purges of expired documents on a standalone: what MongoDB's TTL
# monitor does on its own, as often.
PURGE_INTERVAL = 60.0


async def expiry_index(collection: AsyncCollection, field: str = EXPIRES, *, ttl: bool) -> None:
    """Indexes ``field``: as a TTL index (``expireAfterSeconds=0``: a document goes
    when ``field`` is past) when ``ttl``, else as a plain index, for ``purge_expired``.

    Give ``ttl=False`` on a standalone. The embedded server is one, and it enforces a
    TTL index on every read of the collection: before each find, count or aggregate it
    runs ``DELETE ... WHERE datetime(<field>) < now``, which no index serves, so every
    read, a token lookup included, scans every document of the collection. The plain
    index plus a purge once a minute (``purge_expired``, run by the Store) removes the
    same documents and costs nothing per read. A real MongoDB removes them with a
    background TTL monitor once a minute and its reads pay nothing: on a replica set,
    production, the TTL index stays. Lookups check expiry themselves either way.

    An index of the same key with the other kind is dropped first (a real MongoDB
    refuses two indexes of one key), so that an existing data directory loses its
    per-read sweep, and regains its TTL index when moved to a replica set.
    """
    indexes = await (await collection.list_indexes()).to_list()
    for index in indexes:
        if list(index["key"]) == [field] and ("expireAfterSeconds" in index) != ttl:
            await collection.drop_index(index["name"])
    if ttl:
        await collection.create_index([(field, ASCENDING)], expireAfterSeconds=0)
    else:
        await collection.create_index([(field, ASCENDING)])


async def purge_expired(collection: AsyncCollection, now: datetime, field: str = EXPIRES) -> int:
    """Deletes the documents whose ``field`` is before ``now``; how many.

    What a TTL index does on a real MongoDB, for a standalone (see ``expiry_index``).
    The deletes are ordinary deletes, seen by change streams (logins that end by
    expiry reach live sockets as on a replica set). The embedded server answers this
    with one scan of the collection (it does not serve a date range from the index); a
    real MongoDB from the index.
    """
    result = await collection.delete_many({field: {"$lt": now}})
    return result.deleted_count


async def purge_periodically(purge: Callable[[], Awaitable[int]], interval: float) -> None:
    """Calls ``purge`` every ``interval`` seconds until cancelled; a failed purge (the
    database away) is logged and tried again at the next turn."""
    while True:
        try:
            removed = await purge()
            if removed:
                log.debug("purged %d expired documents", removed)
        except PyMongoError as e:
            log.warning("purging expired documents failed, trying again in %gs: %s", interval, e)
        await asyncio.sleep(interval)


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
        if name in out:
            out[name] = typed_value(out[name], kind)
    return out


def typed_value(value: Any, kind: type) -> Any:
    """``value`` as ``kind``, as ``typed`` makes a document's fields."""
    convert = _CONVERTERS.get(kind)
    if value is not None and convert is not None and type(value) is not kind:
        return convert(value)
    return value


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
    result = await collection.replace_one(exact(match), replacement, session=session)
    return result.matched_count == 1


async def insert_or_get(collection: AsyncCollection, document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with ``document["_id"]``: the stored one when there is one, else
    ``document``, inserted now (a concurrent insert of the same ``_id`` wins).

    The embedded server ignores ``$setOnInsert``, so this reads, then inserts; on a
    real MongoDB one ``find_one_and_update(upsert=True)`` with ``$setOnInsert`` does it.
    """
    found = await collection.find_one(exact({"_id": document["_id"]}))
    if found is not None:
        return found
    try:
        await collection.insert_one(dict(document))
    except DuplicateKeyError:
        found = await collection.find_one(exact({"_id": document["_id"]}))
        if found is not None:
            return found
        raise
    return dict(document)


# --- times written with $set ---


def stored_time(moment: datetime) -> int:
    """``moment`` as whole milliseconds since the epoch: the stored form of a time that
    a ``$set`` writes and a filter compares.

    The embedded server stores a datetime written with ``$set`` as text, which then
    neither reads back as a datetime nor compares as a time (``$lt``); an integer keeps
    both. On a real MongoDB a BSON date would do.
    """
    return int(moment.timestamp() * 1000)


def time_from_stored(millis: int) -> datetime:
    """The time ``stored_time`` wrote, in UTC."""
    return datetime.fromtimestamp(millis / 1000, UTC)


# --- change streams ---

# How often to ask for more events. A real replica set holds a change stream's
# getMore open for ``maxAwaitTimeMS`` (store/change_stream.py) and answers as soon as
# an event comes, so nothing need poll there. The embedded server answers a getMore
# at once even when it has nothing, so a stream on it is polled, adaptively: every
# CHANGES_POLL_INTERVAL (LOGINS_POLL_INTERVAL) while events come and for
# POLL_FAST_FOR seconds after the last one, then backing off (doubling) to one
# getMore every POLL_IDLE_INTERVAL. A change after a quiet period thus reaches the
# sockets within about POLL_IDLE_INTERVAL plus one getMore (about 1 s), and the ones
# that follow it within the fast interval; an idle process asks about once a second
# per stream instead of ~50 times. The process that stored a change asks at once
# (store/change_stream.py: Watch.wake).
CHANGES_POLL_INTERVAL = 0.02
LOGINS_POLL_INTERVAL = 0.25
POLL_IDLE_INTERVAL = 1.0
POLL_FAST_FOR = 2.0
POLL_BACKOFF = 2.0
# A getMore that took at least this long to come back empty was held open by the
# server (a real MongoDB's maxAwaitTimeMS): that stream is never paused again.
SERVER_AWAITS_SECONDS = 0.5


class PollPace:
    """How long a change stream pauses after a getMore that brought nothing.

    On a server that holds the getMore open (a real MongoDB) the pause is always
    zero: the blocking getMore is the wait. On one that answers at once (the
    embedded server) the pause is short right after an event and grows to
    ``idle`` seconds once the stream has been quiet for ``fast_for`` seconds.
    """

    def __init__(
        self,
        fast: float,
        *,
        idle: float = POLL_IDLE_INTERVAL,
        fast_for: float = POLL_FAST_FOR,
        backoff: float = POLL_BACKOFF,
    ):
        self.fast = fast
        self.idle = max(idle, fast)
        self.fast_for = fast_for
        self.backoff = backoff
        self.interval = fast
        self.last_event = time.monotonic()  # a stream just (re)opened starts fast
        self.server_awaits = False

    def event(self) -> None:
        """An event came: poll fast again."""
        self.interval = self.fast
        self.last_event = time.monotonic()

    def pause(self, waited: float) -> float:
        """Seconds to sleep after a getMore that took ``waited`` seconds and brought
        nothing."""
        if waited >= SERVER_AWAITS_SECONDS:
            self.server_awaits = True
        if self.server_awaits:
            return 0.0
        if time.monotonic() - self.last_event >= self.fast_for:
            self.interval = min(self.idle, self.interval * self.backoff)
        return max(0.0, self.interval - waited)


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


# --- the change log, read while a change is being written ---

# How long a change being written may take to show beside its counter.
CHANGE_SETTLE_SECONDS = 0.02


async def read_again_on_gap(read: Callable[[], Awaitable[T | None]]) -> T | None:
    """``read()``, and once more after a moment when it finds a gap (None).

    A real MongoDB commits a change and its owner's counter together, so a gap there
    is real (the change has expired) and the second read finds it too. The embedded
    server shows the counter of a transaction still writing before its change: a
    catch-up reading just then would see a gap and send a needless resync."""
    found = await read()
    if found is None:
        await asyncio.sleep(CHANGE_SETTLE_SECONDS)
        found = await read()
    return found


# --- transactions one at a time ---

# A replica set (or sharded cluster) isolates transactions: that is what production
# runs. The embedded server is a standalone that accepts transactions but nests
# concurrent ones into each other on one SQLite connection: the first to commit
# commits the others' writes too, and they then fail ("no such savepoint") with their
# writes already stored. A real standalone mongod refuses transactions outright. So
# on a standalone, taskhub runs its transactions one at a time: one per process (an
# asyncio lock), and one across every process sharing the server (a lease document).
#
# Taking and releasing the lease for each transaction costs two round trips, which a
# process writing alone (./run over its own database) need not pay: a process keeps
# the lease between its transactions while nobody else asks for it. Another process
# that finds it kept marks it ``wanted``; the keeper sees that at its next renewal
# (every KEEP_RENEW_SECONDS), hands the lease back and takes it per transaction for
# SHARED_SECONDS, as does every process that had to wait for it. Processes that share the server thus still take turns, and one
# writing alone pays for the lease only when it starts writing after a pause.

# Longer than any one transaction takes; a process that died holding the lease
# delays the others by at most this long (KEEP_SECONDS for a kept lease).
LEASE_SECONDS = 2
KEEP_SECONDS = 4
KEEP_RENEW_SECONDS = 0.25
# A kept lease goes back after this long without a transaction, so that an idle
# process writes nothing.
KEEP_IDLE_SECONDS = 2.0
SHARED_SECONDS = 300.0
_LEASE_ID = "transactions"
# The comment a renewal carries: sent in the background, by no request, so that
# counts of a request's commands can leave it out.
LEASE_RENEWAL = "renew the write lease"

# Two upserts of the lease colliding: a duplicate key, or, from the embedded
# server under concurrent writers, "Failed to get last row id" (code 8).
_COLLISION_CODES = {11000, 8}


def _now_ms() -> int:
    # milliseconds as an integer: the embedded server stores a datetime written with
    # $set as text, which no longer compares as a time
    return int(time.time() * 1000)


class TransactionLock:
    """One transaction at a time, in this process and across the processes sharing
    the server. ``keep``: keep the lease between transactions while no other process
    asks for it (see above)."""

    def __init__(self, collection: AsyncCollection, *, keep: bool = True):
        self.collection = collection
        self.local = asyncio.Lock()
        self.keep = keep
        self.keeper = uuid.uuid4().hex  # this process, as the holder of a kept lease
        self.kept_until_ms = 0  # when the kept lease runs out; 0: none kept
        self._shared_until = 0.0  # per-transaction leases until then (monotonic)
        self._last_used = 0.0
        self._renewing: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def held(self, timeout: float) -> AsyncIterator[None]:
        """The lock, in this process and across processes, or Unavailable when it
        cannot be had within ``timeout`` seconds (writes queue no longer than that)."""
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self.local.acquire(), timeout)
        except TimeoutError:
            raise Unavailable("the database is busy with other writes; try again") from None
        try:
            release = await self._take(deadline)
            try:
                yield
            finally:
                if release is not None:
                    await self.collection.delete_one({"_id": _LEASE_ID, "holder": release})
        finally:
            self._last_used = time.monotonic()
            self.local.release()

    async def close(self) -> None:
        """Stops renewing, and hands back a kept lease (the process is stopping)."""
        task, self._renewing = self._renewing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self.local:
            await self._hand_back()

    async def _take(self, deadline: float) -> str | None:
        """Takes the lease for one transaction: None when it is kept (a round trip
        only when it is not kept yet, or its renewals failed), else the holder to
        release after it."""
        keeping = self.keep and time.monotonic() >= self._shared_until
        if keeping and self.kept_until_ms - _now_ms() >= LEASE_SECONDS * 1000:
            return None
        holder = self.keeper if keeping else uuid.uuid4().hex
        until, kept = await self._acquire(holder, deadline, keep=keeping)
        if not kept:  # another process writes too
            self.kept_until_ms = 0
            return holder
        self.kept_until_ms = until
        if self._renewing is None:
            self._renewing = asyncio.create_task(self._renew(), name="renew the write lease")
        return None

    async def _renew(self) -> None:
        """While the lease is kept: extends it, or hands it back when another process
        wants it or this one stopped writing."""
        try:
            while self.kept_until_ms:
                await asyncio.sleep(KEEP_RENEW_SECONDS)
                async with self.local:  # never while a transaction of ours runs
                    if not self.kept_until_ms:
                        return
                    if time.monotonic() - self._last_used >= KEEP_IDLE_SECONDS:
                        await self._hand_back()
                    elif not await self._extend():
                        self._shared_until = time.monotonic() + SHARED_SECONDS
                        await self._hand_back()
        finally:
            if self._renewing is asyncio.current_task():
                self._renewing = None

    async def _extend(self) -> bool:
        """Extends the kept lease unless another process wants it: whether it did.
        A failed renewal (the database away) keeps it until it runs out."""
        now = _now_ms()
        try:
            result = await self.collection.update_one(
                {"_id": _LEASE_ID, "holder": self.keeper, "wanted": 0},
                {"$set": {"expires_ms": now + KEEP_SECONDS * 1000}},
                comment=LEASE_RENEWAL,
            )
        except PyMongoError as e:
            log.debug("renewing the write lease failed: %s", e)
            return True
        if result.matched_count == 1:
            self.kept_until_ms = now + KEEP_SECONDS * 1000
        return result.matched_count == 1

    async def _hand_back(self) -> None:
        if not self.kept_until_ms:
            return
        self.kept_until_ms = 0
        try:
            await self.collection.delete_one({"_id": _LEASE_ID, "holder": self.keeper})
        except PyMongoError as e:  # it runs out on its own
            log.debug("handing back the write lease failed: %s", e)

    async def _acquire(self, holder: str, deadline: float, *, keep: bool) -> tuple[int, bool]:
        """Takes the lease as ``holder``, waiting while another holds it: when it runs
        out (in ms), and whether it is kept. One that had to wait is taken for one
        transaction, and so are the next ones for SHARED_SECONDS: another process
        writes too. Meanwhile, a kept lease is asked for (``wanted``) every so often,
        as its holder may change while this one waits."""
        pause = 0.002
        contended = False
        asked = -KEEP_RENEW_SECONDS
        while True:
            if time.monotonic() > deadline:
                raise Unavailable("another process holds the database's write lease")
            now = _now_ms()
            kept = keep and not contended
            until = now + int((KEEP_SECONDS if kept else LEASE_SECONDS) * 1000)
            try:
                # takes a free or expired lease (or renews one's own); while another
                # holds it, the upsert collides with its document instead
                await self.collection.update_one(
                    {"_id": _LEASE_ID, "$or": [{"expires_ms": {"$lt": now}}, {"holder": holder}]},
                    {
                        "$set": {
                            "holder": holder,
                            "expires_ms": until,
                            "kept": int(kept),
                            "wanted": 0,
                        }
                    },
                    upsert=True,
                )
                return until, kept
            except WriteError as e:
                if e.code not in _COLLISION_CODES:
                    raise
            contended = True
            self._shared_until = time.monotonic() + SHARED_SECONDS
            if time.monotonic() - asked >= KEEP_RENEW_SECONDS / 2:
                asked = time.monotonic()
                await self.collection.update_one(
                    {"_id": _LEASE_ID, "kept": 1}, {"$set": {"wanted": 1}}
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
