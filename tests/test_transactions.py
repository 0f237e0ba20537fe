"""Transactions on a standalone server run one at a time, across processes too."""

from __future__ import annotations

import asyncio
import time

import pytest
from bson import ObjectId

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
