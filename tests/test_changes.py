"""The change log that live clients catch up from: gapless per owner, atomic with writes."""

from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId
from harness.database import fresh_store


async def record(store, owner, kind="task.updated", title="t"):
    return await store.in_transaction(
        lambda s: store.changes.record(owner, kind, {"id": "x", "title": title}, s)
    )


async def test_seq_runs_per_owner_without_gaps(store):
    alice, bob = str(ObjectId()), str(ObjectId())
    assert [await record(store, alice) for _ in range(3)] == [1, 2, 3]
    assert await record(store, bob) == 1
    missed = await store.changes.since(alice, 1)
    assert [c["seq"] for c in missed] == [2, 3]
    assert all(c["owner"] == alice for c in missed)
    assert await store.changes.since(alice, 3) == []


async def test_a_failed_transaction_records_nothing(store):
    owner = str(ObjectId())

    async def fails(session):
        await store.changes.record(owner, "task.created", {"id": "x"}, session)
        raise RuntimeError("the task write failed")

    with pytest.raises(RuntimeError):
        await store.in_transaction(fails)
    assert await store.changes.last_seq(owner) == 0
    assert await record(store, owner) == 1


async def test_since_says_resync_when_changes_are_gone(store):
    owner = str(ObjectId())
    for _ in range(4):
        await record(store, owner)
    await store.db.changes.delete_many({"owner": owner, "seq": {"$lte": 2}})
    assert await store.changes.since(owner, 0) is None
    assert [c["seq"] for c in await store.changes.since(owner, 2)] == [3, 4]
    assert await store.changes.since(owner, 1, limit=10) is None
    assert await store.changes.since(owner, 2, limit=1) is None


async def test_catching_up_while_the_owner_writes_finds_no_gap(store, mongodb_uri):
    """A client reconnecting with ``since`` while its owner keeps writing through
    another process: every read is a gapless run, never a needless resync."""
    owner = str(ObjectId())
    async with fresh_store(mongodb_uri, store.db.name) as elsewhere:
        writing = True

        async def writer():
            while writing:
                await record(elsewhere, owner)

        task = asyncio.create_task(writer())
        try:
            reads = [await store.changes.since(owner, 0) for _ in range(100)]
            pages = [await store.changes.page_after(owner, 0, 1000) for _ in range(50)]
        finally:
            writing = False
            await task
    assert None not in reads and None not in pages
    for found in reads:
        assert [c["seq"] for c in found] == list(range(1, len(found) + 1))
    assert len(reads[-1]) > len(reads[0])  # the owner did write meanwhile
