"""The live hub: one per process, routing every task change to its owner's sockets.

The process follows two change streams (store/change_stream.py): task changes, which
go to the sockets of the task's owner, and ended logins, whose sockets are closed.
The stream of task changes brings only the changes of users with a socket here, and
none while there is no socket: a socket's first catch-up waits until its user is
followed (``Hub.follow``), so no change of theirs falls between the two.
Each socket is a ``Subscriber`` that delivers its owner's changes in ``seq`` order with
no gap and no repeat: changes that arrive while it is catching up wait in a buffer,
repeats are dropped, and a gap is filled from the change log (or, when the log no
longer has it, the client is told to resync).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from store import Login, Store
from store.change_stream import TaskChanges, Watch

from .changes import change_payload
from .encoding import dumps

log = logging.getLogger(__name__)

# Close codes beyond RFC 6455's, in the range it leaves to applications.
CLOSE_LOGIN_ENDED = 4401  # logged out or revoked: don't reconnect with it
CLOSE_GOING_AWAY = 1001  # the process is stopping: reconnect (elsewhere)
CLOSE_TOO_SLOW = 1008  # the send queue filled up: the client stopped reading
CLOSE_TRY_AGAIN = 1013  # the database did not answer: reconnect later

# Messages written to a socket but not yet taken by the kernel, and their bytes. Past
# either the client is not reading, and is cut off rather than buffered without bound.
SEND_QUEUE_LIMIT = 256
SEND_BUFFER_BYTES = 1024 * 1024


def change_message(change: dict[str, Any]) -> str:
    return dumps(change_payload(change))


class Socket(Protocol):
    """What a subscriber needs of its WebSocket handler."""

    def write_message(self, message: str) -> asyncio.Future[None]: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Subscriber:
    """One live socket: its login, and the last change it was sent."""

    def __init__(self, hub: Hub, login: Login, socket: Socket):
        self.hub = hub
        self.login = login
        self.socket = socket
        self.last_seq: int | None = None  # None while catching up
        self.buffer: list[tuple[int, str]] = []  # changes that came while catching up
        self.unflushed = 0
        self.unflushed_bytes = 0
        self.last_written: asyncio.Future[None] | None = None
        self.closed = False

    @property
    def owner(self) -> str:
        return self.login.user_id

    # --- sending ---

    def send(self, message: str | dict[str, Any]) -> None:
        """Writes one message, or cuts the client off when what it has not taken yet
        passes the limits (messages or bytes)."""
        if self.closed:
            return
        if isinstance(message, dict):
            message = dumps(message)
        size = len(message.encode())
        if (
            self.unflushed >= self.hub.send_queue_limit
            or self.unflushed_bytes + size > self.hub.send_buffer_bytes
        ):
            log.warning("live socket of user %s not reading: closing it", self.owner)
            self.close(CLOSE_TOO_SLOW, "too slow: send queue full")
            return
        try:
            written = self.socket.write_message(message)
        except Exception:  # closed under us (WebSocketClosedError); on_close follows
            self.hub.detach(self)
            return
        self.unflushed += 1
        self.unflushed_bytes += size
        self.last_written = written
        written.add_done_callback(functools.partial(self._flushed, size))

    async def drained(self) -> None:
        """Waits until the kernel has taken what was written so far (flow control)."""
        written = self.last_written
        if written is not None:
            try:
                await written
            except Exception:
                pass  # closed meanwhile; the caller checks self.closed
        await asyncio.sleep(0)  # lets the flushed callbacks run

    def _flushed(self, size: int, written: asyncio.Future[None]) -> None:
        self.unflushed -= 1
        self.unflushed_bytes -= size
        if not written.cancelled():
            written.exception()  # a socket closed meanwhile: nothing more to do

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.hub.detach(self)
            self.socket.close(code, reason)

    # --- changes, in order ---

    def offer(self, seq: int, message: str) -> None:
        """A change of this owner's, from the stream (maybe repeated or early)."""
        if self.closed:
            return
        if self.last_seq is None:
            self.buffer.append((seq, message))
        elif seq <= self.last_seq:
            return  # already sent, during catch-up
        elif seq == self.last_seq + 1:
            self.last_seq = seq
            self.send(message)
        else:  # a gap: fetch what lies between from the change log
            self.buffer.append((seq, message))
            self.start_catch_up(self.last_seq)

    def start_catch_up(self, since: int) -> None:
        self.last_seq = None  # buffer from now on
        self.hub.gap_catch_ups += 1
        self.hub.spawn(self.catch_up(since, connecting=False))

    async def catch_up(self, since: int | None, *, connecting: bool = True) -> None:
        """Sends the owner's changes after ``since`` from the change log, then what
        came meanwhile. On connecting, says where the client stands: ``ready`` (or
        ``resync`` when the log no longer has what it missed); without ``since``
        only ``ready``."""
        try:
            await self._catch_up(since, connecting)
        except Exception as e:  # the database is away: the client reconnects later
            log.warning("live catch-up for user %s failed: %s", self.owner, e)
            self.close(CLOSE_TRY_AGAIN, "catching up failed; reconnect")

    async def _catch_up(self, since: int | None, connecting: bool) -> None:
        await self.hub.follow(self.owner)
        changes = self.hub.store.changes
        last = await changes.last_seq(self.owner)
        missed = None
        if since is not None and since <= last:
            missed = await changes.since(self.owner, since)
        if self.closed:
            return
        if since is None:
            self.last_seq = last
        elif missed is None:
            # too old (or from another database): the client fetches its list again
            self.last_seq = last
            self.send({"type": "resync", "seq": last})
        else:
            for change in missed:
                # a long catch-up goes at the client's pace, not into the send queue
                if self.unflushed >= self.hub.send_queue_limit // 2:
                    await self.drained()
                    if self.closed:
                        return
                self.send(change_message(change))
            self.last_seq = missed[-1]["seq"] if missed else since
        if connecting and (since is None or missed is not None):
            self.send({"type": "ready", "seq": self.last_seq})
        buffered, self.buffer = sorted(self.buffer), []
        for seq, message in buffered:
            if seq <= self.last_seq:
                continue
            if seq > self.last_seq + 1:
                # the log cannot fill this gap: rather than wait, the client refetches
                self.send({"type": "resync", "seq": seq - 1})
            self.last_seq = seq
            self.send(message)


class Hub:
    """The process's live sockets by owner and by login, fed by the change streams."""

    def __init__(
        self,
        store: Store,
        *,
        max_sockets_per_user: int,
        send_queue_limit: int = SEND_QUEUE_LIMIT,
        send_buffer_bytes: int = SEND_BUFFER_BYTES,
    ):
        self.store = store
        self.max_sockets_per_user = max_sockets_per_user
        self.send_queue_limit = send_queue_limit
        self.send_buffer_bytes = send_buffer_bytes
        self.by_owner: dict[str, set[Subscriber]] = {}
        self.by_login: dict[str, set[Subscriber]] = {}
        self.watches: list[Watch] = []
        self.task_changes: TaskChanges | None = None
        self.followed: frozenset[str] = frozenset()  # the owners task_changes brings
        self._following = asyncio.Lock()
        self._starting: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task] = set()
        self.gap_catch_ups = 0  # gaps filled from the log: the stream skipped something
        self.changes_delivered = 0  # changes handed to subscribers (server/metrics.py)

    # --- the change streams ---

    async def start(self) -> None:
        """Opens the change streams; raises store.ChangeStreamsUnsupported
        when the database has none. Later calls wait for the first."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        # ended logins come from the process's one stream of them, which the login
        # cache follows too (store/login_cache.py: EndedLogins)
        ended = self.store.tokens.ended
        ended.listen(self.revoke)
        owners = frozenset(self.by_owner)
        watch = self.store.watch_changes(self.publish, self.catch_up_everyone, owners)
        try:
            await ended.start()
            await watch.start()  # raises when the server has no change streams
            self.watches.append(watch)
            self.task_changes, self.followed = watch, owners
            if not owners:
                await watch.follow_owners(owners)  # nobody to follow yet
        except BaseException:
            self._starting = None
            ended.unlisten(self.revoke)
            await self._stop_watches()
            raise

    async def stop(self, code: int = CLOSE_GOING_AWAY, reason: str = "server stopping") -> None:
        """Closes every socket (clients reconnect elsewhere and catch up) and the streams."""
        for subscriber in [s for group in self.by_owner.values() for s in group]:
            subscriber.close(code, reason)
        self.store.tokens.ended.unlisten(self.revoke)
        await self._stop_watches()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._starting = None

    async def _stop_watches(self) -> None:
        watches, self.watches = self.watches, []
        self.task_changes, self.followed = None, frozenset()
        for watch in watches:
            await watch.stop()

    def spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live catch-up failed", exc_info=task.exception())

    # --- sockets ---

    def sockets_of(self, user_id: str) -> int:
        return len(self.by_owner.get(user_id, ()))

    def attach(self, login: Login, socket: Socket) -> Subscriber | None:
        """A subscriber for ``socket``, or None when its user has too many sockets."""
        if self.sockets_of(login.user_id) >= self.max_sockets_per_user:
            return None
        subscriber = Subscriber(self, login, socket)
        self.by_owner.setdefault(login.user_id, set()).add(subscriber)
        self.by_login.setdefault(login.digest, set()).add(subscriber)
        return subscriber

    def detach(self, subscriber: Subscriber) -> None:
        for index, key in (
            (self.by_owner, subscriber.owner),
            (self.by_login, subscriber.login.digest),
        ):
            group = index.get(key)
            if group is not None:
                group.discard(subscriber)
                if not group:
                    del index[key]
        # owners who left stay followed until they are most of those followed, or
        # all of them: a page reloading reopens its socket at once
        gone = len(self.followed) - len(self.followed & self.by_owner.keys())
        if gone and gone >= len(self.by_owner):
            self.spawn(self._narrow())

    # --- whose changes the stream brings ---

    async def follow(self, owner: str) -> None:
        """Returns once the stream brings every change for ``owner`` not yet in the
        log: before a socket of theirs reads the log. Sockets that open together
        share one reopening of the stream."""
        if owner in self.followed:
            return
        async with self._following:
            if owner not in self.followed:
                await self._refilter()

    async def _narrow(self) -> None:
        async with self._following:
            if not self.followed <= self.by_owner.keys():
                await self._refilter()

    async def _refilter(self) -> None:
        """Filters the stream to the owners with sockets now (with the lock held)."""
        owners = frozenset(self.by_owner)
        if self.task_changes is not None:
            await self.task_changes.follow_owners(owners)
            self.followed = owners

    # --- what the streams bring ---

    def publish(self, change: dict[str, Any]) -> None:
        """One change to every socket of its owner in this process; encoded once."""
        subscribers = self.by_owner.get(change["owner"])
        if not subscribers:
            return
        message = change_message(change)
        for subscriber in list(subscribers):
            subscriber.offer(change["seq"], message)
        self.changes_delivered += len(subscribers)

    def revoke(self, login_digest: str) -> None:
        for subscriber in list(self.by_login.get(login_digest, ())):
            subscriber.close(CLOSE_LOGIN_ENDED, "login ended")

    async def catch_up_everyone(self) -> None:
        """After the change stream lost its place: every socket catches up from the log."""
        for subscriber in [s for group in self.by_owner.values() for s in group]:
            if subscriber.last_seq is not None:
                subscriber.start_catch_up(subscriber.last_seq)
