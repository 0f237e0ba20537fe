"""Account self-service: changing the password, listing and revoking logins — over
real HTTP, against the real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from harness.live import connect, refused
from harness.users import PASSWORD, login, register

from store.compat import stored_time
from store.tokens import legacy_login_id, token_digest

NEW_PASSWORD = "a new horse staple"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def two_logins(client: httpx.AsyncClient) -> tuple[str, str, str]:
    """A new user logged in twice: its name, the current token and another one."""
    username = await register(client)
    current = await login(client, username)
    other = await login(client, username)
    client.cookies.clear()
    return username, current, other


async def change(client: httpx.AsyncClient, token: str, current: str, new: str) -> httpx.Response:
    return await client.post(
        "/api/me/password",
        json={"current_password": current, "new_password": new},
        headers=bearer(token),
    )


async def logins(client: httpx.AsyncClient, token: str) -> list[dict]:
    response = await client.get("/api/me/logins", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["logins"]


async def status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/api/me", headers=bearer(token))).status_code


async def can_log_in(client: httpx.AsyncClient, username: str, password: str) -> int:
    response = await client.post("/api/login", json={"username": username, "password": password})
    client.cookies.clear()
    return response.status_code


# --- the password ---


async def test_a_wrong_current_password_is_401_and_changes_nothing(client):
    username, current, other = await two_logins(client)
    response = await change(client, current, "not the password", NEW_PASSWORD)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await status(client, current) == 200
    assert await status(client, other) == 200
    assert await can_log_in(client, username, NEW_PASSWORD) == 401
    assert await can_log_in(client, username, PASSWORD) == 200


async def test_changing_the_password_ends_every_other_login(client):
    username, current, other = await two_logins(client)
    response = await change(client, current, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert await status(client, current) == 200  # this login stays
    assert await status(client, other) == 401
    assert await can_log_in(client, username, PASSWORD) == 401
    assert await can_log_in(client, username, NEW_PASSWORD) == 200


async def test_the_new_password_follows_the_registration_rule(client):
    username, current, _ = await two_logins(client)
    for new in ("short", "x" * 1025):
        response = await change(client, current, PASSWORD, new)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "new_password"
    response = await client.post(
        "/api/me/password", json={"new_password": NEW_PASSWORD}, headers=bearer(current)
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "current_password"
    assert await can_log_in(client, username, PASSWORD) == 200


async def test_the_lockout_applies_to_the_current_password(client):
    _, current, _ = await two_logins(client)
    for _ in range(5):
        assert (await change(client, current, "wrong guess!", NEW_PASSWORD)).status_code == 401
    response = await change(client, current, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert await status(client, current) == 200


async def test_without_a_login_is_401(client):
    response = await client.post(
        "/api/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 401
    assert (await client.get("/api/me/logins")).status_code == 401
    assert (await client.delete("/api/me/logins")).status_code == 401


async def test_the_old_password_stops_working_over_http_basic_at_once(client):
    username, current, _ = await two_logins(client)
    old = httpx.BasicAuth(username, PASSWORD)
    assert (await client.get("/todo/api/v1.0/tasks", auth=old)).status_code == 200  # remembered
    assert (await change(client, current, PASSWORD, NEW_PASSWORD)).status_code == 204
    assert (await client.get("/todo/api/v1.0/tasks", auth=old)).status_code == 401
    new = httpx.BasicAuth(username, NEW_PASSWORD)
    assert (await client.get("/todo/api/v1.0/tasks", auth=new)).status_code == 200


async def test_other_logins_sockets_close_with_4401_and_this_ones_stays(apps):
    live = await apps.start()
    async with httpx.AsyncClient(base_url=live.url) as client:
        _, current, other = await two_logins(client)
        this_socket = await connect(live.ws_url, token=current)
        other_socket = await connect(live.ws_url, token=other)
        await this_socket.ready()
        await other_socket.ready()

        assert (await change(client, current, PASSWORD, NEW_PASSWORD)).status_code == 204
    assert await other_socket.closed() == 4401
    assert await this_socket.nothing_pending() == []  # still open, still answering
    assert this_socket.close_code is None
    assert await refused(live.ws_url, token=other) == 401
    this_socket.close()


# --- logins ---


async def test_the_list_shows_each_login_and_never_a_token_or_digest(client):
    username = await register(client)
    first = await login(client, username)
    response = await client.post(
        "/api/login",
        json={"username": username, "password": PASSWORD},
        headers={"User-Agent": "taskhub-test/1.0"},
    )
    second = response.json()["token"]
    client.cookies.clear()

    response = await client.get("/api/me/logins", headers=bearer(second))
    assert response.status_code == 200
    listed = response.json()["logins"]
    assert len(listed) == 2
    for entry in listed:
        assert set(entry) == {"id", "created_at", "last_used_at", "client", "user_agent", "current"}
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", entry["id"])
        assert entry["client"] == "127.0.0.1"
        assert entry["created_at"].endswith("Z") and entry["last_used_at"].endswith("Z")
    newest, oldest = listed
    assert newest["current"] is True and oldest["current"] is False
    assert newest["user_agent"] == "taskhub-test/1.0"
    assert oldest["user_agent"].startswith("python-httpx/")
    for secret in (first, second, token_digest(first), token_digest(second)):
        assert secret not in response.text
    # each caller is the current one of its own list
    assert [entry["current"] for entry in await logins(client, first)] == [False, True]


async def test_revoking_one_login_by_id_ends_it(client):
    username, current, other = await two_logins(client)
    third = await login(client, username)
    client.cookies.clear()
    listed = await logins(client, current)
    target = next(e["id"] for e in listed if not e["current"])
    response = await client.delete(f"/api/me/logins/{target}", headers=bearer(current))
    assert response.status_code == 204
    assert sorted([await status(client, other), await status(client, third)]) == [200, 401]
    assert target not in [e["id"] for e in await logins(client, current)]
    again = await client.delete(f"/api/me/logins/{target}", headers=bearer(current))
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


async def test_revoking_the_second_login_makes_its_token_401(client):
    _, current, other = await two_logins(client)
    other_id = next(e["id"] for e in await logins(client, other) if e["current"])
    response = await client.delete(f"/api/me/logins/{other_id}", headers=bearer(current))
    assert response.status_code == 204
    assert await status(client, other) == 401
    assert await status(client, current) == 200


async def test_another_users_login_id_is_404(client):
    _, mine, _ = await two_logins(client)
    _, theirs, _ = await two_logins(client)
    their_id = (await logins(client, theirs))[0]["id"]
    for login_id in (their_id, "unknown", "0123456789abcdef"):
        response = await client.delete(f"/api/me/logins/{login_id}", headers=bearer(mine))
        assert response.status_code == 404, login_id
        assert response.json()["error"]["code"] == "not_found"
    assert await status(client, theirs) == 200
    assert (await client.delete("/api/me/logins/a.b", headers=bearer(mine))).status_code == 404


async def test_revoking_all_other_logins_keeps_this_one(client):
    username, current, other = await two_logins(client)
    third = await login(client, username)
    client.cookies.clear()
    _, stranger, _ = await two_logins(client)
    response = await client.delete("/api/me/logins", headers=bearer(current))
    assert response.status_code == 204
    assert await status(client, other) == 401
    assert await status(client, third) == 401
    assert await status(client, current) == 200
    assert await status(client, stranger) == 200  # another account's logins stay
    assert [e["current"] for e in await logins(client, current)] == [True]


async def test_last_use_is_written_at_most_once_a_minute(client, store):
    _, current, _ = await two_logins(client)
    digest = token_digest(current)
    tokens = store.tokens.collection
    memory = store.tokens.cache  # this process's recent logins

    async def last_used() -> int:
        return (await tokens.find_one({"_id": digest}))["last_used_ms"]

    recent = stored_time(datetime.now(UTC) - timedelta(seconds=30))
    await tokens.update_one({"_id": digest}, {"$set": {"last_used_ms": recent}})
    memory.clear()  # read from the database, then remembered
    assert await status(client, current) == 200
    assert await status(client, current) == 200
    assert memory.entries[digest].last_used_ms == recent
    assert await last_used() == recent  # not rewritten

    # minutes later, as the database holds it and as a fresh lookup reads it
    stale = stored_time(datetime.now(UTC) - timedelta(minutes=5))
    await tokens.update_one({"_id": digest}, {"$set": {"last_used_ms": stale}})
    memory.clear()
    before = stored_time(datetime.now(UTC))
    assert await status(client, current) == 200
    assert await last_used() >= before

    # ... and as a remembered login holds it: written without reading the login again
    await tokens.update_one({"_id": digest}, {"$set": {"last_used_ms": stale}})
    memory.entries[digest].last_used_ms = stale
    before = stored_time(datetime.now(UTC))
    assert await status(client, current) == 200
    assert await last_used() >= before
    assert await status(client, current) == 200
    assert memory.entries[digest].last_used_ms >= before
    listed = next(e for e in await logins(client, current) if e["current"])
    used = datetime.fromisoformat(listed["last_used_at"].replace("Z", "+00:00"))
    assert datetime.now(UTC) - used < timedelta(minutes=1)


async def test_a_login_from_before_login_ids_is_listed_and_revocable(client, store):
    _, current, other = await two_logins(client)
    digest = token_digest(other)
    # as tokens were stored before: no login id, address, user agent or last use
    await store.tokens.collection.update_one(
        {"_id": digest},
        {"$unset": {"login_id": "", "client": "", "user_agent": "", "last_used_ms": ""}},
    )
    listed = await logins(client, current)
    legacy = next(e for e in listed if not e["current"])
    assert legacy["id"] == legacy_login_id(digest)
    assert digest not in str(listed)
    assert legacy["client"] is None and legacy["user_agent"] is None
    assert legacy["last_used_at"] is None

    assert await status(client, other) == 200  # its first use is recorded
    legacy = next(e for e in await logins(client, current) if not e["current"])
    assert legacy["last_used_at"] is not None

    response = await client.delete(f"/api/me/logins/{legacy['id']}", headers=bearer(current))
    assert response.status_code == 204
    assert await status(client, other) == 401
    assert await status(client, current) == 200
