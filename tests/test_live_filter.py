"""A process's stream of changes brings only the changes of users with a socket
there, and none while it has no socket; a socket that opens while its user's changes
are being written still gets every one of them, once, in order."""

from __future__ import annotations

import asyncio

import httpx
from harness.live import LiveClient, connect, record, task_doc, until
from harness.users import register_and_login


async def user(base_url: str) -> tuple[str, str]:
    """A new user: its id and a token."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        _, headers = await register_and_login(client)
        me = (await client.get("/api/me", headers=headers)).json()["user"]
        return me["id"], headers["Authorization"].split()[1]


async def test_the_stream_brings_only_the_changes_of_users_with_sockets_here(apps, store):
    live = await apps.start()
    watch = live.hub.task_changes
    alice, alice_token = await user(live.url)
    bob, _ = await user(live.url)
    assert not watch.following  # no socket yet

    socket_ = await connect(live.ws_url, token=alice_token)
    await socket_.ready()
    assert live.hub.followed == {alice} and watch.following
    before = watch.events
    for i in range(5):
        await record(store, bob, "task.created", task_doc(f"bob's {i}"))
    seq = await record(store, alice, "task.created", task_doc("alice's"))
    assert (await socket_.next())["seq"] == seq
    assert watch.events - before == 1  # bob's five never left the database

    socket_.close()
    await until(lambda: live.hub.followed == frozenset())
    assert not watch.following
    missed = await record(store, alice, "task.created", task_doc("while away"))
    again = await connect(live.ws_url, token=alice_token, since=seq)
    assert (await again.next())["seq"] == missed
    assert (await again.ready())["seq"] == missed
    again.close()


async def test_sockets_opening_while_their_users_changes_are_written_miss_none(apps, store):
    live = await apps.start()
    users = [await user(live.url) for _ in range(4)]
    rounds = 12
    written: dict[str, int] = {}

    async def write() -> None:
        for i in range(rounds):
            for owner, _ in users:
                written[owner] = await record(store, owner, "task.created", task_doc(f"{i}"))
            await asyncio.sleep(0.01)

    async def open_late(token: str, delay: float) -> tuple[LiveClient, int]:
        await asyncio.sleep(delay)
        socket_ = await connect(live.ws_url, token=token)
        return socket_, (await socket_.ready())["seq"]

    opened = await asyncio.gather(
        *(open_late(token, 0.03 * n) for n, (_, token) in enumerate(users)), write()
    )
    for (owner, _), (socket_, start) in zip(users, opened[:-1], strict=False):
        seqs: list[int] = []
        while (seqs[-1] if seqs else start) < written[owner]:
            seqs.append((await socket_.next())["seq"])
        assert seqs == list(range(start + 1, written[owner] + 1)), (owner, start, seqs)
        assert await socket_.nothing_pending() == []
        socket_.close()
    assert live.hub.task_changes.refiltered >= 2  # the stream was reopened as they came
