"""``taskhub user admin`` on the test's database, checked over real HTTP."""

from __future__ import annotations

from harness.users import login, register


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(client, token: str):
    return await client.get("/api/me", headers=bearer(token))


# --- user admin ---


async def test_admin_on_and_off_shows_in_api_me_at_once(client, operator, store):
    username = await register(client)
    token = await login(client, username)
    assert (await me(client, token)).json()["user"]["admin"] is False

    ran = await operator.run("user", "admin", username.upper(), "--on")  # any case
    assert ran.status == 0, ran.stderr
    assert ran.stdout.strip() == f"{username} is now an admin"
    # the same login: no need to log in again
    assert (await me(client, token)).json()["user"]["admin"] is True

    ran = await operator.run("user", "admin", username, "--off")
    assert ran.status == 0, ran.stderr
    assert ran.stdout.strip() == f"{username} is no longer an admin"
    assert (await me(client, token)).json()["user"]["admin"] is False
    # "not an admin" is stored one way: no field
    assert "admin" not in await store.db.users.find_one({"username": username})


async def test_admin_of_an_unknown_account_fails_and_creates_none(operator, store):
    ran = await operator.run("user", "admin", "nobody", "--on")
    assert ran.status == 1
    assert "no account named 'nobody'" in ran.stderr
    assert await store.db.users.count_documents({}) == 0


async def test_admin_needs_exactly_one_of_on_and_off(client, operator):
    username = await register(client)
    assert (await operator.run("user", "admin", username)).status == 2
    assert (await operator.run("user", "admin", username, "--on", "--off")).status == 2
