"""The database side of the tests: an embedded server in a process of its own, a
fresh database per test, and a listener that counts the commands a client sends."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pymongo
from pymongo import monitoring

from server.embedded_db import EmbeddedMongo, die_with_parent
from store import Store, bounded, make_client
from store.change_stream import Watch
from store.compat import LEASE_RENEWAL

from .ports import free_port

__all__ = [
    "Commands",
    "EmbeddedServer",
    "free_port",
    "fresh_store",
    "wait_for_ping",
    "watching",
]


def wait_for_ping(uri: str, timeout: float = 20) -> None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=500
    )
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.admin.command("ping")
                return
            except pymongo.errors.ConnectionFailure:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        client.close()


class EmbeddedServer:
    """An nx-27017 server in its own process: one per test session, or one of its
    own for a test that stops and starts it, or that reaches it from other hosts
    (``host``: an address of this machine they can reach)."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1"):
        self.embedded = EmbeddedMongo(data_dir, port, host=host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return self.embedded.uri

    def start(self) -> EmbeddedServer:
        """Starts it (from the main thread, so that it dies with the test session
        however that ends) and waits until it answers."""
        self.process = subprocess.Popen(
            self.embedded.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),
        )
        wait_for_ping(self.uri)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.asynccontextmanager
async def fresh_store(
    uri: str,
    database: str | None = None,
    *,
    operation_timeout: float = 5.0,
    **client_options: Any,
) -> AsyncIterator[Store]:
    """A Store on a database of its own (dropped afterwards), with its indexes, its
    client bounded as taskhub's is (store.bounded)."""
    database = database or "test_" + uuid.uuid4().hex[:12]
    client = make_client(uri, **bounded(operation_timeout), **client_options)
    store = Store(client, database, operation_timeout=operation_timeout)
    try:
        await store.create_indexes()
        yield store
    finally:
        try:
            await store.client.drop_database(database)
        except pymongo.errors.PyMongoError:
            pass  # the server was stopped by the test
        await store.close()


@contextlib.asynccontextmanager
async def watching(store: Store) -> AsyncIterator[tuple[list[dict[str, Any]], Watch]]:
    """The store's change stream, open for the block: the changes it delivers (appended
    as they come), and the watch itself."""
    got: list[dict[str, Any]] = []

    async def caught_up() -> None:
        pass

    watch = store.watch_changes(got.append, caught_up)
    await watch.start()
    try:
        yield got, watch
    finally:
        await watch.stop()


class Commands(monitoring.CommandListener):
    """Every command a client sends, as (name, collection or None, command document).

    ``requests()`` leaves out what the change streams send in the background (their
    opening ``aggregate``, their ``getMore`` polls, ``killCursors``), and the renewals
    of a kept transaction lease (store/compat.py: TransactionLock)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, dict[str, Any]]] = []
        self.stream_cursors: set[int] = set()
        self._opening_streams: set[int] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name == "aggregate" and any(
            "$changeStream" in stage for stage in event.command.get("pipeline", [])
        ):
            self._opening_streams.add(event.request_id)
        self.sent.append((name, event.command.get(name), dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self._opening_streams:
            self._opening_streams.discard(event.request_id)
            cursor = event.reply.get("cursor", {}).get("id")
            if cursor:
                self.stream_cursors.add(int(cursor))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._opening_streams.discard(event.request_id)

    def clear(self) -> None:
        self.sent.clear()

    def names(self) -> list[tuple[str, Any]]:
        return [(name, target) for name, target, _ in self.sent]

    def requests(self) -> list[tuple[str, Any]]:
        """``names()`` but for the change streams' commands."""
        return [
            (name, target)
            for name, target, command in self.sent
            if not self._of_stream(name, target, command)
        ]

    def _of_stream(self, name: str, target: Any, command: dict[str, Any]) -> bool:
        if command.get("comment") == LEASE_RENEWAL:
            return True
        if name == "aggregate":
            return any("$changeStream" in stage for stage in command.get("pipeline", []))
        if name == "getMore":
            return int(target) in self.stream_cursors
        if name == "killCursors":
            return all(int(c) in self.stream_cursors for c in command.get("cursors", []))
        return False
