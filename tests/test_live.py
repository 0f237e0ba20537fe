"""/api/live: authentication and origins, what each socket receives, limits, and
catching up after a reconnect — over real sockets, against the real database."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket

import httpx
import pytest
from harness.live import (
    connect,
    has_env,
    record,
    refused,
    task_doc,
    until,
)
from harness.users import login, register, register_and_login


@pytest.fixture
async def live(apps):
    return await apps.start()


async def user(base_url: str) -> tuple[str, str]:
    """A new user on the server at ``base_url``: its id and a token."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        _, headers = await register_and_login(client)
        me = (await client.get("/api/me", headers=headers)).json()["user"]
        return me["id"], headers["Authorization"].split()[1]


UPGRADE_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
}


# --- authentication and origins ---


async def test_no_credentials_is_401_before_the_upgrade(live):
    async with httpx.AsyncClient(base_url=live.url) as client:
        response = await client.get("/api/live", headers=UPGRADE_HEADERS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await refused(live.ws_url, token="not-a-token") == 401
    assert live.hub.by_owner == {}


async def test_a_foreign_origin_is_403_even_with_a_valid_cookie(apps):
    live = await apps.start(cors_origins=("https://app.example.com",))
    async with httpx.AsyncClient(base_url=live.url) as client:
        username = await register(client)
        await login(client, username)  # the session cookie, as a browser holds it
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        own = live.url

        evil = await client.get(
            "/api/live",
            headers={**UPGRADE_HEADERS, "Origin": "https://evil.example", "Cookie": cookie},
        )
        assert evil.status_code == 403
        assert evil.json()["error"]["code"] == "forbidden"

    for origin in (own, "https://app.example.com"):
        socket_ = await connect(live.ws_url, headers={"Origin": origin, "Cookie": cookie})
        assert (await socket_.ready())["type"] == "ready"
        socket_.close()
    assert (
        await refused(live.ws_url, headers={"Origin": "https://app.example.com.evil.example"})
        == 403
    )


async def test_a_ticket_opens_one_socket_and_is_never_logged(live, caplog):
    caplog.set_level(logging.DEBUG)
    _, token = await user(live.url)
    async with httpx.AsyncClient(base_url=live.url) as client:
        answer = await client.post("/api/live/ticket", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        ticket = answer.json()["ticket"]
        assert answer.json()["url"] == f"{live.ws_url}?ticket={ticket}"
        assert (await client.post("/api/live/ticket")).status_code == 401

    socket_ = await connect(live.ws_url, ticket=ticket)
    assert (await socket_.ready())["type"] == "ready"
    assert await refused(live.ws_url, ticket=ticket) == 401  # single use
    socket_.close()
    assert all(ticket not in record.getMessage() for record in caplog.records)


async def test_an_expired_ticket_is_refused(live, store):
    _, token = await user(live.url)
    login = await store.tokens.lookup(token)
    ticket, _ = await store.tickets.issue(login, ttl_seconds=-1)
    assert await refused(live.ws_url, ticket=ticket) == 401


# --- what a socket receives ---


async def test_each_user_gets_their_own_changes_only(live, store):
    alice, alice_token = await user(live.url)
    _, bob_token = await user(live.url)
    alice_socket = await connect(live.ws_url, token=alice_token)
    bob_socket = await connect(live.ws_url, token=bob_token)
    assert (await alice_socket.ready())["seq"] == 0
    await bob_socket.ready()

    task = task_doc("buy milk 牛奶 🥛")
    seq = await record(store, alice, "task.created", task)
    message = await alice_socket.next()
    assert message["type"] == "task.created"
    assert message["seq"] == seq == 1
    assert message["task"]["id"] == task["id"]
    assert message["task"]["title"] == "buy milk 牛奶 🥛"
    assert message["task"]["created_at"].endswith("Z")
    assert await bob_socket.nothing_pending() == []
    alice_socket.close()
    bob_socket.close()


async def test_ping_plain_text_and_bad_messages(live):
    _, token = await user(live.url)
    socket_ = await connect(live.ws_url, token=token)
    await socket_.ready()
    socket_.send({"type": "ping"})
    assert await socket_.next() == {"type": "pong"}
    socket_.send("hello")
    assert await socket_.next() == "You said: hello"
    socket_.send({"type": "subscribe"})
    assert (await socket_.next())["type"] == "error"
    socket_.send("[1, 2]")
    assert (await socket_.next())["type"] == "error"
    socket_.send({"type": "ping"})  # still connected
    assert await socket_.next() == {"type": "pong"}
    socket_.close()


async def test_a_message_over_64_kib_closes_the_socket_with_1009(live):
    _, token = await user(live.url)
    socket_ = await connect(live.ws_url, token=token)
    await socket_.ready()
    socket_.send("x" * (64 * 1024 + 1))
    assert await socket_.closed() == 1009


async def test_sockets_per_user_are_limited(apps):
    live = await apps.start(live_max_sockets=2)
    user_id, token = await user(live.url)
    sockets = [await connect(live.ws_url, token=token) for _ in range(2)]
    assert await refused(live.ws_url, token=token) == 429
    sockets.pop().close()
    await until(lambda: live.hub.sockets_of(user_id) == 1)
    sockets.append(await connect(live.ws_url, token=token))  # room again
    for s in sockets:
        s.close()


async def test_logout_closes_that_sessions_sockets_in_every_process(apps):
    a = await apps.start()
    b = await apps.start(separate=True)
    _, token = await user(a.url)
    async with httpx.AsyncClient(base_url=a.url) as client:
        username = (
            await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        ).json()["user"]["username"]
        other_token = await login(client, username)
    on_a = await connect(a.ws_url, token=token)
    on_b = await connect(b.ws_url, token=token)
    other = await connect(b.ws_url, token=other_token)
    for s in (on_a, on_b, other):
        await s.ready()

    async with httpx.AsyncClient(base_url=a.url) as client:
        assert (
            await client.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 204
    assert await on_a.closed() == 4401
    assert await on_b.closed() == 4401
    assert await other.nothing_pending() == []  # the other session stays
    assert await refused(a.ws_url, token=token) == 401
    other.close()


async def test_a_client_that_stops_reading_is_cut_off(apps):
    live = await apps.start()
    hub = live.hub
    hub.send_queue_limit = 16
    user_id, token = await user(live.url)

    # a client that upgrades and then never reads a byte
    loop = asyncio.get_running_loop()
    host, port = live.url.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await loop.sock_connect(raw, (host, int(port)))
    await loop.sock_sendall(
        raw,
        (
            "GET /api/live HTTP/1.1\r\nHost: {h}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: {k}\r\nSec-WebSocket-Version: 13\r\n"
            "Authorization: Bearer {t}\r\n\r\n"
        )
        .format(h=f"{host}:{port}", k=UPGRADE_HEADERS["Sec-WebSocket-Key"], t=token)
        .encode(),
    )
    assert (await loop.sock_recv(raw, 12)) == b"HTTP/1.1 101"
    for _ in range(100):
        if hub.by_owner.get(user_id):
            break
        await asyncio.sleep(0.02)
    (subscriber,) = hub.by_owner[user_id]
    while subscriber.last_seq is None:
        await asyncio.sleep(0.02)

    task = task_doc("x" * 200)
    task["description"] = "y" * 2000
    most_unflushed = 0
    for seq in range(subscriber.last_seq + 1, subscriber.last_seq + 5001):
        hub.publish({"owner": user_id, "seq": seq, "type": "task.updated", "task": task})
        most_unflushed = max(most_unflushed, subscriber.unflushed)
        if subscriber.closed:
            break
        if seq % 50 == 0:
            await asyncio.sleep(0)  # let the socket flush what the kernel takes
    assert subscriber.closed, "a client that never reads was never cut off"
    assert most_unflushed <= hub.send_queue_limit
    assert hub.sockets_of(user_id) == 0
    raw.close()
    # the server waits for a close handshake that will not come; the client going
    # away ends it, before this test's event loop does
    for _ in range(100):
        if subscriber.socket._on_close_called:
            break
        await asyncio.sleep(0.02)
    assert subscriber.socket._on_close_called


# --- catching up ---


async def test_reconnecting_with_the_last_seq_gets_what_was_missed_in_order(live, store):
    owner, token = await user(live.url)
    first = await connect(live.ws_url, token=token)
    await first.ready()
    tasks = [task_doc(f"task {i}") for i in range(3)]
    await record(store, owner, "task.created", tasks[0])
    last_seen = (await first.next())["seq"]
    first.close()

    await record(store, owner, "task.created", tasks[1])
    await record(store, owner, "task.updated", {**tasks[0], "title": "renamed", "version": 2})
    await record(store, owner, "task.deleted", tasks[1])

    again = await connect(live.ws_url, token=token, since=last_seen)
    got = [await again.next() for _ in range(4)]
    assert [(m["type"], m.get("seq")) for m in got] == [
        ("task.created", 2),
        ("task.updated", 3),
        ("task.deleted", 4),
        ("ready", 4),
    ]
    await record(store, owner, "task.created", tasks[2])  # and live again after that
    assert (await again.next())["seq"] == 5
    again.close()


async def test_a_long_catch_up_goes_at_the_clients_pace(live, store):
    live.hub.send_queue_limit = 8  # far fewer than the changes missed
    owner, token = await user(live.url)
    for i in range(40):
        await record(store, owner, "task.created", task_doc(f"t{i}"))
    client = await connect(live.ws_url, token=token, since=0)
    got = [await client.next() for _ in range(41)]
    assert [m["seq"] for m in got[:40]] == list(range(1, 41))
    assert got[40] == {"type": "ready", "seq": 40}
    assert await client.nothing_pending() == []  # not cut off
    client.close()


async def test_reconnecting_after_the_log_is_gone_says_resync(live, store):
    owner, token = await user(live.url)
    for i in range(3):
        await record(store, owner, "task.created", task_doc(f"t{i}"))
    await store.db.changes.delete_many({"owner": owner, "seq": {"$lte": 2}})
    client = await connect(live.ws_url, token=token, since=1)
    assert await client.next() == {"type": "resync", "seq": 3}
    client.close()
    # a seq from the future (another database, say) also means: fetch again
    client = await connect(live.ws_url, token=token, since=99)
    assert await client.next() == {"type": "resync", "seq": 3}
    client.close()
    async with httpx.AsyncClient(base_url=live.url) as http:
        bad = await http.get(
            "/api/live?since=-1", headers={**UPGRADE_HEADERS, "Authorization": f"Bearer {token}"}
        )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "since"


async def test_a_gap_in_the_stream_is_filled_from_the_log(live, store):
    owner, token = await user(live.url)
    client = await connect(live.ws_url, token=token)
    await client.ready()
    tasks = [task_doc(f"t{i}") for i in range(3)]
    for task in tasks:
        await record(store, owner, "task.created", task)
    assert [(await client.next())["seq"] for _ in range(3)] == [1, 2, 3]

    # as after a stream that lost its place: 4 and 5 are recorded, only 5 comes
    await live.hub.watches[0].stop()
    await record(store, owner, "task.deleted", tasks[1])
    await record(store, owner, "task.updated", {**tasks[0], "version": 2})
    (change,) = await store.changes.since(owner, 4)
    live.hub.publish(change)
    got = [await client.next() for _ in range(2)]
    assert [(m["type"], m["seq"]) for m in got] == [("task.deleted", 4), ("task.updated", 5)]
    assert live.hub.gap_catch_ups == 1
    assert await client.nothing_pending() == []

    # a gap the log cannot fill (it never had seq 7): the client is told to resync
    live.hub.publish({**change, "seq": 7})
    assert await client.next() == {"type": "resync", "seq": 6}
    assert (await client.next())["seq"] == 7
    client.close()


# --- switched off ---


async def test_live_off_serves_no_socket_and_opens_no_stream(apps):
    off = await apps.start(live=False)
    assert off.hub is None
    async with httpx.AsyncClient(base_url=off.url) as client:
        assert (await client.get("/api/live", headers=UPGRADE_HEADERS)).status_code == 404
        assert (await client.post("/api/live/ticket")).status_code == 404


@pytest.mark.skipif(
    not has_env("TASKHUB_TEST_STANDALONE_MONGODB_URI"),
    reason="needs a standalone mongod (no change streams): set TASKHUB_TEST_STANDALONE_MONGODB_URI",
)
async def test_start_up_on_a_standalone_mongod_fails_clearly(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    uri = os.environ["TASKHUB_TEST_STANDALONE_MONGODB_URI"]
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "app.py"),
            "--mongodb-uri",
            uri,
            "--data-dir",
            str(tmp_path),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "replica set" in done.stderr and "conf/mongod.conf" in done.stderr
    assert "--live=false" in done.stderr


async def test_a_burst_of_pings_from_a_reading_client_is_answered_in_full(live):
    _, token = await user(live.url)
    client = await connect(live.ws_url, token=token)
    await client.ready()
    burst = live.hub.send_queue_limit * 4
    for _ in range(burst):
        client.send({"type": "ping"})
    pongs = [await client.next() for _ in range(burst)]
    assert pongs == [{"type": "pong"}] * burst
    assert client.close_code is None
    client.close()


async def test_the_send_limit_counts_bytes_too(live, store):
    user_id, token = await user(live.url)
    live.hub.send_buffer_bytes = 4096
    client = await connect(live.ws_url, token=token)
    await client.ready()
    (subscriber,) = live.hub.by_owner[user_id]
    big = "x" * 5000  # more than the socket may hold unsent at once
    subscriber.send(big)
    assert await client.closed() == 1008
