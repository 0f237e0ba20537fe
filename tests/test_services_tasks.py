"""services.tasks.Tasks on a real database: the rules of one owner's default list, conditional
writes, idempotent creation, pages, and the representations of a task."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from harness.settings import make_config
from harness.tasks import NATIVE_FIELDS

import services
from services.errors import KeyReused, LimitReached, NotFound, StaleVersion
from services.lists import Person
from services.tasks import (
    TaskFilter,
    Tasks,
    classic_task,
    fingerprint,
    is_rank,
    native_task,
    todo,
)


@pytest.fixture
def tasks(store) -> Tasks:
    return services.build(make_config(), store).tasks


def new_owner() -> Person:
    """Someone with a default list of their own (made on first use)."""
    return Person(str(ObjectId()), "someone")


async def not_found_message(call) -> str:
    with pytest.raises(NotFound) as refused:
        await call
    return refused.value.message


async def test_create_get_update_delete(tasks):
    owner = new_owner()
    task, created = await tasks.create(owner, {"title": "write the report", "order": 3})
    assert created
    assert (task["title"], task["description"], task["done"], task["order"]) == (
        "write the report",
        "",
        False,
        3,
    )
    assert task["version"] == 1
    assert await tasks.get(owner, task["id"]) == task

    updated = await tasks.update(owner, task["id"], {"done": True, "title": "report written"})
    assert (updated["title"], updated["done"], updated["version"]) == ("report written", True, 2)
    assert updated["created_at"] == task["created_at"]
    assert await tasks.get(owner, task["id"]) == updated

    deleted = await tasks.delete(owner, task["id"])
    assert deleted == updated
    with pytest.raises(NotFound):
        await tasks.get(owner, task["id"])
    assert await tasks.all(owner, owner.id) == []


async def test_another_owners_task_is_not_found_like_a_missing_one(tasks):
    owner, other = new_owner(), new_owner()
    task, _ = await tasks.create(owner, {"title": "mine"})
    missing = await not_found_message(tasks.get(other, str(ObjectId())))

    assert await not_found_message(tasks.get(other, task["id"])) == missing
    assert await not_found_message(tasks.update(other, task["id"], {"done": True})) == missing
    assert await not_found_message(tasks.delete(other, task["id"])) == missing
    assert await tasks.get(owner, task["id"]) == task


@pytest.mark.parametrize("task_id", ["not-an-id", "", "0" * 23, "z" * 24])
async def test_a_malformed_id_is_not_found_like_a_missing_one(tasks, task_id):
    owner = new_owner()
    missing = await not_found_message(tasks.get(owner, str(ObjectId())))

    assert await not_found_message(tasks.get(owner, task_id)) == missing
    assert await not_found_message(tasks.update(owner, task_id, {"done": True})) == missing
    assert await not_found_message(tasks.delete(owner, task_id)) == missing


async def test_update_at_a_stale_version_writes_nothing(tasks, store):
    owner = new_owner()
    task, _ = await tasks.create(owner, {"title": "first"})
    current = await tasks.update(owner, task["id"], {"title": "second"})
    seq = await store.changes.last_seq(owner.id)

    with pytest.raises(StaleVersion) as stale:
        await tasks.update(owner, task["id"], {"title": "third"}, versions={1})

    assert stale.value.current["version"] == 2
    assert stale.value.current == current
    assert await tasks.get(owner, task["id"]) == current
    assert await store.changes.last_seq(owner.id) == seq


async def test_delete_at_a_stale_version_writes_nothing(tasks, store):
    owner = new_owner()
    task, _ = await tasks.create(owner, {"title": "first"})
    current = await tasks.update(owner, task["id"], {"done": True})
    seq = await store.changes.last_seq(owner.id)

    with pytest.raises(StaleVersion) as stale:
        await tasks.delete(owner, task["id"], versions={1})

    assert stale.value.current["version"] == 2
    assert await tasks.get(owner, task["id"]) == current
    assert await store.changes.last_seq(owner.id) == seq


async def test_writes_at_a_current_version_go_through(tasks):
    owner = new_owner()
    task, _ = await tasks.create(owner, {"title": "first"})
    updated = await tasks.update(owner, task["id"], {"title": "second"}, versions={1})
    assert updated["version"] == 2
    assert await tasks.delete(owner, task["id"], versions={1, 2}) == updated


async def test_the_same_idempotency_key_and_request_replays_the_first_answer(tasks):
    owner = new_owner()
    body = {"title": "once only", "order": 1}
    first, created = await tasks.create(
        owner, body, idempotency_key="key-1", fingerprint=fingerprint(body)
    )
    assert created

    again, created = await tasks.create(
        owner,
        dict(body),
        idempotency_key="key-1",
        fingerprint=fingerprint(dict(reversed(body.items()))),
    )

    assert not created
    assert again == first
    assert await tasks.all(owner, owner.id) == [first]


async def test_the_same_idempotency_key_with_another_request_is_refused(tasks):
    owner = new_owner()
    body = {"title": "once only"}
    first, _ = await tasks.create(
        owner, body, idempotency_key="key-1", fingerprint=fingerprint(body)
    )
    other = {"title": "something else"}

    with pytest.raises(KeyReused) as reused:
        await tasks.create(owner, other, idempotency_key="key-1", fingerprint=fingerprint(other))

    assert reused.value.field == "Idempotency-Key"
    assert await tasks.all(owner, owner.id) == [first]


async def test_idempotency_keys_are_per_owner(tasks):
    body = {"title": "same key, two owners"}
    one, _ = await tasks.create(
        new_owner(), body, idempotency_key="k", fingerprint=fingerprint(body)
    )
    two, created = await tasks.create(
        new_owner(), body, idempotency_key="k", fingerprint=fingerprint(body)
    )
    assert created
    assert two["id"] != one["id"]


async def test_page_returns_a_cursor_to_the_next_page(tasks):
    owner = new_owner()
    made = [(await tasks.create(owner, {"title": f"t{n}", "order": n}))[0] for n in (1, 2, 3)]

    first, cursor = await tasks.page(owner, limit=2)
    assert [t["id"] for t in first] == [t["id"] for t in made[:2]]
    assert cursor is not None and is_rank(cursor)

    rest, end = await tasks.page(owner, limit=2, after=cursor)
    assert [t["id"] for t in rest] == [made[2]["id"]]
    assert end is None


async def test_page_by_done(tasks):
    owner = new_owner()
    undone, _ = await tasks.create(owner, {"title": "open"})
    done, _ = await tasks.create(owner, {"title": "closed", "done": True})

    assert await tasks.page(owner, limit=10, filters=TaskFilter(done=True)) == ([done], None)
    assert await tasks.page(owner, limit=10, filters=TaskFilter(done=False)) == ([undone], None)


async def test_page_by_done_finds_a_task_marked_done_later(tasks):
    owner = new_owner()
    task, _ = await tasks.create(owner, {"title": "open"})
    done = await tasks.update(owner, task["id"], {"done": True})

    assert await tasks.page(owner, limit=10, filters=TaskFilter(done=True)) == ([done], None)
    assert await tasks.page(owner, limit=10, filters=TaskFilter(done=False)) == ([], None)


TASK = {
    "id": "65f0c0ffee0000000000abcd",
    "list_id": "65f0c0ffee00000000000001",
    "title": "write the report",
    "description": "by Friday",
    "done": True,
    "order": 7,
    "created_at": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    "updated_at": datetime(2024, 3, 2, 10, 0, tzinfo=UTC),
    "due": "2024-03-08",
    "priority": 2,
    "labels": ["work"],
    "completed_at": datetime(2024, 3, 2, 10, 0, tzinfo=UTC),
    "created_by": {"id": "65f0c0ffee00000000000001", "username": "alice"},
    "updated_by": {"id": "65f0c0ffee00000000000002", "username": "bob"},
    "version": 4,
}


def test_native_task_has_every_field_and_nothing_else():
    assert native_task({**TASK, "owner": "someone", "rank": "x"}) == TASK
    assert set(native_task(TASK)) == NATIVE_FIELDS


def test_classic_task_has_its_uri_instead_of_its_id():
    uri = "http://example.test/todo/api/v1.0/tasks/" + TASK["id"]
    assert classic_task(TASK, uri) == {
        "uri": uri,
        "title": "write the report",
        "description": "by Friday",
        "done": True,
    }


def test_todo_has_completed_and_its_url():
    url = "http://example.test/todos/cap/" + TASK["id"]
    assert todo(TASK, url) == {
        "title": "write the report",
        "completed": True,
        "order": 7,
        "url": url,
    }


def test_fingerprint_ignores_key_order_only():
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


async def test_an_owner_holds_at_most_max_tasks_per_user(store):
    tasks = services.build(make_config(max_tasks_per_user=2), store).tasks
    owner = new_owner()
    for i in range(2):
        await tasks.create(owner, {"title": f"t{i}"})
    with pytest.raises(LimitReached) as refused:
        await tasks.create(owner, {"title": "one too many"})
    assert refused.value.limit == "max_tasks_per_user"
    assert len(await tasks.all(owner, owner.id)) == 2
    await tasks.create(new_owner(), {"title": "someone else's first"})
