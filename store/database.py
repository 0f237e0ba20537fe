"""One MongoDB client per process, and the typed collections reached through it."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ProtocolError,
    PyMongoError,
)

from .backup import export_lines, import_lines
from .change_stream import TaskChanges, Watch, ended_logins, task_changes
from .changes import Changes
from .clock import utcnow
from .compat import (
    EXPIRES,
    PURGE_INTERVAL,
    TransactionLock,
    expiry_index,
    purge_expired,
    purge_periodically,
)
from .errors import Unavailable
from .idempotency import IdempotencyKeys
from .invites import Invites
from .lists import Lists
from .login_failures import LoginFailures
from .scores import Scores
from .tasks import Tasks
from .tickets import Tickets
from .todos_urls import TodosUrls
from .tokens import Tokens
from .users import Users

log = logging.getLogger(__name__)

T = TypeVar("T")

LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
# Floods of the scoring form are counted per client address within this window.
SCORE_FLOOD_WINDOW_SECONDS = 60
# How long changes are kept for live clients catching up after a disconnect.
CHANGE_RETENTION_SECONDS = 24 * 3600
# How long an Idempotency-Key's first answer is kept for retries (at least a day).
IDEMPOTENCY_KEY_RETENTION_SECONDS = 24 * 3600

# With no server up, a request answers 503 (with Retry-After) after this long rather
# than pymongo's default 30 s: a client retries sooner than a queue of requests would
# drain, and none of them holds the write lock meanwhile. A replica set's election
# (seconds) is answered 503 too, and retried by clients.
SERVER_SELECTION_TIMEOUT_MS = 500


class Store:
    """The collections taskhub uses, each behind a small typed class."""

    def __init__(self, client: AsyncMongoClient, database: str, *, operation_timeout: float = 5.0):
        self.client = client
        self.admin = client.admin  # made once: a health check pings it every time
        # no request waits on the database longer than this, retries included
        self.operation_timeout = operation_timeout
        self.db = client[database]
        self.users = Users(self.db.users)
        self.tokens = Tokens(self.db.tokens)
        self.login_failures = LoginFailures(
            self.db.login_failures, LOGIN_FAILURE_WINDOW_SECONDS, accounts=self.db.users
        )
        self.changes = Changes(self.db.changes, self.db.change_counters, CHANGE_RETENTION_SECONDS)
        self.tickets = Tickets(self.db.live_tickets, self.db.tokens)
        self.idempotency_keys = IdempotencyKeys(
            self.db.idempotency_keys, IDEMPOTENCY_KEY_RETENTION_SECONDS
        )
        self.lists = Lists(
            self.db.lists,
            self.db.list_members,
            self.changes,
            self.idempotency_keys,
            self.in_transaction,
        )
        self.tasks = Tasks(
            self.db.tasks,
            self.lists,
            self.changes,
            self.idempotency_keys,
            self.in_transaction,
            self.standalone,
        )
        self.todos_urls = TodosUrls(self.db.todos_urls)
        self.invites = Invites(self.db.invites)
        self.transaction_lock = TransactionLock(self.db.transaction_lock)
        self._standalone: bool | None = None
        # this process's streams of changes, woken by its own commits (in_transaction)
        self._change_watches: weakref.WeakSet[TaskChanges] = weakref.WeakSet()
        self.scores = Scores(self.db.scores)
        # counted like failed logins, with the client address as the "account"
        self.score_flood = LoginFailures(self.db.score_flood, SCORE_FLOOD_WINDOW_SECONDS)
        # submissions per user (or anonymous address) in a day, for max_scores_per_day
        self.score_daily = LoginFailures(self.db.score_daily, 24 * 3600)

    async def create_indexes(self) -> None:
        """Idempotent: creating an index that exists already changes nothing.

        Documents with an ``expires_at`` go when it passes: by TTL indexes on a
        replica set; on a standalone by ``purge_expired``, run every minute between
        ``start_purging`` and ``stop_purging`` (store/compat.py: expiry_index says why).
        """
        for collection in (
            self.users,
            self.tokens,
            self.login_failures,
            self.changes,
            self.tickets,
            self.idempotency_keys,
            self.lists,
            self.tasks,
            self.todos_urls,
            self.invites,
            self.scores,
            self.score_flood,
            self.score_daily,
        ):
            await collection.create_indexes()
        ttl = not await self.standalone()
        for expiring in self._expiring():
            await expiry_index(expiring, EXPIRES, ttl=ttl)
        adopted = await self.tasks.adopt_unlisted(self.users.username_of)
        if adopted:
            log.info("%d tasks from before lists moved into their owners' default lists", adopted)

    async def in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Runs ``work(session)`` in one multi-document transaction, retried by the
        driver on transient errors; ``work`` must pass ``session`` to every operation.

        The whole of it, waits and retries included, is bounded by the operation
        timeout, so that nothing commits long after its client gave up. With no
        server known to be up it fails at once (Unavailable): within the bound,
        server selection would otherwise wait out all of it.
        """
        if not self.client.topology_description.has_writable_server():
            try:  # the monitor may just not know yet: one look, as long as any read's
                await self.client.admin.command("ping")
            except PyMongoError as e:
                raise Unavailable(f"no database server is up: {e}") from e
        with pymongo.timeout(self.operation_timeout):
            if await self.standalone():
                # no isolation between concurrent transactions there: one at a time
                async with self.transaction_lock.held(self.operation_timeout):
                    done = await self._transaction(work)
            else:
                done = await self._transaction(work)
        # the changes it recorded reach this process's sockets without waiting for
        # the next poll (other processes' streams find them at theirs)
        for watch in self._change_watches:
            watch.wake()
        return done

    async def _transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        async with self.client.start_session() as session:
            return await session.with_transaction(work)

    async def standalone(self) -> bool:
        """Whether the server is a standalone rather than a replica set or mongos
        (asked once)."""
        if self._standalone is None:
            hello = await self.client.admin.command("hello")
            self._standalone = "setName" not in hello and hello.get("msg") != "isdbgrid"
        return self._standalone

    def watch_changes(
        self,
        on_change: Callable[[dict[str, Any]], None],
        on_history_lost: Callable[[], Awaitable[None]],
        owners: Collection[str] | None = None,
    ) -> TaskChanges:
        """A change stream of the changes recorded for ``owners`` (None: every
        change; not yet started)."""
        watch = task_changes(self.changes.collection, on_change, on_history_lost, owners=owners)
        self._change_watches.add(watch)
        return watch

    def watch_ended_logins(self, on_ended: Callable[[str], None]) -> Watch:
        """A change stream of the digests of logins that end (not yet started)."""
        return ended_logins(self.tokens.collection, on_ended)

    def export_lines(self) -> AsyncIterator[str]:
        """The instance as JSON lines (store/backup.py)."""
        return export_lines(self.db)

    async def import_lines(self, lines: Iterable[str]) -> dict[str, int]:
        """Fills this (empty) database from an export; how many documents of each kind."""
        counts = await import_lines(self.db, lines)
        await self.create_indexes()
        return counts

    async def ping(self, timeout: float = 2.0) -> None:
        """Returns once the server answers; raises within ``timeout`` seconds when not
        (NetworkTimeout). The bound is the event loop's, which costs less CPU per
        call than pymongo's own (``pymongo.timeout``): a health check is all ping."""
        try:
            async with asyncio.timeout(timeout):
                await self.admin.command("ping")
        except TimeoutError as e:
            raise NetworkTimeout(f"the database did not answer a ping within {timeout:g}s") from e

    async def close(self) -> None:
        await self.tokens.ended.stop()
        with pymongo.timeout(self.operation_timeout):
            await self.transaction_lock.close()
        await self.client.close()

    # --- expiry on a standalone, where there are no TTL indexes (create_indexes) ---

    _purging: asyncio.Task[None] | None = None

    def _expiring(self) -> tuple[AsyncCollection, ...]:
        """The collections whose documents expire at their ``expires_at``."""
        return (
            self.tokens.collection,
            self.login_failures.collection,
            self.changes.collection,
            self.tickets.collection,
            self.idempotency_keys.collection,
            self.score_flood.collection,
            self.score_daily.collection,
        )

    async def purge_expired(self) -> int:
        """Deletes every expired document now; how many. What MongoDB's TTL monitor
        does once a minute on a replica set; logins it ends reach live sockets through
        ``watch_ended_logins`` like any other deletion."""
        now = utcnow()
        removed = 0
        for collection in self._expiring():
            removed += await purge_expired(collection, now, EXPIRES)
        return removed

    async def start_purging(self, interval: float = PURGE_INTERVAL) -> None:
        """On a standalone server, purges expired documents now and then every
        ``interval`` seconds in the background, until ``stop_purging``; on a replica
        set, where TTL indexes do it, nothing. Call once at process start, after
        ``create_indexes``; calling it again while it runs changes nothing."""
        if self._purging is not None or not await self.standalone():
            return
        self._purging = asyncio.create_task(
            purge_periodically(self.purge_expired, interval), name="purge expired documents"
        )

    async def stop_purging(self) -> None:
        """Stops what ``start_purging`` started (call before ``close``)."""
        task, self._purging = self._purging, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass


def bounded(operation_timeout: float) -> dict[str, int]:
    """Client options under which no socket waits on a silent server longer than
    ``operation_timeout`` seconds. Not timeoutMS: under it, server selection waits
    out the whole timeout even when the server is known to be down."""
    bound = int(operation_timeout * 1000)
    return {"socketTimeoutMS": bound, "connectTimeoutMS": bound}


def make_client(uri: str, **options: Any) -> AsyncMongoClient:
    options.setdefault("serverSelectionTimeoutMS", SERVER_SELECTION_TIMEOUT_MS)
    return AsyncMongoClient(uri, tz_aware=True, connect=False, **options)


class DatabaseUnreachable(ConnectionFailure):
    """The database did not answer: ``hosts`` names where it was looked for, ``reason``
    says why in a few words ("connection refused"); ``timed_out`` is False when it
    failed at once (authentication, DNS), as waiting would not mend it."""

    def __init__(self, hosts: str, reason: str, *, timed_out: bool):
        super().__init__(f"{hosts}: {reason}")
        self.hosts, self.reason, self.timed_out = hosts, reason, timed_out


async def wait_until_reachable(client: AsyncMongoClient, timeout: float) -> None:
    """Pings until the server answers, saying each time which hosts it waits for and
    why; raises DatabaseUnreachable after ``timeout`` seconds, or at once for a refusal
    that waiting does not mend (authentication, a DNS SRV record)."""
    deadline = time.monotonic() + timeout
    each = client.options.server_selection_timeout
    while True:
        try:
            # each ping waits as the client does, but none outlasts the deadline
            with pymongo.timeout(max(min(each, deadline - time.monotonic()), 0.2)):
                await client.admin.command("ping")
            return
        except (ConnectionFailure, ExecutionTimeout) as e:
            hosts, reason = why_unreachable(client, e)
            if time.monotonic() >= deadline:
                raise DatabaseUnreachable(hosts, reason, timed_out=True) from e
            log.info("waiting for the database at %s to answer: %s", hosts, reason)
            await asyncio.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
        except (ConfigurationError, OperationFailure) as e:
            hosts, reason = why_unreachable(client, e)
            raise DatabaseUnreachable(hosts, reason, timed_out=False) from e


def why_unreachable(client: AsyncMongoClient, error: PyMongoError) -> tuple[str, str]:
    """The hosts the client looked for, and why they did not answer, in one line (the
    driver's own message runs to hundreds of characters)."""
    servers = client.topology_description.server_descriptions()
    hosts = ", ".join(_address(a) for a in servers) or "the configured hosts"
    if isinstance(error, OperationFailure) and not isinstance(error, ExecutionTimeout):
        if error.code == 18 or "authentication" in str(error).lower():
            return hosts, "authentication failed: check the user and password in the URI"
        return hosts, _reason(error)
    by_reason: dict[str, list[str]] = {}
    for address, server in servers.items():
        if server.error is not None:
            by_reason.setdefault(_reason(server.error), []).append(_address(address))
    if not by_reason:
        return hosts, _reason(error)
    if len(by_reason) == 1:
        return hosts, next(iter(by_reason))
    return hosts, "; ".join(f"{', '.join(a)}: {r}" for r, a in by_reason.items())


def _address(address: tuple[str, int | None]) -> str:
    host, port = address
    if ":" in host:
        host = f"[{host}]"
    return host if port is None else f"{host}:{port}"


def _reason(error: BaseException) -> str:
    """The driver's error in a few words: "connection refused", "host not found"..."""
    text = str(error).split(", Timeout: ")[0]  # then comes the topology description
    text = re.sub(r"\s*\(configured timeouts:[^)]*\)", "", text)
    text = re.sub(r"^(\[[^\]]+\]|[^\s:\[]+):\d+: ", "", text)  # its address
    text = text.split(", full error:")[0].strip()
    errno = re.search(r"\[Errno (-?\d+)\] ([^(\n]+)", text)
    lower = text.lower()
    if "errno 111" in lower or "connection refused" in lower:
        return "connection refused"
    if (errno and int(errno.group(1)) < 0) or "name or service not known" in lower:
        detail = errno.group(2).strip() if errno else text
        return f"host not found (DNS: {detail.lower()})"
    if isinstance(error, ConfigurationError) and ("dns" in lower or "srv" in lower):
        return f"DNS: {_clip(text)}"
    if "ssl" in lower or "tls" in lower or "certificate" in lower:
        return f"TLS handshake failed: {_clip(text)}"
    if isinstance(error, NetworkTimeout) or "timed out" in lower:
        return "no answer (timed out)"
    if "no servers found yet" in lower:
        return "no answer yet"
    if isinstance(error, ProtocolError):
        return f"it does not speak the MongoDB protocol ({_clip(text)})"
    if errno:
        return errno.group(2).strip().lower()
    return _clip(text)


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def open_store(
    uri: str, database: str, timeout: float, *, operation_timeout: float = 5.0
) -> Store:
    """Connects, waits for the server within ``timeout``, and creates the indexes.
    No read or write afterwards waits on a silent server longer than
    ``operation_timeout`` seconds, and a transaction no longer, retries included."""
    client = make_client(uri, **bounded(operation_timeout))
    try:
        await wait_until_reachable(client, timeout)
        store = Store(client, database, operation_timeout=operation_timeout)
        await store.create_indexes()
    except BaseException:
        await client.close()
        raise
    return store
