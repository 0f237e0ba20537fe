"""A shared list end to end, in the shape ``./run --processes 2`` runs: nginx with the
shipped site in front of two taskhub processes on one database. Three members of one
list (owner, editor, viewer) each hold a live socket on process A, one on process B
and one through nginx; what the editor writes through process A reaches every socket
on both processes, a viewer's write is refused, a removed viewer hears of it and of
nothing after, and a socket that reconnects with ``?since=`` gets what it missed."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from harness.live import LiveClient, close_clients, connect
from harness.stacks import running_stack
from harness.users import login, register

from devstack.stack import Stack

pytestmark = pytest.mark.integration

WAIT = 15.0  # seconds any one expected message may take through the stack
SCENARIO_LIMIT = 180.0  # seconds the whole scenario may take

# where a socket is opened: each process directly, and nginx (either of them)
PLACES = ("A", "B", "nginx")


@dataclass
class Member:
    role: str  # in the shared list: how failures name them
    username: str
    token: str
    id: str
    sockets: dict[str, LiveClient] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def member(client: httpx.AsyncClient, role: str) -> Member:
    username = await register(client)
    token = await login(client, username)
    client.cookies.clear()
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return Member(role, username, token, me.json()["user"]["id"])


def live_urls(stack: Stack) -> dict[str, str]:
    a, b = (f"ws://127.0.0.1:{port}/api/live" for port in stack.ports)
    return {"A": a, "B": b, "nginx": stack.url.replace("http://", "ws://") + "/api/live"}


async def live_sockets(port: int) -> int:
    """How many live sockets the process on ``port`` holds (its own /metrics)."""
    async with httpx.AsyncClient(timeout=10) as c:
        text = (await c.get(f"http://127.0.0.1:{port}/metrics")).text
    match = re.search(r"^taskhub_live_sockets (\S+)$", text, flags=re.M)
    assert match, text
    return int(float(match.group(1)))


def of_type(kind: str, **where: Any):
    def matches(message: Any) -> bool:
        return (
            isinstance(message, dict)
            and message.get("type") == kind
            and all(_at(message, path) == value for path, value in where.items())
        )

    matches.__doc__ = f"{kind} {where}"
    return matches


def a_task_change(message: Any) -> bool:
    """a task.* change"""
    return isinstance(message, dict) and str(message.get("type")).startswith("task.")


def _at(message: dict[str, Any], path: str) -> Any:
    value: Any = message
    for part in path.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def each_gets(people: list[Member], predicate, places=PLACES) -> dict[tuple[str, str], Any]:
    """Waits until every socket of ``people`` at ``places`` has the message; them by
    (role, place)."""
    got = {}
    for who in people:
        for place in places:
            got[who.role, place] = await hears(who.sockets[place], predicate, (who.role, place))
    return got


async def hears(socket: LiveClient, predicate, where: Any) -> Any:
    """The first message ``predicate`` takes, within WAIT; else a failure that says
    whose socket it was and what it did get."""
    start = len(socket.received)
    try:
        return await socket.until(predicate, WAIT)
    except TimeoutError:
        raise AssertionError(
            f"{where}: not within {WAIT}s ({predicate.__doc__}); got {socket.received[start:]}"
        ) from None


def seqs(socket: LiveClient) -> list[int]:
    return [m["seq"] for m in socket.received if isinstance(m, dict) and "seq" in m]


async def last_seq(client: httpx.AsyncClient, who: Member) -> int:
    response = await client.get("/api/changes", headers=who.auth)
    assert response.status_code == 200, response.text
    return response.json()["seq"]


async def test_a_shared_list_across_nginx_and_two_processes(tmp_path, mongodb_uri):
    with running_stack(tmp_path, mongodb_uri, processes=2) as stack:
        try:
            await asyncio.wait_for(scenario(stack), SCENARIO_LIMIT)
        finally:
            close_clients()


async def scenario(stack: Stack) -> None:
    port_a, port_b = stack.ports
    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=20) as nginx,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_a}", timeout=20) as via_a,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port_b}", timeout=20) as via_b,
    ):
        owner, editor, viewer = [await member(nginx, r) for r in ("owner", "editor", "viewer")]
        everyone = [owner, editor, viewer]
        urls = live_urls(stack)
        for who in everyone:
            for place in PLACES:
                who.sockets[place] = await connect(urls[place], token=who.token)
                await hears(who.sockets[place], of_type("ready"), (who.role, place))
        # both processes hold sockets: three each made directly, and nginx's three
        # went to one or the other
        held = [await live_sockets(port) for port in stack.ports]
        assert sum(held) == 9 and min(held) >= 3, held

        # the owner makes a list and shares it: every member hears, on every socket
        made = await nginx.post("/api/lists", json={"name": "Groceries"}, headers=owner.auth)
        assert made.status_code == 201, made.text
        shared = made.json()["list"]
        list_id = shared["id"]
        await each_gets([owner], of_type("list.created", list__id=list_id))
        for who, role, through in ((editor, "editor", nginx), (viewer, "viewer", via_b)):
            response = await through.put(
                f"/api/lists/{list_id}/members/{who.username}",
                json={"role": role},
                headers=owner.auth,
            )
            assert response.status_code == 200, response.text
            added = await each_gets([who], of_type("list.added", list__id=list_id))
            assert {m["list"]["role"] for m in added.values()} == {role}
            await each_gets([owner], of_type("member.added", member__user__id=who.id))
        await each_gets([editor], of_type("member.added", member__user__id=viewer.id))

        # the editor writes through process A; all three hear it on process B too
        written = []
        for title in ("milk", "bread"):
            response = await via_a.post(
                "/api/tasks", json={"title": title, "list_id": list_id}, headers=editor.auth
            )
            assert response.status_code == 201, response.text
            written.append(response.json()["task"])
        milk, bread = written
        assert milk["created_by"] == {"id": editor.id, "username": editor.username}
        done = await via_a.patch(
            f"/api/tasks/{milk['id']}", json={"done": True}, headers=editor.auth
        )
        assert done.status_code == 200, done.text
        expected = [
            ("task.created", milk["id"], 1),
            ("task.created", bread["id"], 1),
            ("task.updated", milk["id"], 2),
        ]
        for who in everyone:
            by_place = {}
            for place in ("B", "A", "nginx"):
                socket = who.sockets[place]
                heard = []
                for _ in expected:  # the next task changes, whatever they are
                    heard.append(await hears(socket, a_task_change, (who.role, place)))
                assert [(m["type"], m["task"]["id"], m["task"]["version"]) for m in heard] == (
                    expected
                ), (who.role, place)
                assert heard[-1]["task"]["done"] is True and heard[-1]["task"]["list_id"] == list_id
                assert heard[-1]["task"]["updated_by"]["username"] == editor.username
                by_place[place] = [m["seq"] for m in heard]
            # one seq per change of the user's, the same on every socket
            assert by_place["A"] == by_place["B"] == by_place["nginx"], by_place
            got = seqs(who.sockets["B"])
            assert got == list(range(got[0], got[0] + len(got))), (who.role, got)

        # the viewer reads, and every write of theirs is 403, through any door
        owner_at = await last_seq(nginx, owner)
        seen = await via_b.get(f"/api/tasks?list_id={list_id}", headers=viewer.auth)
        assert [t["title"] for t in seen.json()["tasks"]] == ["milk", "bread"]
        for response in (
            await via_b.post(
                "/api/tasks", json={"title": "mine", "list_id": list_id}, headers=viewer.auth
            ),
            await via_a.patch(
                f"/api/tasks/{bread['id']}", json={"done": True}, headers=viewer.auth
            ),
            await nginx.delete(f"/api/tasks/{milk['id']}", headers=viewer.auth),
        ):
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "forbidden", response.text
        assert await last_seq(nginx, owner) == owner_at  # nothing was written

        # the editor's socket on B goes away; meanwhile the owner removes the viewer
        editor_left_at = seqs(editor.sockets["B"])[-1]
        editor.sockets["B"].close()
        viewer_before = await last_seq(nginx, viewer)
        removed = await nginx.delete(
            f"/api/lists/{list_id}/members/{viewer.username}", headers=owner.auth
        )
        assert removed.status_code == 204, removed.text
        gone = await each_gets([viewer], of_type("list.removed", list__id=list_id))
        assert {m["seq"] for m in gone.values()} == {viewer_before + 1}
        await each_gets([owner], of_type("member.removed", member__user__id=viewer.id))
        await each_gets(
            [editor], of_type("member.removed", member__user__id=viewer.id), ("A", "nginx")
        )

        # what the editor writes now reaches the owner and the editor, not the viewer
        response = await via_a.post(
            "/api/tasks", json={"title": "eggs", "list_id": list_id}, headers=editor.auth
        )
        assert response.status_code == 201, response.text
        eggs = response.json()["task"]
        await each_gets([owner], of_type("task.created", task__id=eggs["id"]))
        await each_gets([editor], of_type("task.created", task__id=eggs["id"]), ("A", "nginx"))
        for place in PLACES:  # process B has passed eggs on to the owner: none for the viewer
            assert await viewer.sockets[place].nothing_pending() == [], place
        assert await last_seq(nginx, viewer) == viewer_before + 1
        for path in (f"/api/tasks/{eggs['id']}", f"/api/lists/{list_id}"):
            assert (await via_b.get(path, headers=viewer.auth)).status_code == 404, path

        # the editor reconnects to B with ?since=: what it missed, in order, then ready
        back = await connect(urls["B"], token=editor.token, since=editor_left_at)
        ready = await hears(back, of_type("ready"), "editor back on B")
        missed = [m for m in back.received if m is not ready]
        assert [(m["type"], m["seq"]) for m in missed] == [
            ("member.removed", editor_left_at + 1),
            ("task.created", editor_left_at + 2),
        ], missed
        assert missed[0]["member"]["user"]["id"] == viewer.id
        assert missed[1]["task"]["id"] == eggs["id"]
        assert ready["seq"] == editor_left_at + 2 == await last_seq(nginx, editor)
        # the same as the socket on A heard, and as /api/changes answers
        on_a = [m for m in editor.sockets["A"].received if m.get("seq", 0) > editor_left_at]
        assert on_a == missed
        page = await via_a.get(f"/api/changes?since={editor_left_at}", headers=editor.auth)
        assert page.json()["changes"] == missed and page.json()["more"] is False

        # the removed viewer catching up gets the removal and nothing after it
        viewer_back = await connect(urls["nginx"], token=viewer.token, since=viewer_before)
        ready = await hears(viewer_back, of_type("ready"), "viewer back through nginx")
        assert [(m["type"], m["seq"]) for m in viewer_back.received] == [
            ("list.removed", viewer_before + 1),
            ("ready", viewer_before + 1),
        ]
