"""The change log that live clients catch up from: gapless per owner, atomic with writes."""

from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId
from harness.database import Commands, fresh_store, watching


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


async def test_last_seqs_kept_the_old_way_move_into_heads_at_start_up(store):
    alice, bob = str(ObjectId()), str(ObjectId())
    await store.db.change_counters.insert_many([{"_id": alice, "seq": 7}, {"_id": bob, "seq": 2}])
    for _ in range(3):  # bob's head is further on already: it stays there
        await record(store, bob)
    await store.create_indexes()
    assert await store.changes.last_seq(alice) == 7
    assert await record(store, alice) == 8
    assert await record(store, bob) == 4
    assert await store.db.change_counters.count_documents({}) == 0
    # a head is no change: a catch-up never sees one
    assert [c["seq"] for c in await store.changes.since(alice, 7)] == [8]
    assert [c["seq"] for c in await store.changes.since(bob, 0)] == [1, 2, 3, 4]


async def test_changes_to_many_members_take_one_command_after_their_heads(mongodb_uri):
    commands = Commands()
    async with fresh_store(mongodb_uri, event_listeners=[commands]) as counted:
        owners = [str(ObjectId()) for _ in range(5)]
        await record(counted, owners[0])
        commands.clear()
        entries = [(owner, "task.updated", {"task": {"id": "x"}}) for owner in owners]
        seqs = await counted.in_transaction(lambda s: counted.changes.record_all(entries, s))
        assert seqs == [2, 1, 1, 1, 1]
        # their heads, then the heads moved on with the changes beside them
        assert commands.requests() == [
            ("find", "changes"),
            ("update", "changes"),
            ("commitTransaction", 1),
        ]


async def test_the_change_stream_carries_changes_and_never_a_head(store, caplog):
    async with watching(store) as (got, _):
        owner = str(ObjectId())  # no head yet: the first change inserts it
        assert [await record(store, owner, title=t) for t in ("a", "b")] == [1, 2]
        deadline = asyncio.get_running_loop().time() + 5
        while len(got) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # anything more would have come by now
        assert [(c["owner"], c["seq"], c["type"]) for c in got] == [
            (owner, 1, "task.updated"),
            (owner, 2, "task.updated"),
        ]
        # the head's insert was passed over, not failed on
        assert not [r for r in caplog.records if "not handled" in r.getMessage()]
