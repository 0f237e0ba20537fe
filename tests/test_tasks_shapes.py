"""One stored task seen through all three shapes, after changes through each; every
write through any shape records its change."""

from __future__ import annotations

from harness.tasks import NATIVE_FIELDS
from harness.users import me, user

from services.encoding import to_json

CLASSIC = "/todo/api/v1.0/tasks"


async def views(client, auth, root, task_id) -> tuple[dict, dict, dict]:
    native = await client.get(f"/api/tasks/{task_id}", headers=auth)
    classic = await client.get(f"{CLASSIC}/{task_id}", headers=auth)
    todo = await client.get(f"{root}/{task_id}")
    assert native.status_code == classic.status_code == todo.status_code == 200
    return native.json()["task"], classic.json()["task"], todo.json()


def agree(native: dict, classic: dict, todo: dict) -> None:
    assert classic["uri"].endswith(f"{CLASSIC}/{native['id']}")
    assert todo["url"].endswith(f"/{native['id']}")
    assert classic["title"] == todo["title"] == native["title"]
    assert classic["description"] == native["description"]
    assert classic["done"] == todo["completed"] == native["done"]
    assert todo["order"] == native["order"]


async def test_one_task_through_three_shapes(client, store):
    auth = await user(client)
    account = await me(client, auth)
    root, owner = account["todos_url"], account["user"]["id"]

    # created natively
    created = (
        await client.post("/api/tasks", json={"title": "shared", "order": 7}, headers=auth)
    ).json()["task"]
    native, classic, todo = await views(client, auth, root, created["id"])
    agree(native, classic, todo)
    assert native == created

    # changed through the classic shape
    await client.put(
        classic["uri"], json={"description": "via classic", "done": True}, headers=auth
    )
    native, classic, todo = await views(client, auth, root, created["id"])
    agree(native, classic, todo)
    assert (native["description"], native["done"], native["version"]) == ("via classic", True, 2)

    # changed through Todo-Backend
    await client.patch(todo["url"], json={"title": "via todo", "completed": False, "order": 1})
    native, classic, todo = await views(client, auth, root, created["id"])
    agree(native, classic, todo)
    assert (native["title"], native["done"], native["order"], native["version"]) == (
        "via todo",
        False,
        1,
        3,
    )
    assert native["description"] == "via classic"  # a field Todo-Backend does not have is kept

    # changed natively again
    await client.patch(f"/api/tasks/{created['id']}", json={"title": "via native"}, headers=auth)
    native, classic, todo = await views(client, auth, root, created["id"])
    agree(native, classic, todo)

    # created through the other two, listed by all three in one order
    await client.post(CLASSIC, json={"title": "classic made"}, headers=auth)
    await client.post(root, json={"title": "todo made", "order": 0})
    native_list = (await client.get("/api/tasks", headers=auth)).json()["tasks"]
    classic_list = (await client.get(CLASSIC, headers=auth)).json()["tasks"]
    todo_list = (await client.get(root)).json()
    assert [t["title"] for t in native_list] == ["todo made", "via native", "classic made"]
    assert [t["title"] for t in classic_list] == [t["title"] for t in native_list]
    assert [t["title"] for t in todo_list] == [t["title"] for t in native_list]

    # deleted through each shape
    ids = [t["id"] for t in native_list]
    assert (await client.delete(f"{root}/{ids[0]}")).status_code == 204
    assert (await client.delete(f"{CLASSIC}/{ids[1]}", headers=auth)).json() == {"result": True}
    assert (await client.delete(f"/api/tasks/{ids[2]}", headers=auth)).status_code == 204
    assert (await client.get(root)).json() == []

    changes = await store.changes.since(owner, 0)
    assert [c["type"] for c in changes] == [
        "task.created",
        "task.updated",
        "task.updated",
        "task.updated",
        "task.created",
        "task.created",
        "task.deleted",
        "task.deleted",
        "task.deleted",
    ]
    assert [c["seq"] for c in changes] == list(range(1, 10))
    for change in changes:
        # whatever the shape written through, the change holds the native task
        assert set(change["task"]) == NATIVE_FIELDS
        assert type(change["task"]["done"]) is bool
    assert to_json(changes[3]["task"]) == native
