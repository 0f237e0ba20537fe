"""A whole instance exported as JSON lines and imported into a fresh database: every
API answer the same afterwards (store/backup.py), on the real database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from harness.commands import Operator
from harness.database import fresh_store
from harness.lists import Member, member, new_list, share
from harness.tasks import create
from harness.users import PASSWORD

from store import BackupError


async def snapshot(client: httpx.AsyncClient, who: Member) -> dict[str, Any]:
    """What ``who`` sees through the API, with URLs cut to their paths."""

    async def get(path: str) -> Any:
        response = await client.get(path, headers=who.auth)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    seen: dict[str, Any] = {"tasks": await get("/api/tasks?limit=200")}
    seen["lists"] = await get("/api/lists")
    for entry in seen["lists"]["lists"]:
        one = await get(f"/api/lists/{entry['id']}")
        url = one["list"].pop("todos_url")
        one["list"]["todos_path"] = httpx.URL(url).path if url else None
        seen[entry["id"]] = (one, await get(f"/api/lists/{entry['id']}/members"))
    me = await get("/api/me")
    me["todos_url"] = httpx.URL(me["todos_url"]).path
    seen["me"] = me
    seen["scores"] = await get("/api/scores?acc_nbr=13800000000")
    return seen


async def relogin(client: httpx.AsyncClient, who: Member) -> Member:
    response = await client.post(
        "/api/login", json={"username": who.username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return Member(who.username, response.json()["token"], who.id)


async def test_export_then_import_gives_the_same_answers(apps, store, mongodb_uri):
    source = await apps.start(follow=False)
    async with httpx.AsyncClient(base_url=source.url, timeout=15) as client:
        alice, bob = await member(client), await member(client)
        await create(client, alice.auth, title="one", due="2026-12-01", labels=["a"], priority=2)
        shared = await new_list(client, alice, "Shared")
        await share(client, alice, shared["id"], bob, "editor")
        await create(client, bob.auth, title="two", list_id=shared["id"], done=True)
        form = {"acc_nbr": "13800000000", "grade1": 5, "grade2": 4, "grade3": 3}
        form.update({"txt1": "好", "txt2": "", "txt3": ""})
        assert (await client.post("/score", json=form, headers=alice.auth)).status_code < 300
        before = {who.username: await snapshot(client, who) for who in (alice, bob)}

    lines = [line async for line in store.export_lines()]
    assert lines[0].startswith('{"format": "taskhub-instance/1"')

    async with fresh_store(mongodb_uri) as target:
        counts = await target.import_lines(iter(lines))
        assert counts["users"] == 2 and counts["tasks"] == 2 and counts["list_members"] == 4
        copy = await apps.start(store=target, follow=False)
        async with httpx.AsyncClient(base_url=copy.url, timeout=15) as client:
            after = {
                who.username: await snapshot(client, await relogin(client, who))
                for who in (alice, bob)
            }
        # the counters came along: the next change carries on from the same seq
        assert await target.changes.last_seq(alice.id) == await store.changes.last_seq(alice.id)
        with pytest.raises(BackupError, match="not empty"):
            await target.import_lines(iter(lines))
    assert after == before


@pytest.mark.parametrize(
    "lines, message",
    [
        ([], "first line"),
        (["not json"], "first line"),
        (['{"format": "something-else"}'], "not a taskhub export"),
        (['{"format": "taskhub-instance/1"}', "{"], "line 2"),
        (
            [
                '{"format": "taskhub-instance/1"}',
                '{"collection": "tokens", "document": {"_id": 1}}',
            ],
            "line 2",
        ),
    ],
)
async def test_a_file_that_is_no_export_is_refused_and_stores_nothing(store, lines, message):
    with pytest.raises(BackupError, match=message):
        await store.import_lines(iter(lines))
    assert await store.db.users.count_documents({}) == 0


async def test_the_commands_export_and_import_through_a_file(
    client, operator, store, mongodb_uri, tmp_path
):
    alice = await member(client)
    await create(client, alice.auth, title="carried over")
    path = tmp_path / "instance.jsonl"
    exported = await operator.run("export", str(path))
    assert exported.status == 0, exported.stderr
    assert path.read_text().count("\n") >= 4  # the header, a user, a list, a member, a task
    refused = await operator.run("import", str(path))  # into the same, not empty, database
    assert refused.status == 1 and "not empty" in refused.stderr

    async with fresh_store(mongodb_uri) as target:
        into = Operator(target, mongodb_uri, tmp_path / "other")
        imported = await into.run("import", str(path))
        assert imported.status == 0, imported.stderr
        assert "1 tasks" in imported.stderr
        task = await target.db.tasks.find_one({})
        assert task is not None and task["title"] == "carried over"
