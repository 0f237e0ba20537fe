"""Transactions one at a time, for servers that do not isolate concurrent ones.

A replica set (or sharded cluster) isolates transactions: that is what production
runs. The embedded server is a standalone that accepts transactions but nests
concurrent ones into each other on one SQLite connection: the first to commit
commits the others' writes too, and they then fail ("no such savepoint") with their
writes already stored. A real standalone mongod refuses transactions outright. So on
a standalone, taskhub runs its transactions one at a time: one per process (an
asyncio lock), and one across every process sharing the server (a lease document).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import AsyncIterator

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import WriteError

# Longer than any one transaction takes; a process that died holding the lease
# delays the others by at most this long.
LEASE_SECONDS = 2
_LEASE_ID = "transactions"

# Two upserts of the lease colliding: a duplicate key, or, from the embedded
# server under concurrent writers, "Failed to get last row id" (code 8).
_COLLISION_CODES = {11000, 8}


def _collided(error: WriteError) -> bool:
    return error.code in _COLLISION_CODES


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
                if not _collided(e):
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)
