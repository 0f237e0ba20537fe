"""Each process remembers recent logins (store/login_cache.py): an authenticated
request usually costs no lookup in ``tokens``, and a login that ends is refused by
every process within the change stream's lag, at once by the one that ends it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from harness.database import Commands, fresh_store
from harness.users import login, register

from store.clock import utcnow
from store.login_cache import LoginCache
from store.tokens import Login, token_digest

REFUSED_WITHIN = 2.0  # seconds: the stream's lag, with room for a loaded machine


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(client: httpx.AsyncClient, base: str, token: str) -> int:
    return (await client.get(f"{base}/api/me", headers=bearer(token))).status_code


@pytest.fixture
async def monitored(mongodb_uri, apps):
    """taskhub served with a database client whose every command is recorded."""
    commands = Commands()
    async with fresh_store(mongodb_uri, event_listeners=[commands]) as store:
        yield commands, store, await apps.url(store=store, live=False)


async def test_a_remembered_login_costs_no_round_trip(monitored):
    commands, store, base = monitored
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        token = await login(client, await register(client))
        commands.clear()
        assert (await client.get("/api/tasks", headers=bearer(token))).status_code == 200
        assert ("find", "tokens") in commands.requests()  # the first request looks it up
        for _ in range(3):
            commands.clear()
            assert (await client.get("/api/tasks", headers=bearer(token))).status_code == 200
            # the lists the user sees, their tasks: no lookup of the login
            assert commands.requests() == [("find", "list_members"), ("find", "tasks")]
        assert token_digest(token) in store.tokens.cache.entries


async def test_nothing_is_served_past_the_max_age_while_the_stream_is_down(monitored):
    commands, store, base = monitored
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        token = await login(client, await register(client))
        assert await me(client, base, token) == 200
        memory, ended = store.tokens.cache, store.tokens.ended
        assert ended.following
        # the stream goes down (its watch no longer reads): another process's end of
        # the login is not heard ...
        assert ended.watch is not None
        await ended.watch.stop()
        await store.tokens.collection.delete_one({"_id": {"$eq": token_digest(token)}})
        # ... so the login is served from memory, but no longer than its max age
        assert await me(client, base, token) == 200
        memory.clock = lambda: time.monotonic() + memory.max_age
        commands.clear()
        assert await me(client, base, token) == 401
        assert ("find", "tokens") in commands.requests()


async def test_a_login_ended_through_one_process_is_refused_by_another(apps):
    a = await apps.start(follow=False)
    # another process: its own database client, no live updates, so no hub and no socket
    b = await apps.start(separate=True, live=False)
    async with httpx.AsyncClient(timeout=30) as client:
        client.base_url = httpx.URL(a.url)
        username = await register(client)
        token = await login(client, username)
        kept = await login(client, username)
        for served in (a, b):
            assert await me(client, served.url, token) == 200
            assert await me(client, served.url, token) == 200  # remembered
        assert token_digest(token) in b.services.store.tokens.cache.entries

        ended = await client.post(f"{a.url}/api/logout", headers=bearer(token))
        assert ended.status_code == 204, ended.text
        assert await me(client, a.url, token) == 401  # at once where it ended
        started = time.monotonic()
        while await me(client, b.url, token) != 401:
            assert time.monotonic() - started < REFUSED_WITHIN, "b still serves the login"
            await asyncio.sleep(0.02)
        assert await me(client, b.url, kept) == 200  # the user's other login lives on


async def test_the_process_that_ends_logins_refuses_them_at_once(apps):
    base = (await apps.start(separate=True, live=False)).url
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        username = await register(client)
        current, other, third = [await login(client, username) for _ in range(3)]
        for token in (current, other, third):
            assert await me(client, base, token) == 200
        logins = (await client.get("/api/me/logins", headers=bearer(current))).json()["logins"]
        named = next(entry for entry in logins if not entry["current"])["id"]
        gone = await client.delete(f"/api/me/logins/{named}", headers=bearer(current))
        assert gone.status_code == 204
        assert sorted([await me(client, base, t) for t in (other, third)]) == [200, 401]
        assert (await client.delete("/api/me/logins", headers=bearer(current))).status_code == 204
        assert [await me(client, base, t) for t in (current, other, third)] == [200, 401, 401]


def a_login(digest: str, user_id: str = "u1") -> Login:
    return Login(digest=digest, user_id=user_id, username=user_id, expires_at=utcnow())


def test_the_cache_is_bounded_in_size_and_age():
    now = [0.0]
    cache = LoginCache(max_entries=2, max_age=60, clock=lambda: now[0])
    for digest in ("a", "b"):
        cache.put(a_login(digest), None, cache.generation)
    assert cache.get("a") is not None  # used: "b" is now the least recent
    cache.put(a_login("c"), None, cache.generation)
    assert sorted(cache.entries) == ["a", "c"]
    now[0] = 59.9
    assert cache.get("c") is not None
    now[0] = 60
    assert cache.get("c") is None and cache.get("a") is None
    assert len(cache) == 0


def test_a_login_that_ends_while_it_is_looked_up_is_not_remembered():
    cache = LoginCache()
    since = cache.generation  # a lookup starts, reads the login ...
    cache.end("a")  # ... which ends (heard from the stream) before it finishes
    cache.put(a_login("a"), None, since)
    assert cache.get("a") is None
    since = cache.generation
    cache.end_user("u1", keep="b")
    cache.put(a_login("c"), None, since)  # another of the user's, in flight: not kept
    assert cache.get("c") is None
    cache.put(a_login("d", "u2"), None, since)  # another user's is
    assert cache.get("d") is not None
    since = cache.generation
    cache.clear()  # the stream lost its history: nothing in flight is kept either
    cache.put(a_login("e", "u3"), None, since)
    assert cache.get("e") is None
