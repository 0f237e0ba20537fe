"""This process's memory of recent logins, so that an authenticated request usually
costs no lookup in ``tokens``; and the one stream of ended logins it and the live hub
follow.

A login is remembered by its digest for at most ``max_age`` seconds, and only while
the process follows the change stream of ``tokens`` deletes (``EndedLogins``): a
login ended by any process (logout, revocation, a password change, an account's
deletion, expiry) is forgotten here within the stream's lag, and at once in the
process that ends it. Should the stream break, it resumes from its last resume token
and nothing is skipped; should the server lose that history, everything remembered
is forgotten. Either way nothing is served older than ``max_age``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from .change_stream import CLOSE_TIMEOUT, ChangeStreamsUnsupported, Watch, ended_logins

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000
MAX_AGE = 60.0  # seconds
# After the stream could not be opened, lookups go to the database for this long
# before it is tried again.
RETRY_FOLLOWING = 30.0


class CachedLogin(Protocol):
    """What is remembered of a login (store.tokens.Login)."""

    @property
    def digest(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


L = TypeVar("L", bound=CachedLogin)


@dataclass
class Remembered(Generic[L]):
    login: L
    stored_at: float  # monotonic seconds
    last_used_ms: int | None  # as last read or written


class LoginCache(Generic[L]):
    """Logins by digest, bounded in number (the least recently used go first) and in
    age. Ends are counted (``generation``) so that a lookup that read a login before
    it ended, and finishes after, does not remember it."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_entries = max_entries
        self.max_age = max_age
        self.clock = clock
        self.entries: OrderedDict[str, Remembered[L]] = OrderedDict()
        self.generation = 0
        # what ended at which generation, the last max_entries of each
        self._ended_digests: OrderedDict[str, int] = OrderedDict()
        self._ended_users: OrderedDict[str, int] = OrderedDict()
        self._forgotten_before = 0  # ends older than this were let go of
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, digest: str) -> Remembered[L] | None:
        entry = self.entries.get(digest)
        if entry is None:
            self.misses += 1
            return None
        if self.clock() - entry.stored_at >= self.max_age:
            del self.entries[digest]
            self.misses += 1
            return None
        self.entries.move_to_end(digest)
        self.hits += 1
        return entry

    def put(self, login: L, last_used_ms: int | None, since: int) -> None:
        """Remembers ``login``, read when ``generation`` was ``since``, unless it (or
        logins of its user) ended meanwhile."""
        digest = login.digest
        if (
            since < self._forgotten_before
            or self._ended_digests.get(digest, -1) > since
            or self._ended_users.get(login.user_id, -1) > since
        ):
            return
        self.entries[digest] = Remembered(login, self.clock(), last_used_ms)
        self.entries.move_to_end(digest)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)

    def end(self, digest: str) -> None:
        """The login ``digest`` names ended."""
        self.entries.pop(digest, None)
        self.generation += 1
        self._record(self._ended_digests, digest)

    def end_user(self, user_id: str, keep: str | None = None) -> None:
        """Logins of ``user_id`` ended (all but ``keep``): forgets every one remembered
        but ``keep``; a lookup of any of the user's logins in flight is not remembered."""
        ended = [d for d, e in self.entries.items() if e.login.user_id == user_id and d != keep]
        for digest in ended:
            del self.entries[digest]
        self.generation += 1
        self._record(self._ended_users, user_id)

    def clear(self) -> None:
        self.entries.clear()
        self.generation += 1
        self._forgotten_before = self.generation

    def _record(self, ended: OrderedDict[str, int], key: str) -> None:
        ended[key] = self.generation
        ended.move_to_end(key)
        while len(ended) > self.max_entries:
            _, generation = ended.popitem(last=False)
            self._forgotten_before = max(self._forgotten_before, generation + 1)


class EndedLogins:
    """The process's one change stream of ended logins (``tokens`` deletes), told to
    every listener: the login cache, and the live hub (which closes their sockets).

    Started by the first that needs it; stopped by ``stop()`` (the store's close).
    """

    def __init__(self, collection: AsyncCollection, **watch_options: float):
        self.collection = collection
        self.watch_options = watch_options
        self.listeners: list[Callable[[str], None]] = []
        self.on_lost: list[Callable[[], None]] = []
        self.watch: Watch | None = None
        self._starting: asyncio.Future[None] | None = None

    @property
    def following(self) -> bool:
        return self.watch is not None

    def listen(self, on_ended: Callable[[str], None]) -> None:
        if on_ended not in self.listeners:
            self.listeners.append(on_ended)

    def unlisten(self, on_ended: Callable[[str], None]) -> None:
        if on_ended in self.listeners:
            self.listeners.remove(on_ended)

    async def start(self) -> None:
        """Opens the stream (every delete after this returns is heard); raises
        ChangeStreamsUnsupported on a standalone server. Later calls wait for the first."""
        if self.watch is not None:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        try:
            await asyncio.shield(self._starting)
        except BaseException:
            self._starting = None
            raise

    async def _start(self) -> None:
        watch = ended_logins(self.collection, self._ended, **self.watch_options)
        watch.on_history_lost = self._history_lost
        await watch.start()
        self.watch = watch

    async def stop(self) -> None:
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done():
            # a stream being opened now would be left open on a closing client
            try:
                await asyncio.wait_for(asyncio.shield(starting), CLOSE_TIMEOUT)
            except TimeoutError:
                starting.cancel()
            except Exception:
                pass  # it failed to open: nothing to stop
        watch, self.watch = self.watch, None
        for lost in self.on_lost:
            lost()  # nothing heard from here on: forget what relied on it
        if watch is not None:
            await watch.stop()

    def _ended(self, digest: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(digest)
            except Exception:
                log.exception("an ended login was not handled")

    async def _history_lost(self) -> None:
        # ends may have been missed: what relied on hearing them forgets
        for lost in self.on_lost:
            lost()


class Following:
    """When the cache may serve: while ``EndedLogins`` follows; a failure to open the
    stream is retried after RETRY_FOLLOWING seconds, lookups going to the database
    meanwhile."""

    def __init__(self, ended: EndedLogins, clock: Callable[[], float] = time.monotonic):
        self.ended = ended
        self.clock = clock
        self._failed_at: float | None = None

    async def ensure(self) -> bool:
        if self.ended.following:
            return True
        if self._failed_at is not None and self.clock() - self._failed_at < RETRY_FOLLOWING:
            return False
        try:
            await self.ended.start()
        except (ChangeStreamsUnsupported, PyMongoError) as e:
            self._failed_at = self.clock()
            log.info("logins are looked up on every request: %s", e)
            return False
        self._failed_at = None
        return True
