"""The change streams live updates run on: one per watched collection per process.

``task_changes`` follows inserts into ``changes`` (every task write records one) and
``ended_logins`` follows deletes from ``tokens`` (logout, revocation, expiry), so
that every process hears of every change and every ended login, whichever process
made it. A stream that breaks is reopened from its last resume token, so nothing is
skipped; when the server no longer has the history a token points to, the owner of
the watch is told (``on_history_lost``) so it can catch its clients up another way.

A process needs only the changes of the users it has sockets for, so the stream of
task changes is filtered in the server to those users (``TaskChanges.follow_owners``),
and closed while there are none: a process then fetches and decodes no other user's
change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError

from .changes import change, is_head
from .compat import (
    CHANGES_POLL_INTERVAL,
    LOGINS_POLL_INTERVAL,
    PollPace,
    exact,
    lacks_change_streams,
    plain,
)

log = logging.getLogger(__name__)

# Server error codes: a resume token whose history has left the oplog cannot be
# resumed from.
HISTORY_LOST = (280, 286)

# How long the server may hold a getMore open waiting for events. A server that
# answers at once instead (the embedded one does) is polled, every ``poll_interval``
# seconds right after an event and backing off to about once a second when quiet
# (store/compat.py: PollPace), rather than in a tight loop.
MAX_AWAIT_MS = 1000
CLOSE_TIMEOUT = 2.0  # seconds to tell the server a stream is closed
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)  # seconds between reopen attempts, then the last


class ChangeStreamsUnsupported(RuntimeError):
    """The server cannot open change streams: it is not a replica set."""


class Watch:
    """One change stream on one collection, kept open until ``stop()``.

    ``on_event`` gets each matching event (synchronously, in stream order); it must
    not raise. The stream reopens from its last resume token after any error.
    """

    def __init__(
        self,
        collection: AsyncCollection,
        pipeline: list[dict[str, Any]],
        on_event: Callable[[dict[str, Any]], None],
        *,
        poll_interval: float,
        on_history_lost: Callable[[], Awaitable[None]] | None = None,
    ):
        self.collection = collection
        self.pipeline = pipeline
        self.on_event = on_event
        self.poll_interval = poll_interval  # the fast pace, right after an event
        self.pace = PollPace(poll_interval)
        self.on_history_lost = on_history_lost
        self.resume_token: Any = None
        self.reopened = 0  # how many times the stream was reopened after a break
        self._history_lost = False
        self._stream: AsyncChangeStream | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._refiltering = asyncio.Lock()
        self.refiltered = 0  # how many times the pipeline was changed while following
        self.events = 0  # events the stream brought
        self._woken = asyncio.Event()  # wake(): ask again without waiting out the pause

    @property
    def name(self) -> str:
        return self.collection.name

    def wake(self) -> None:
        """This process just stored something the stream may bring: ask for it now
        rather than after the pause between polls (the embedded server's getMore
        never waits for an event; see store/compat.py: PollPace)."""
        self._woken.set()

    @property
    def following(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        """Opens the stream (so that every write after this returns is seen) and
        starts following it. Raises ChangeStreamsUnsupported on a standalone server."""
        self._stopping = False
        self._stream = await self._open()
        self._task = asyncio.create_task(self._follow(), name=f"watch {self.name}")

    async def stop(self) -> None:
        async with self._refiltering:
            await self._halt()

    async def _halt(self) -> None:
        task, self._task = self._task, None
        self._stopping = True  # the driver may turn the cancellation into its own error
        if task is not None:
            task.cancel()
            try:
                await asyncio.wait_for(task, CLOSE_TIMEOUT)
            except (asyncio.CancelledError, TimeoutError):
                pass
        await self._close_stream()

    async def refilter(self, pipeline: list[dict[str, Any]] | None) -> None:
        """Follows with ``pipeline`` from where the stream stands, or, with None,
        stops following and forgets where it stood.

        The old stream stops before this returns, so every event after its resume
        token that matches ``pipeline`` is delivered, whatever the caller reads next:
        the events of the old pipeline are not repeated, and those that match only
        the new one come again from the token on. Without a token (nothing followed
        before) the new stream is open when this returns, or this raises.
        """
        async with self._refiltering:
            await self._halt()
            self._stopping = False
            if pipeline is None:
                self.resume_token = None
                return
            self.pipeline = pipeline
            self.refiltered += 1
            try:
                self._stream = await self._open()
            except PyMongoError:
                if self.resume_token is None:
                    raise
                # _follow reopens it from the token, which still comes first
            self._task = asyncio.create_task(self._follow(), name=f"watch {self.name}")

    async def _open(self) -> AsyncChangeStream:
        try:
            return await self.collection.watch(
                # start_after (unlike resume_after) also starts after an invalidate event
                self.pipeline,
                start_after=self.resume_token,
                max_await_time_ms=MAX_AWAIT_MS,
            )
        except OperationFailure as e:
            if lacks_change_streams(e):
                raise ChangeStreamsUnsupported(str(e)) from e
            raise

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            if stream.resume_token is not None:  # past the events it has returned
                self.resume_token = stream.resume_token
            try:
                # bounded: a stopping process must not wait on a server that is gone
                await asyncio.wait_for(stream.close(), CLOSE_TIMEOUT)
            except (PyMongoError, TimeoutError):
                pass  # the server is gone; nothing to close there

    async def _pause(self, seconds: float) -> None:
        """Waits ``seconds``, or until woken. A wake that came during the poll before
        it (which may have missed what was stored) ends it at once."""
        if seconds > 0 and not self._woken.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._woken.wait()
        self._woken.clear()

    async def _follow(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            try:
                if self._stream is None:
                    self._stream = await self._open()
                    self.reopened += 1
                    log.info("change stream on %s reopened", self.name)
                if self._history_lost and self.on_history_lost is not None:
                    self._history_lost = False
                    await self.on_history_lost()
                started = loop.time()
                event = await self._stream.try_next()
                self.resume_token = self._stream.resume_token
                failures = 0
                if event is not None:
                    self.events += 1
                    self.pace.event()
                    try:
                        self.on_event(event)
                    except Exception:  # one bad event must not stop the stream
                        log.exception("change stream on %s: event not handled", self.name)
                    # let the writes this event caused run before the next event of a
                    # batch: a burst then never piles up in the sockets' send queues
                    await asyncio.sleep(0)
                    continue
                if not self._stream.alive:  # invalidated: the collection was dropped
                    await self._close_stream()
                await self._pause(self.pace.pause(loop.time() - started))
            except asyncio.CancelledError:
                raise
            except InvalidOperation:
                # the client was closed under us: the process is stopping
                log.debug("change stream on %s: client closed", self.name)
                return
            except PyMongoError as e:
                await self._close_stream()
                if isinstance(e, OperationFailure) and e.code in HISTORY_LOST:
                    log.error(
                        "change stream on %s: history after the resume token is gone; "
                        "starting afresh and catching clients up: %s",
                        self.name,
                        e,
                    )
                    self.resume_token = None
                    self._history_lost = True
                    continue
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                log.warning(
                    "change stream on %s broke (%s); reopening from the last resume token in %gs",
                    self.name,
                    e,
                    delay,
                )
                await asyncio.sleep(delay)


def changes_pipeline(owners: Collection[str] | None) -> list[dict[str, Any]]:
    """The recorded changes for ``owners`` (None: everyone's)."""
    match: dict[str, Any] = {"operationType": "insert"}
    if owners is not None:
        match["fullDocument.owner"] = {"$in": sorted(owners)}
    return [{"$match": exact(match)}]


class TaskChanges(Watch):
    """The stream of recorded changes, as ``store.changes.change()`` returns them."""

    async def follow_owners(self, owners: Collection[str]) -> None:
        """Follows only the changes for ``owners``, none when it is empty (see
        ``refilter``: once this returns, none of their changes is missed)."""
        await self.refilter(changes_pipeline(owners) if owners else None)


def task_changes(
    changes_collection: AsyncCollection,
    on_change: Callable[[dict[str, Any]], None],
    on_history_lost: Callable[[], Awaitable[None]],
    poll_interval: float = CHANGES_POLL_INTERVAL,
    owners: Collection[str] | None = None,
) -> TaskChanges:
    """Every change recorded in ``changes`` for ``owners`` (None: everyone)."""

    def on_insert(event: dict[str, Any]) -> None:
        # a user's head is inserted once, with their first change; it is no change
        # (its owner is its _id, so a stream filtered to owners never sees one)
        if not is_head(event["documentKey"]["_id"]):
            on_change(change(plain(event["fullDocument"])))

    return TaskChanges(
        changes_collection,
        changes_pipeline(owners),
        on_insert,
        poll_interval=poll_interval,
        on_history_lost=on_history_lost,
    )


def ended_logins(
    tokens_collection: AsyncCollection,
    on_ended: Callable[[str], None],
    poll_interval: float = LOGINS_POLL_INTERVAL,
) -> Watch:
    """The digest of every login that ends: logout, revocation or expiry."""
    return Watch(
        tokens_collection,
        [{"$match": exact({"operationType": "delete"})}],
        # the id comes from documentKey (store/compat.py: plain)
        lambda event: on_ended(event["documentKey"]["_id"]),
        poll_interval=poll_interval,
    )
