"""``taskhub user admin|passwd|list`` on the test's database, checked over real HTTP."""

from __future__ import annotations

import json

import httpx
from harness.live import connect
from harness.users import PASSWORD, login, register

from services.accounts import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS
from store.users import username_key

NEW_PASSWORD = "an operator's horse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(client, token: str):
    return await client.get("/api/me", headers=bearer(token))


async def can_log_in(client, username: str, password: str) -> int:
    response = await client.post("/api/login", json={"username": username, "password": password})
    client.cookies.clear()
    return response.status_code


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


# --- user passwd ---


async def test_passwd_sets_the_password_and_ends_every_login(client, operator):
    username = await register(client)
    first, second = await login(client, username), await login(client, username)
    client.cookies.clear()

    ran = await operator.run("user", "passwd", username, "--password-stdin", stdin=NEW_PASSWORD)
    assert ran.status == 0, ran.stderr
    assert ran.stdout.strip() == f"password of {username} changed; 2 logins ended"
    assert (await me(client, first)).status_code == 401
    assert (await me(client, second)).status_code == 401
    assert await can_log_in(client, username, PASSWORD) == 401
    assert await can_log_in(client, username, NEW_PASSWORD) == 200


async def test_passwd_closes_the_accounts_live_sockets_with_4401(apps, operator):
    live = await apps.start()
    async with httpx.AsyncClient(base_url=live.url) as client:
        username = await register(client)
        socket = await connect(live.ws_url, token=await login(client, username))
        await socket.ready()
    ran = await operator.run("user", "passwd", username, "--password-stdin", stdin=NEW_PASSWORD)
    assert ran.status == 0, ran.stderr
    assert await socket.closed() == 4401


async def test_passwd_refuses_a_short_password_and_changes_nothing(client, operator):
    username = await register(client)
    token = await login(client, username)
    ran = await operator.run("user", "passwd", username, "--password-stdin", stdin="short\n")
    assert ran.status == 2
    assert "8 to 1024 characters" in ran.stderr
    assert (await me(client, token)).status_code == 200
    assert await can_log_in(client, username, PASSWORD) == 200


async def test_passwd_of_an_unknown_account_fails(operator):
    ran = await operator.run("user", "passwd", "nobody", "--password-stdin", stdin=NEW_PASSWORD)
    assert ran.status == 1
    assert "no account named 'nobody'" in ran.stderr


async def test_passwd_leaves_a_mini_program_account_without_a_password(operator, store):
    user = await store.users.for_miniprogram("wechat", "oWx_passwd_test_0000000000")
    ran = await operator.run(
        "user", "passwd", user.username, "--password-stdin", stdin=NEW_PASSWORD
    )
    assert ran.status == 1
    assert "mini-program" in ran.stderr
    assert (await store.users.by_id(user.id)).password_hash is None


# --- user list ---


async def accounts_to_list(client, operator, store) -> dict[str, str]:
    """Four accounts in order: an admin, one that two addresses are locked out of,
    one locked for everyone, and a mini-program account. Their names by role."""
    admin, guessed, locked = [await register(client) for _ in range(3)]
    assert (await operator.run("user", "admin", admin, "--on")).status == 0
    failures = store.login_failures
    for address in ("203.0.113.1", "203.0.113.2"):
        for _ in range(MAX_FAILURES_PER_ADDRESS):
            await failures.record(username_key(guessed), address=address)
    await failures.record(username_key(guessed), address="203.0.113.3")  # one is no lockout
    for i in range(MAX_FAILURES_PER_ACCOUNT):
        await failures.record(username_key(locked), address=f"198.51.100.{i}")
    mini = await store.users.for_miniprogram("toutiao", "tt_list_test_openid_0000")
    return {"admin": admin, "guessed": guessed, "locked": locked, "mini": mini.username}


async def test_list_is_a_table_of_every_account_oldest_first(client, operator, store):
    names = await accounts_to_list(client, operator, store)
    ran = await operator.run("user", "list")
    assert ran.status == 0, ran.stderr
    header, *lines = ran.stdout.rstrip("\n").split("\n")
    assert header.split("  ")[0] == "USERNAME"
    assert header.split() == ["USERNAME", "ID", "CREATED", "ADMIN", "LOCKED", "KIND"]
    rows = [line.split() for line in lines]
    ids = {doc["username"]: str(doc["_id"]) async for doc in store.db.users.find({})}
    # username, id, created, admin, locked..., kind
    expected = [
        (names["admin"], "yes", ["no"], "password"),
        (names["guessed"], "no", ["2", "addresses"], "password"),
        (names["locked"], "no", ["yes"], "password"),
        (names["mini"], "no", ["no"], "mini-program"),
    ]
    assert len(rows) == len(expected)
    for row, (name, admin, locked, kind) in zip(rows, expected, strict=True):
        assert row[0] == name and row[1] == ids[name]
        assert row[3] == admin and row[4:-1] == locked and row[-1] == kind
    # the columns line up under the header
    for line, row in zip(lines, rows, strict=True):
        assert line.index(ids[row[0]]) == header.index("ID")


async def test_list_as_json_lines(client, operator, store):
    names = await accounts_to_list(client, operator, store)
    ran = await operator.run("user", "list", "--json")
    assert ran.status == 0, ran.stderr
    listed = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [entry["username"] for entry in listed] == list(names.values())
    by_role = dict(zip(names, listed, strict=True))
    assert set(by_role["admin"]) == {
        "username",
        "id",
        "created_at",
        "admin",
        "locked",
        "locked_addresses",
        "kind",
    }
    assert by_role["admin"]["admin"] is True and by_role["guessed"]["admin"] is False
    assert by_role["guessed"]["locked"] is False and by_role["guessed"]["locked_addresses"] == 2
    assert by_role["locked"]["locked"] is True
    assert by_role["mini"]["kind"] == "mini-program" and by_role["admin"]["kind"] == "password"
    assert by_role["admin"]["created_at"].endswith("Z")


async def test_list_of_no_accounts_is_the_header_alone(operator):
    ran = await operator.run("user", "list")
    assert ran.status == 0, ran.stderr
    assert ran.stdout.split() == ["USERNAME", "ID", "CREATED", "ADMIN", "LOCKED", "KIND"]
    assert (await operator.run("user", "list", "--json")).stdout == ""


# --- user delete ---


async def test_user_delete_needs_yes_and_then_the_account_is_gone(client, operator, store):
    username = await register(client)
    token = await login(client, username)
    await client.post("/api/tasks", json={"title": "mine"}, headers=bearer(token))

    refused = await operator.run("user", "delete", username)
    assert refused.status == 2 and "--yes" in refused.stderr
    assert (await me(client, token)).status_code == 200
    unknown = await operator.run("user", "delete", "nobody_by_that_name", "--yes")
    assert unknown.status == 1 and "no account named" in unknown.stderr

    ran = await operator.run("user", "delete", username, "--yes")
    assert ran.status == 0, ran.stderr
    assert (await me(client, token)).status_code == 401
    assert await can_log_in(client, username, PASSWORD) == 401
    assert await store.db.tasks.count_documents({}) == 0
