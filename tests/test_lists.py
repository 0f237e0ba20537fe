"""Lists and sharing over real HTTP and WebSocket, against the real database: the
default list, list writes, members and roles, the new task fields, filters, sorts,
moves between lists, and live updates reaching every member."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from bson import ObjectId
from harness.database import Commands, fresh_store
from harness.lists import Member, member, new_list, share
from harness.live import connect
from harness.tasks import create

from services.lists import OWNERS
from store import Person
from store.tasks import SORTS, TaskFilter, _branch


async def titles(client: httpx.AsyncClient, who: Member, query: str = "") -> list[str]:
    response = await client.get(f"/api/tasks{query}", headers=who.auth)
    assert response.status_code == 200, response.text
    return [t["title"] for t in response.json()["tasks"]]


# --- lists ---


async def test_every_user_has_a_default_inbox_first(client):
    alice = await member(client)
    response = await client.get("/api/lists", headers=alice.auth)
    assert response.status_code == 200
    (inbox,) = response.json()["lists"]
    assert inbox["id"] == alice.id and inbox["default"] is True and inbox["name"] == "Inbox"
    assert inbox["role"] == "owner"
    assert inbox["owner"] == {"id": alice.id, "username": alice.username}
    assert set(inbox) == {
        "id",
        "name",
        "owner",
        "role",
        "default",
        "created_at",
        "updated_at",
        "version",
    }
    await new_list(client, alice, "Work")
    await new_list(client, alice, "Audits")
    names = [
        entry["name"]
        for entry in (await client.get("/api/lists", headers=alice.auth)).json()["lists"]
    ]
    assert names == ["Inbox", "Audits", "Work"]
    task = await create(client, alice.auth, title="no list given")
    assert task["list_id"] == alice.id


async def test_the_default_list_cannot_be_deleted(client):
    alice = await member(client)
    response = await client.delete(f"/api/lists/{alice.id}", headers=alice.auth)
    assert response.status_code == 409
    assert "default" in response.json()["error"]["message"]


async def test_create_rename_delete_with_versions_and_idempotency(client):
    alice = await member(client)
    key = {"Idempotency-Key": "list-1", **alice.auth}
    first = await client.post("/api/lists", json={"name": " Trip "}, headers=key)
    again = await client.post("/api/lists", json={"name": " Trip "}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    made = first.json()["list"]
    assert again.json()["list"] == made and made["name"] == "Trip" and made["version"] == 1
    other = await client.post("/api/lists", json={"name": "Other"}, headers=key)
    assert other.status_code == 422

    stale = await client.patch(
        f"/api/lists/{made['id']}", json={"name": "x"}, headers={"If-Match": '"7"', **alice.auth}
    )
    assert stale.status_code == 412
    renamed = await client.patch(
        f"/api/lists/{made['id']}",
        json={"name": "Holiday"},
        headers={"If-Match": '"1"', **alice.auth},
    )
    assert renamed.status_code == 200 and renamed.headers["ETag"] == '"2"'
    assert renamed.json()["list"]["name"] == "Holiday"

    for i in range(3):
        await create(client, alice.auth, title=f"pack {i}", list_id=made["id"])
    gone = await client.delete(f"/api/lists/{made['id']}", headers=alice.auth)
    assert gone.status_code == 204
    assert (await client.get(f"/api/lists/{made['id']}", headers=alice.auth)).status_code == 404
    assert await titles(client, alice) == []


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 3}, {"name": "a", "x": 1}],
)
async def test_a_bad_list_name_is_400(client, body):
    alice = await member(client)
    response = await client.post("/api/lists", json=body, headers=alice.auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


# --- members and roles ---


async def test_members_and_roles(client):
    owner, editor, viewer = await member(client), await member(client), await member(client)
    shared = await new_list(client, owner)
    assert (await share(client, owner, shared["id"], editor, "editor"))["role"] == "editor"
    await share(client, owner, shared["id"], viewer, "viewer")
    members = (await client.get(f"/api/lists/{shared['id']}/members", headers=viewer.auth)).json()
    assert [(m["user"]["username"], m["role"]) for m in members["members"]] == [
        (owner.username, "owner"),
        *sorted([(editor.username, "editor"), (viewer.username, "viewer")]),
    ]
    seen = (await client.get("/api/lists", headers=viewer.auth)).json()["lists"]
    assert [(entry["id"], entry["role"]) for entry in seen][1:] == [(shared["id"], "viewer")]

    # an editor writes tasks, and people see who did it
    task = await create(client, editor.auth, title="milk", list_id=shared["id"])
    assert task["created_by"] == {"id": editor.id, "username": editor.username}
    done = await client.patch(f"/api/tasks/{task['id']}", json={"done": True}, headers=owner.auth)
    assert done.json()["task"]["updated_by"]["username"] == owner.username
    assert done.json()["task"]["completed_at"] is not None
    # a viewer reads, and gets 403 on every write
    assert (await client.get(f"/api/tasks/{task['id']}", headers=viewer.auth)).status_code == 200
    for response in (
        await client.post(
            "/api/tasks", json={"title": "x", "list_id": shared["id"]}, headers=viewer.auth
        ),
        await client.patch(f"/api/tasks/{task['id']}", json={"done": False}, headers=viewer.auth),
        await client.delete(f"/api/tasks/{task['id']}", headers=viewer.auth),
        await client.patch(f"/api/lists/{shared['id']}", json={"name": "x"}, headers=viewer.auth),
        await client.put(
            f"/api/lists/{shared['id']}/members/{editor.username}",
            json={"role": "viewer"},
            headers=viewer.auth,
        ),
    ):
        assert response.status_code == 403, response.text
    # an editor may not manage the list
    assert (
        await client.delete(f"/api/lists/{shared['id']}", headers=editor.auth)
    ).status_code == 403
    # the owner changes a role, cannot leave, removes a member; a member leaves
    assert (await share(client, owner, shared["id"], viewer, "editor"))["role"] == "editor"
    leave = await client.delete(
        f"/api/lists/{shared['id']}/members/{owner.username}", headers=owner.auth
    )
    assert leave.status_code == 409
    left = await client.delete(
        f"/api/lists/{shared['id']}/members/{viewer.username}", headers=viewer.auth
    )
    assert left.status_code == 204
    removed = await client.delete(
        f"/api/lists/{shared['id']}/members/{editor.username}", headers=owner.auth
    )
    assert removed.status_code == 204
    for former in (editor, viewer):
        response = await client.get(f"/api/tasks/{task['id']}", headers=former.auth)
        assert response.status_code == 404


async def test_unknown_usernames_bad_roles_and_the_member_limit(client, apps):
    url = await apps.url(max_members_per_list=2)
    async with httpx.AsyncClient(base_url=url, timeout=15) as limited:
        owner, one, two = await member(limited), await member(limited), await member(limited)
        shared = await new_list(limited, owner)
        path = f"/api/lists/{shared['id']}/members"
        unknown = await limited.put(
            f"{path}/nobody_here", json={"role": "editor"}, headers=owner.auth
        )
        assert unknown.status_code == 404
        for body in ({"role": "owner"}, {"role": "admin"}, {}, {"role": "editor", "x": 1}):
            bad = await limited.put(f"{path}/{one.username}", json=body, headers=owner.auth)
            assert bad.status_code == 400, body
        await share(limited, owner, shared["id"], one, "viewer")
        full = await limited.put(
            f"{path}/{two.username}", json={"role": "viewer"}, headers=owner.auth
        )
        assert full.status_code == 403
        assert full.json()["error"]["code"] == "limit_reached"


@pytest.mark.parametrize("listed_first", [False, True], ids=["new", "listed"])
async def test_the_list_limit_counts_the_default_list_made_or_not(apps, listed_first):
    async with httpx.AsyncClient(base_url=await apps.url(max_lists_per_user=2), timeout=15) as c:
        alice = await member(c)
        if listed_first:  # which makes the default list now
            assert len((await c.get("/api/lists", headers=alice.auth)).json()["lists"]) == 1
        await new_list(c, alice, "Work")
        refused = await c.post("/api/lists", json={"name": "More"}, headers=alice.auth)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "limit_reached"
        owned = (await c.get("/api/lists", headers=alice.auth)).json()["lists"]
        assert [entry["name"] for entry in owned] == ["Inbox", "Work"]


async def test_a_stranger_cannot_tell_a_list_from_a_missing_one(client):
    owner, stranger = await member(client), await member(client)
    shared = await new_list(client, owner)
    task = await create(client, owner.auth, list_id=shared["id"])
    missing = "0123456789abcdef01234567"
    pairs = [
        (f"/api/lists/{shared['id']}", f"/api/lists/{missing}"),
        (f"/api/lists/{shared['id']}/members", f"/api/lists/{missing}/members"),
        (f"/api/tasks?list_id={shared['id']}", f"/api/tasks?list_id={missing}"),
    ]
    for real, fake in pairs:
        a = await client.get(real, headers=stranger.auth)
        b = await client.get(fake, headers=stranger.auth)
        assert a.status_code == b.status_code == 404
        assert a.json() == b.json()
    moved = await client.patch(
        f"/api/tasks/{task['id']}", json={"title": "mine now"}, headers=stranger.auth
    )
    missing_task = await client.patch(
        f"/api/tasks/{missing}", json={"title": "mine now"}, headers=stranger.auth
    )
    assert moved.status_code == missing_task.status_code == 404
    assert moved.json() == missing_task.json()


# --- task fields ---


async def test_due_priority_labels_and_completed_at(client):
    alice = await member(client)
    task = await create(
        client,
        alice.auth,
        title="pay rent",
        due="2026-12-01T09:30:00+08:00",
        priority=2,
        labels=["home", "money"],
    )
    assert (task["due"], task["priority"], task["labels"]) == (
        "2026-12-01T09:30:00+08:00",
        2,
        ["home", "money"],
    )
    assert task["completed_at"] is None
    dated = await create(client, alice.auth, title="a day", due="2026-12-01")
    assert dated["due"] == "2026-12-01"
    utc = await create(client, alice.auth, title="utc", due="2026-12-01t01:30:00.123456z")
    assert utc["due"] == "2026-12-01T01:30:00.123Z"
    done = await client.patch(f"/api/tasks/{task['id']}", json={"done": True}, headers=alice.auth)
    assert done.json()["task"]["completed_at"] is not None
    undone = await client.patch(
        f"/api/tasks/{task['id']}", json={"done": False, "due": None}, headers=alice.auth
    )
    assert undone.json()["task"]["completed_at"] is None and undone.json()["task"]["due"] is None


@pytest.mark.parametrize(
    "fields",
    [
        {"due": "2026-13-01"},
        {"due": "2026-12-01T09:30:00"},  # no offset
        {"due": "2026-12-01T09:30:00+08:60"},  # an offset's minutes end at 59
        {"due": "tomorrow"},
        {"due": "0001-01-01"},
        {"due": "２０２６-12-01"},
        {"due": 20261201},
        {"priority": 4},
        {"priority": -1},
        {"priority": True},
        {"priority": "1"},
        {"labels": "home"},
        {"labels": ["a"] * 2},
        {"labels": [str(i) for i in range(11)]},
        {"labels": ["x" * 33]},
        {"labels": [""]},
        {"labels": [1]},
        {"list_id": 5},
        {"completed_at": "2026-01-01T00:00:00Z"},
        {"created_by": {"id": "x"}},
    ],
)
async def test_bad_task_fields_are_400_and_store_nothing(client, fields):
    alice = await member(client)
    response = await client.post("/api/tasks", json={"title": "t", **fields}, headers=alice.auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == next(iter(fields))
    assert await titles(client, alice) == []


# --- the list of tasks: filters, sorts, pages ---


async def test_filters_and_sorts_across_lists(client):
    alice, bob = await member(client), await member(client)
    work = await new_list(client, alice, "Work")
    theirs = await new_list(client, bob, "Bob's")
    await share(client, bob, theirs["id"], alice, "viewer")
    await create(client, alice.auth, title="Alpha", due="2026-12-03", priority=1, labels=["x"])
    await create(client, alice.auth, title="beta", description="see ALPHA", list_id=work["id"])
    await create(
        client, alice.auth, title="Gamma", due="2026-12-01T10:00:00Z", priority=3, done=True
    )
    await create(client, bob.auth, title="delta", list_id=theirs["id"], labels=["x", "y"], order=1)
    await create(client, bob.auth, title="hidden")  # bob's inbox: not alice's to see

    assert sorted(await titles(client, alice)) == ["Alpha", "Gamma", "beta", "delta"]
    assert await titles(client, alice, f"?list_id={work['id']}") == ["beta"]
    assert sorted(await titles(client, alice, "?q=alpha")) == ["Alpha", "beta"]
    assert await titles(client, alice, "?q=.*") == []  # text, never a pattern
    assert sorted(await titles(client, alice, "?label=x")) == ["Alpha", "delta"]
    assert await titles(client, alice, "?priority=3") == ["Gamma"]
    assert await titles(client, alice, "?done=true") == ["Gamma"]
    assert await titles(client, alice, "?due_before=2026-12-02") == ["Gamma"]
    assert await titles(client, alice, "?due_after=2026-12-01T10:00:00Z") == ["Alpha"]
    # no due date last; ties by order (delta has one, beta none)
    assert await titles(client, alice, "?sort=due") == ["Gamma", "Alpha", "delta", "beta"]
    assert await titles(client, alice, "?sort=priority") == ["Gamma", "Alpha", "delta", "beta"]
    by_created = await titles(client, alice, "?sort=created")
    assert by_created == ["delta", "Gamma", "beta", "Alpha"]
    assert (await titles(client, alice, "?sort=updated"))[0] == "delta"
    for bad in ("?sort=name", "?priority=9", "?due_before=soon", "?label=", "?q=", "?cursor=x"):
        response = await client.get(f"/api/tasks{bad}", headers=alice.auth)
        assert response.status_code == 400, bad


async def test_due_filters_on_a_single_list(client):
    alice = await member(client)  # her Inbox alone: one list, the single-list query
    await create(client, alice.auth, title="Yesterday", due="2026-11-21")
    await create(client, alice.auth, title="Today", due="2026-11-22")
    await create(client, alice.auth, title="Moment", due="2026-11-22T09:30:00+08:00")
    await create(client, alice.auth, title="Undated")
    assert await titles(client, alice, "?due_before=2026-11-22") == ["Yesterday"]
    assert await titles(client, alice, "?due_before=2026-11-22T02:00:00Z") == [
        "Yesterday",
        "Today",
        "Moment",
    ]
    assert await titles(client, alice, "?due_after=2026-11-21T23:59:59.999Z") == [
        "Today",
        "Moment",
    ]


@pytest.mark.parametrize("sort", list(SORTS))
async def test_every_sort_pages_through_all_tasks_once(client, sort):
    alice = await member(client)
    second = await new_list(client, alice, "Second")
    made = set()
    for i in range(7):
        extra: dict[str, Any] = {"priority": i % 4, "order": i % 3 or None}
        if i % 2:
            extra["due"] = f"2026-12-0{i}"
        extra["list_id"] = second["id"] if i % 2 else alice.id
        made.add((await create(client, alice.auth, title=f"t{i}", **extra))["id"])
    seen: list[str] = []
    url: str | None = f"/api/tasks?sort={sort}&limit=2"
    while url:
        page = (await client.get(url, headers=alice.auth)).json()
        seen += [t["id"] for t in page["tasks"]]
        url = page["next"]
        if len(seen) == 4:  # a task added between pages does not upset the paging
            await create(client, alice.auth, title="late", priority=0)
    assert made <= set(seen) and len(seen) == len(set(seen))


async def test_every_filter_and_sort_is_answered_from_an_index(store):
    """Each branch of a page (one list: the query store.tasks.page sends per list) is
    planned by the server with an index, whatever the filters and sort."""
    await store.create_indexes()
    filters = [
        TaskFilter(),
        TaskFilter(done=True),
        TaskFilter(due_before="2026-12-01", due_after="2026-01-01"),
        TaskFilter(label="x"),
        TaskFilter(priority=2),
        TaskFilter(q="milk"),
        TaskFilter(done=False, label="x", priority=1, q="a", due_before="2027-01-01"),
    ]
    checked = 0
    for sort, (key, _) in SORTS.items():
        for narrowed in filters:
            for after in (None, "0"):
                query = _branch("some-list", narrowed.query(), key, after)
                plan = await store.db.command(
                    "explain", {"find": "tasks", "filter": query, "sort": {key: 1}}
                )
                text = str(plan["queryPlanner"]["winningPlan"])
                if isinstance(plan["queryPlanner"]["winningPlan"], list):
                    # the embedded server: SQLite's plan, which must search an index
                    assert "USING INDEX" in text, (sort, query, text)
                else:
                    assert "IXSCAN" in text and "COLLSCAN" not in text, (sort, query, text)
                checked += 1
    assert checked == len(SORTS) * len(filters) * 2


# --- moving ---


async def test_moving_a_task_needs_editor_rights_on_both_lists(client):
    owner, editor = await member(client), await member(client)
    source, target, read_only = (
        await new_list(client, owner, "A"),
        await new_list(client, owner, "B"),
        await new_list(client, owner, "C"),
    )
    await share(client, owner, source["id"], editor, "editor")
    await share(client, owner, read_only["id"], editor, "viewer")
    task = await create(client, editor.auth, list_id=source["id"])
    to_viewer = await client.patch(
        f"/api/tasks/{task['id']}", json={"list_id": read_only["id"]}, headers=editor.auth
    )
    assert to_viewer.status_code == 403
    to_hidden = await client.patch(
        f"/api/tasks/{task['id']}", json={"list_id": target["id"]}, headers=editor.auth
    )
    assert to_hidden.status_code == 404 and to_hidden.json()["error"]["field"] == "list_id"
    moved = await client.patch(
        f"/api/tasks/{task['id']}", json={"list_id": target["id"]}, headers=owner.auth
    )
    assert moved.status_code == 200 and moved.json()["task"]["list_id"] == target["id"]
    assert (await client.get(f"/api/tasks/{task['id']}", headers=editor.auth)).status_code == 404


# --- live, for every member ---


async def test_every_member_hears_of_changes_and_a_removed_one_stops(apps):
    served = await apps.start()
    async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
        owner, editor, viewer = await member(client), await member(client), await member(client)
        sockets = {
            who.username: await connect(served.ws_url, token=who.token)
            for who in (owner, editor, viewer)
        }
        for socket in sockets.values():
            await socket.ready()
        shared = await new_list(client, owner)
        created = await sockets[owner.username].until(lambda m: m["type"] == "list.created")
        assert created["list"]["id"] == shared["id"]

        await share(client, owner, shared["id"], editor, "editor")
        added = await sockets[editor.username].until(lambda m: m["type"] == "list.added")
        assert added["list"]["role"] == "editor"
        heard = await sockets[owner.username].until(lambda m: m["type"] == "member.added")
        assert heard["member"]["user"]["username"] == editor.username

        task = await create(client, editor.auth, title="shared", list_id=shared["id"])
        for who in (owner, editor):
            message = await sockets[who.username].until(lambda m: m["type"] == "task.created")
            assert message["task"]["id"] == task["id"]
        assert await sockets[viewer.username].nothing_pending() == []

        await client.delete(
            f"/api/lists/{shared['id']}/members/{editor.username}", headers=owner.auth
        )
        gone = await sockets[editor.username].until(lambda m: m["type"] == "list.removed")
        assert gone["list"]["id"] == shared["id"]
        await client.patch(f"/api/tasks/{task['id']}", json={"done": True}, headers=owner.auth)
        await sockets[owner.username].until(lambda m: m["type"] == "task.updated")
        assert await sockets[editor.username].nothing_pending() == []

        # seq stays gapless per user, and catch-up replays the same messages
        for who in (owner, editor):
            seqs = [
                m["seq"]
                for m in sockets[who.username].received
                if "seq" in m and m["type"] != "ready"
            ]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
        replay = (await client.get("/api/changes?since=0", headers=owner.auth)).json()
        assert [c["type"] for c in replay["changes"]] == [
            "list.created",
            "member.added",
            "task.created",
            "member.removed",
            "task.updated",
        ]


async def test_a_removed_editors_todo_backend_url_stays_dead_when_they_come_back(client):
    owner, editor = await member(client), await member(client)
    shared = await new_list(client, owner)
    await share(client, owner, shared["id"], editor, "editor")
    url = (await client.get(f"/api/lists/{shared['id']}", headers=editor.auth)).json()["list"][
        "todos_url"
    ]
    assert (await client.get(url)).status_code == 200
    path = f"/api/lists/{shared['id']}/members/{editor.username}"
    assert (await client.delete(path, headers=owner.auth)).status_code == 204
    assert (await client.get(url)).status_code == 404
    await share(client, owner, shared["id"], editor, "editor")
    assert (await client.get(url)).status_code == 404
    again = (await client.get(f"/api/lists/{shared['id']}", headers=editor.auth)).json()["list"]
    assert again["todos_url"] != url and (await client.get(again["todos_url"])).status_code == 200


async def test_a_move_counts_against_the_task_limit_of_the_new_lists_owner(apps):
    async with httpx.AsyncClient(base_url=await apps.url(max_tasks_per_user=1), timeout=15) as c:
        owner, editor = await member(c), await member(c)
        full = await new_list(c, owner, "Full")
        await share(c, owner, full["id"], editor, "editor")
        await create(c, owner.auth, list_id=full["id"])  # the owner holds all they may
        mine = await create(c, editor.auth)
        moved = await c.patch(
            f"/api/tasks/{mine['id']}", json={"list_id": full["id"]}, headers=editor.auth
        )
        assert moved.status_code == 403, moved.text
        assert moved.json()["error"]["code"] == "limit_reached"
        assert (await c.get(f"/api/tasks/{mine['id']}", headers=editor.auth)).json()["task"][
            "list_id"
        ] == editor.id
        # between lists of one owner the count does not change: no limit in the way
        other = await new_list(c, owner, "Other")
        (task,) = (await c.get(f"/api/tasks?list_id={full['id']}", headers=owner.auth)).json()[
            "tasks"
        ]
        again = await c.patch(
            f"/api/tasks/{task['id']}", json={"list_id": other["id"]}, headers=owner.auth
        )
        assert again.status_code == 200, again.text


async def test_a_task_moves_into_a_default_list_not_made_yet(client):
    owner, editor = await member(client), await member(client)
    shared = await new_list(client, owner)
    await share(client, owner, shared["id"], editor, "editor")
    task = await create(client, editor.auth, list_id=shared["id"])
    # the editor's default list is made on first use: this move is its first
    moved = await client.patch(
        f"/api/tasks/{task['id']}", json={"list_id": editor.id}, headers=editor.auth
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["task"]["list_id"] == editor.id
    assert (await client.get(f"/api/tasks/{task['id']}", headers=owner.auth)).status_code == 404


async def test_renaming_a_shared_list_takes_four_round_trips_and_its_commit(mongodb_uri):
    commands = Commands()
    async with fresh_store(mongodb_uri, event_listeners=[commands]) as store:
        owner, guest = (Person(str(ObjectId()), name) for name in ("owner", "guest"))
        made, _ = await store.lists.create(owner, "shared")
        await store.lists.set_member(owner, made["id"], guest, "editor", allowed=OWNERS, limit=10)
        commands.clear()
        renamed = await store.lists.rename(owner, made["id"], "renamed", allowed=OWNERS)
        assert renamed["name"] == "renamed"
        # the list; its members with their heads; the list written; the heads moved
        # on with a change for each member beside them
        assert commands.requests() == [
            ("find", "lists"),
            ("aggregate", "list_members"),
            ("update", "lists"),
            ("update", "changes"),
            ("commitTransaction", 1),
        ]
        for person, seq in ((owner, 3), (guest, 2)):
            changes = await store.changes.since(person.id, seq - 1)
            assert [(c["seq"], c["type"]) for c in changes] == [(seq, "list.updated")]
