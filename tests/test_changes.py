"""The change log that live clients catch up from: gapless per owner, atomic with writes."""

from __future__ import annotations

import pytest
from bson import ObjectId


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
