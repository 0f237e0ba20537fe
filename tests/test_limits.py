"""Bounded resources: per-user caps answered with a JSON 4xx naming the limit."""

from __future__ import annotations

import asyncio
import functools

import httpx
import pytest
from bson import ObjectId
from harness.users import me, user

from services.lists import EDITORS, OWNERS
from store import Person
from store.tasks import TaskLimit


async def test_the_task_cap_holds_in_every_shape(apps):
    async with httpx.AsyncClient(base_url=await apps.url(max_tasks_per_user=2)) as c:
        auth = await user(c)
        capability = (await me(c, auth))["todos_url"]
        assert (await c.post("/api/tasks", json={"title": "one"}, headers=auth)).status_code == 201
        assert (await c.post(capability, json={"title": "two"})).status_code == 201
        native = await c.post("/api/tasks", json={"title": "three"}, headers=auth)
        assert native.status_code == 403
        assert native.json()["error"]["code"] == "limit_reached"
        assert "max_tasks_per_user" in native.json()["error"]["message"]
        classic = await c.post("/todo/api/v1.0/tasks", json={"title": "three"}, headers=auth)
        assert classic.status_code == 403 and classic.json() == {"error": "Forbidden"}
        assert (await c.post(capability, json={"title": "three"})).status_code == 403
        listed = (await c.get("/todo/api/v1.0/tasks", headers=auth)).json()["tasks"]
        assert [t["title"] for t in listed] == ["one", "two"]


async def test_the_daily_score_cap_is_a_json_string_naming_it(apps):
    async with httpx.AsyncClient(base_url=await apps.url(max_scores_per_day=1)) as c:
        form = {"acc_nbr": "13800138000", "grade1": "1", "grade2": "2", "grade3": "3"}
        assert (await c.post("/score", data=form)).status_code == 200
        refused = await c.post("/score", data=form)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3600
        assert "max_scores_per_day" in refused.json()


def person() -> Person:
    oid = ObjectId()
    return Person(str(oid), f"user_{oid}")


async def titles(store, list_id: str) -> list[str]:
    return [task["title"] for task in await store.tasks.all(list_id)]


async def test_the_task_cap_follows_deletions_moves_and_counts_afresh_when_not_kept(store):
    """The number of an owner's tasks kept beside their change log (store/changes.py)
    moves with every write that adds or takes one away."""
    alice, bob = person(), person()
    create = functools.partial(store.tasks.create, allowed=EDITORS, max_per_owner=3)
    first, _ = await create(alice, alice.id, {"title": "a1"})
    await create(alice, alice.id, {"title": "a2"})
    await store.tasks.delete(alice, first["id"], allowed=EDITORS)
    await create(alice, alice.id, {"title": "a3"})
    third, _ = await create(alice, alice.id, {"title": "a4"})
    with pytest.raises(TaskLimit):
        await create(alice, alice.id, {"title": "a5"})
    # a task moved to a list of bob's counts against bob, no longer against alice
    shared, _ = await store.lists.create(bob, "shared")
    await store.lists.set_member(bob, shared["id"], alice, "editor", allowed=OWNERS, limit=10)
    await create(bob, shared["id"], {"title": "b1"})
    await create(bob, bob.id, {"title": "b2"})
    update = functools.partial(store.tasks.update, allowed=EDITORS, max_per_owner=3)
    await update(alice, third["id"], {"list_id": shared["id"]})
    with pytest.raises(TaskLimit):  # bob holds 3 now
        await create(bob, bob.id, {"title": "b3"})
    with pytest.raises(TaskLimit):
        await update(alice, (await store.tasks.all(alice.id))[0]["id"], {"list_id": shared["id"]})
    await create(alice, alice.id, {"title": "a5"})
    assert await titles(store, alice.id) == ["a2", "a3", "a5"]
    # a head that does not keep the number (stored before it did): counted again
    await store.db.changes.update_one({"_id": f"head:{alice.id}"}, {"$unset": {"tasks": ""}})
    with pytest.raises(TaskLimit):
        await create(alice, alice.id, {"title": "a6"})
    await store.tasks.delete_list(bob, shared["id"], allowed=OWNERS)
    await create(bob, bob.id, {"title": "b3"})
    await create(bob, bob.id, {"title": "b4"})
    with pytest.raises(TaskLimit):
        await create(bob, bob.id, {"title": "b5"})
    assert await titles(store, bob.id) == ["b2", "b3", "b4"]


async def test_the_task_cap_holds_under_concurrent_writes(store):
    alice = person()
    await store.tasks.create(alice, alice.id, {"title": "first"}, allowed=EDITORS)
    results = await asyncio.gather(
        *(
            store.tasks.create(
                alice, alice.id, {"title": f"t{i}"}, allowed=EDITORS, max_per_owner=5
            )
            for i in range(12)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, TaskLimit) for r in results) == 8
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, TaskLimit)]
    assert await store.db.tasks.count_documents({"owner": alice.id}) == 5
