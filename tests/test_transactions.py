"""Transactions on a standalone server run one at a time, across processes too."""

from __future__ import annotations

import asyncio
import time

import pytest
from bson import ObjectId
from harness.database import Commands, fresh_store

from store import Store, compat, make_client
from store.compat import _LEASE_ID


async def record(store, owner):
    return await store.in_transaction(
        lambda s: store.changes.record(owner, "task.updated", {"id": "x"}, s)
    )


async def test_concurrent_transactions_all_commit_once(store):
    owner = str(ObjectId())
    seqs = await asyncio.gather(*(record(store, owner) for _ in range(30)))
    assert sorted(seqs) == list(range(1, 31))
    assert await store.db.changes.count_documents({"owner": owner}) == 30


async def test_a_lease_held_elsewhere_is_waited_for_then_taken_when_it_expires(store):
    if not await store.standalone():
        pytest.skip("a replica set isolates transactions itself; no lease is taken")
    # another process holds the lease for 1.5 s more (and never releases it: killed)
    expires_ms = int(time.time() * 1000) + 1500
    await store.db.transaction_lock.insert_one(
        {"_id": _LEASE_ID, "holder": "killed-process", "expires_ms": expires_ms}
    )
    started = time.monotonic()
    assert await record(store, str(ObjectId())) == 1
    waited = time.monotonic() - started
    assert waited >= 1.0 and waited < 10, waited
    # released after use: the next transaction does not wait
    started = time.monotonic()
    await record(store, str(ObjectId()))
    assert time.monotonic() - started < 1.0


async def test_a_process_writing_alone_keeps_the_lease_between_its_transactions(mongodb_uri):
    commands = Commands()
    async with fresh_store(mongodb_uri, event_listeners=[commands]) as store:
        if not await store.standalone():
            pytest.skip("a replica set isolates transactions itself; no lease is taken")
        await record(store, str(ObjectId()))  # takes the lease, and keeps it
        commands.clear()
        for _ in range(5):
            await record(store, str(ObjectId()))
        assert ("update", "transaction_lock") not in commands.names()
        assert ("delete", "transaction_lock") not in commands.names()


async def test_a_kept_lease_goes_to_other_processes_that_ask_for_it(store, mongodb_uri):
    if not await store.standalone():
        pytest.skip("a replica set isolates transactions itself; no lease is taken")
    # two other processes' stores on the same database
    others = [Store(make_client(mongodb_uri), store.db.name) for _ in range(2)]
    owner = str(ObjectId())
    try:
        await record(store, owner)  # this process keeps the lease
        started = time.monotonic()
        # the others wait for the keeper to hand it back, well within their
        # operation timeout, then all three write in turn without a gap
        seqs = await asyncio.gather(
            *(record(each, owner) for each in (store, *others) for _ in range(10))
        )
        assert time.monotonic() - started < 4.0
        assert sorted(seqs) == list(range(2, 32))
        assert await store.db.changes.count_documents({"owner": owner}) == 31
    finally:
        for other in others:
            await other.close()


async def test_an_idle_process_hands_its_lease_back(store, monkeypatch):
    if not await store.standalone():
        pytest.skip("a replica set isolates transactions itself; no lease is taken")
    monkeypatch.setattr(compat, "KEEP_IDLE_SECONDS", 0.2)
    await record(store, str(ObjectId()))
    assert await store.db.transaction_lock.count_documents({}) == 1
    deadline = time.monotonic() + 5
    while await store.db.transaction_lock.count_documents({}) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert await store.db.transaction_lock.count_documents({}) == 0
    assert await record(store, str(ObjectId())) == 1  # and takes it again when it writes
