"""One MongoDB client per process, and the typed collections reached through it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import ConnectionFailure

from .change_stream import Watch, ended_logins, task_changes
from .changes import Changes
from .compat import TransactionLock
from .idempotency import IdempotencyKeys
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

# A request must not hang for pymongo's default 30 s when the database is down:
# it answers 503 after this long instead.
SERVER_SELECTION_TIMEOUT_MS = 3000


class Store:
    """The collections taskhub uses, each behind a small typed class."""

    def __init__(self, client: AsyncMongoClient, database: str):
        self.client = client
        self.db = client[database]
        self.users = Users(self.db.users)
        self.tokens = Tokens(self.db.tokens)
        self.login_failures = LoginFailures(self.db.login_failures, LOGIN_FAILURE_WINDOW_SECONDS)
        self.changes = Changes(self.db.changes, self.db.change_counters, CHANGE_RETENTION_SECONDS)
        self.tickets = Tickets(self.db.live_tickets, self.db.tokens)
        self.idempotency_keys = IdempotencyKeys(
            self.db.idempotency_keys, IDEMPOTENCY_KEY_RETENTION_SECONDS
        )
        self.tasks = Tasks(self.db.tasks, self.changes, self.idempotency_keys, self.in_transaction)
        self.todos_urls = TodosUrls(self.db.todos_urls)
        self.transaction_lock = TransactionLock(self.db.transaction_lock)
        self._standalone: bool | None = None
        self.scores = Scores(self.db.scores)
        # counted like failed logins, with the client address as the "account"
        self.score_flood = LoginFailures(self.db.score_flood, SCORE_FLOOD_WINDOW_SECONDS)

    async def create_indexes(self) -> None:
        """Idempotent: creating an index that exists already changes nothing."""
        for collection in (
            self.users,
            self.tokens,
            self.login_failures,
            self.changes,
            self.tickets,
            self.idempotency_keys,
            self.tasks,
            self.todos_urls,
            self.scores,
            self.score_flood,
        ):
            await collection.create_indexes()

    async def in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Runs ``work(session)`` in one multi-document transaction, retried by the
        driver on transient errors; ``work`` must pass ``session`` to every operation."""
        if await self.standalone():
            # no isolation between concurrent transactions there: one at a time
            async with self.transaction_lock.held():
                return await self._transaction(work)
        return await self._transaction(work)

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
    ) -> Watch:
        """A change stream of every change recorded (not yet started)."""
        return task_changes(self.changes.collection, on_change, on_history_lost)

    def watch_ended_logins(self, on_ended: Callable[[str], None]) -> Watch:
        """A change stream of the digests of logins that end (not yet started)."""
        return ended_logins(self.tokens.collection, on_ended)

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()


def make_client(uri: str, **options: Any) -> AsyncMongoClient:
    options.setdefault("serverSelectionTimeoutMS", SERVER_SELECTION_TIMEOUT_MS)
    return AsyncMongoClient(uri, tz_aware=True, connect=False, **options)


async def wait_until_reachable(client: AsyncMongoClient, timeout: float) -> None:
    """Pings until the server answers; raises ConnectionFailure after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.admin.command("ping")
            return
        except ConnectionFailure:
            if time.monotonic() >= deadline:
                raise
            log.info("waiting for the database to answer")
            await asyncio.sleep(0.5)


async def open_store(uri: str, database: str, timeout: float) -> Store:
    """Connects, waits for the server within ``timeout``, and creates the indexes."""
    client = make_client(uri)
    try:
        await wait_until_reachable(client, timeout)
        store = Store(client, database)
        await store.create_indexes()
    except BaseException:
        await client.close()
        raise
    return store
