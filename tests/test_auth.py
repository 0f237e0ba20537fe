"""Accounts and login: registration, login by token and cookie, logout, brute force."""

from __future__ import annotations

import logging
from datetime import UTC

import httpx
import pytest
from harness.users import PASSWORD, login, new_username, register, register_and_login


async def test_register_login_me_by_token(client):
    username = new_username()
    response = await client.post("/api/users", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201
    user = response.json()["user"]
    assert user["username"] == username
    assert set(user) == {"id", "username", "created_at", "admin"}
    assert user["admin"] is False
    assert response.headers["Location"] == "/api/me"

    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == user["id"]
    assert len(body["token"]) >= 43  # 256 bits, base64url

    me = await client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["user"] == user


async def test_no_response_carries_a_password_hash(client):
    username = await register(client)
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert "argon2" not in response.text and "hash" not in response.text


async def test_login_with_form_fields(client):
    username = await register(client)
    response = await client.post("/api/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"]["username"] == username


async def test_session_cookie_flags(client):
    username = await register(client)
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    set_cookie = [v for v in response.headers.get_list("set-cookie") if "taskhub_session=" in v]
    assert len(set_cookie) == 1
    flags = set_cookie[0].lower()
    assert "httponly" in flags and "samesite=lax" in flags
    assert "secure" not in flags  # plain HTTP here; set over HTTPS only


async def test_secure_cookie_over_https_behind_proxy(apps):
    # nginx terminates TLS and says so in X-Forwarded-Proto, trusted with --xheaders
    async with httpx.AsyncClient(base_url=await apps.url(xheaders=True)) as c:
        username = await register(c)
        response = await c.post(
            "/api/login",
            json={"username": username, "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
    cookie = [v for v in response.headers.get_list("set-cookie") if "taskhub_session" in v]
    assert "secure" in cookie[0].lower()


async def test_cookie_session_and_xsrf(client):
    username = await register(client)
    await client.post("/api/login", json={"username": username, "password": PASSWORD})
    me = await client.get("/api/me")  # the cookie jar sends the session cookie
    assert me.status_code == 200
    assert me.json()["user"]["username"] == username

    # A cookie-authenticated POST without the XSRF token is refused ...
    refused = await client.post("/api/logout")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert (await client.get("/api/me")).status_code == 200

    # ... and accepted with it.
    xsrf = client.cookies["_xsrf"]
    response = await client.post("/api/logout", headers={"X-XSRFToken": xsrf})
    assert response.status_code == 204
    assert (await client.get("/api/me")).status_code == 401


async def test_bearer_calls_need_no_xsrf(client):
    _, auth = await register_and_login(client)
    client.cookies.clear()
    response = await client.post("/api/logout", headers=auth)
    assert response.status_code == 204


async def test_logout_revokes_the_token(client):
    _, auth = await register_and_login(client)
    client.cookies.clear()
    assert (await client.get("/api/me", headers=auth)).status_code == 200
    assert (await client.post("/api/logout", headers=auth)).status_code == 204
    response = await client.get("/api/me", headers=auth)
    assert response.status_code == 401


async def test_each_login_gets_its_own_token(client):
    username = await register(client)
    first = await login(client, username)
    second = await login(client, username)
    assert first != second
    client.cookies.clear()
    await client.post("/api/logout", headers={"Authorization": f"Bearer {first}"})
    assert (
        await client.get("/api/me", headers={"Authorization": f"Bearer {second}"})
    ).status_code == 200


async def test_tokens_are_stored_only_as_digests(client, store):
    username = await register(client)
    token = await login(client, username)
    docs = [doc async for doc in store.db.tokens.find({})]
    assert docs and all(token not in str(doc) for doc in docs)


async def test_expired_token_is_refused_before_ttl_cleanup(client, store):
    _, auth = await register_and_login(client)
    client.cookies.clear()
    from datetime import datetime, timedelta

    await store.db.tokens.update_many(
        {}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    assert (await client.get("/api/me", headers=auth)).status_code == 401


async def test_expired_tokens_are_removed(store):
    """By a TTL index on a replica set; on a standalone, where the embedded server
    would sweep a TTL index on every read, by the store's own purge (store/compat.py:
    expiry_index)."""
    info = await store.db.tokens.index_information()
    on_expiry = [i for i in info.values() if i["key"] == [("expires_at", 1)]]
    assert len(on_expiry) == 1
    assert ("expireAfterSeconds" in on_expiry[0]) is not await store.standalone()
    user = await store.users.create("expiring", "hash")
    await store.tokens.issue(user, -1)
    await store.purge_expired()
    assert await store.db.tokens.count_documents({}) == 0


async def test_me_without_credentials_is_401_json(client):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eA=="}):
        response = await client.get("/api/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "location" not in response.headers


async def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    username = await register(client)
    wrong = await client.post("/api/login", json={"username": username, "password": "x" * 10})
    unknown = await client.post(
        "/api/login", json={"username": new_username(), "password": "x" * 10}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_usernames_are_unique_regardless_of_case(client):
    username = await register(client)
    response = await client.post(
        "/api/users", json={"username": username.upper(), "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "that username is taken",
        "field": "username",
    }
    # and the original account is untouched
    await login(client, username)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "ab", "password": PASSWORD}, "username"),
        ({"username": "a" * 33, "password": PASSWORD}, "username"),
        ({"username": "bad name", "password": PASSWORD}, "username"),
        ({"username": "ünïcode", "password": PASSWORD}, "username"),
        ({"username": "valid_name", "password": "short"}, "password"),
        ({"username": "valid_name", "password": "p" * 1025}, "password"),
        ({"username": "valid_name"}, "password"),
        ({"username": {"$ne": None}, "password": PASSWORD}, "username"),
        ({"username": ["a", "b"], "password": PASSWORD}, "username"),
        ({"username": 12345, "password": PASSWORD}, "username"),
        ({"username": None, "password": PASSWORD}, "username"),
        ({"username": "valid_name", "password": 123456789}, "password"),
    ],
)
async def test_registration_rejects_bad_input(client, body, field):
    response = await client.post("/api/users", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert error["field"] == field


async def test_registration_accepts_the_edges(client):
    for username, password in (
        ("a.b", "p" * 8),
        ("Z" * 32, "p" * 1024),
        ("a_b-c.d", "密码密码密码密码"),
    ):
        response = await client.post(
            "/api/users", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        await login(client, username, password)


@pytest.mark.parametrize(
    "body",
    [
        {"username": {"$ne": None}, "password": {"$ne": None}},
        {"username": {"$gt": ""}, "password": "x" * 8},
        {"username": ["admin"], "password": "x" * 8},
        {"username": 1, "password": "x" * 8},
        {"username": None, "password": "x" * 8},
        {"username": "admin", "password": None},
        {"username": "admin", "password": ["x"]},
    ],
)
async def test_login_refuses_operators_and_non_strings(client, body):
    await register(client)
    response = await client.post("/api/login", json=body)
    assert response.status_code == 400
    assert "field" in response.json()["error"]


async def test_lone_surrogates_are_refused_not_stored(client):
    # a JSON \ud800 escape decodes to a string that cannot be stored as UTF-8
    for body in (
        b'{"username": "ab\\ud800c", "password": "correct horse"}',
        b'{"username": "surrogate_pw", "password": "bad \\udfff password"}',
    ):
        response = await client.post(
            "/api/users", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"].endswith("is not valid Unicode text")
    response = await client.post("/api/login", content=b'{"username": "x\\ud800", "password": "y"}')
    assert response.status_code == 400


async def test_form_and_query_refuse_repeated_fields(client):
    response = await client.post(
        "/api/login",
        content=b"username=a&username=b&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "username"
    response = await client.post("/api/login", data={"username[$ne]": "x", "password": "y"})
    assert response.status_code == 400  # no 'username' field at all


async def test_malformed_bodies(client):
    cases = [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'"a string"', "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"<xml/>", "application/xml", 415),
    ]
    for body, media_type, status in cases:
        response = await client.post(
            "/api/login", content=body, headers={"Content-Type": media_type}
        )
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["message"]


async def test_brute_force_lockout_per_account(client):
    username = await register(client)
    other = await register(client)
    for _ in range(5):
        response = await client.post(
            "/api/login", json={"username": username, "password": "wrong-password"}
        )
        assert response.status_code == 401
    # locked now, even with the right password
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert response.json()["error"]["code"] == "too_many_requests"
    # the lock is per account: another one logs in as usual
    await login(client, other)


async def test_lockout_is_shared_between_processes(apps):
    first, second = await apps.url(), await apps.url()
    async with httpx.AsyncClient(base_url=first) as a, httpx.AsyncClient(base_url=second) as b:
        username = await register(a)
        for c in (a, b, a, b, a):
            await c.post("/api/login", json={"username": username, "password": "wrong-password"})
        response = await b.post("/api/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 429


async def test_lockout_window_passes(client, store):
    username = await register(client)
    for _ in range(5):
        await client.post("/api/login", json={"username": username, "password": "wrong-password"})
    assert (
        await client.post("/api/login", json={"username": username, "password": PASSWORD})
    ).status_code == 429
    from datetime import datetime, timedelta

    # move the failures back past the 15-minute window
    await store.db.login_failures.update_many(
        {}, {"$set": {"at": datetime.now(UTC) - timedelta(minutes=16)}}
    )
    await login(client, username)


async def test_successful_login_resets_the_failure_count(client):
    username = await register(client)
    for _ in range(4):
        await client.post("/api/login", json={"username": username, "password": "wrong-password"})
    await login(client, username)
    for _ in range(4):
        await client.post("/api/login", json={"username": username, "password": "wrong-password"})
    await login(client, username)


async def test_password_rehashed_when_parameters_change(client, store):
    from argon2 import PasswordHasher

    username = await register(client)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    await store.db.users.update_one({"username": username}, {"$set": {"password_hash": weak}})
    await login(client, username)
    stored = (await store.db.users.find_one({"username": username}))["password_hash"]
    assert stored != weak and stored.startswith("$argon2id$")
    await login(client, username)


async def test_classic_login_with_pwd(client):
    username = await register(client)
    response = await client.post("/login", data={"username": username, "pwd": PASSWORD})
    assert response.status_code == 200
    assert response.json()["user"]["username"] == username
    response = await client.post("/login", json={"username": username, "pwd": PASSWORD})
    assert response.status_code == 200
    response = await client.post("/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    response = await client.post("/login", json={"username": username, "pwd": "wrong-one"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_classic_get_login_is_off_by_default(client):
    username = await register(client)
    response = await client.get("/login", params={"username": username, "pwd": PASSWORD})
    assert response.status_code == 405
    assert "allow-get-login" in response.json()["error"]["message"]
    # nor is it offered
    assert response.headers["Allow"] == "POST"
    assert "GET" not in (await client.options("/login")).headers["Allow"]
    assert (await client.head("/login")).status_code == 405


async def test_classic_get_login_when_allowed_never_logs_the_password(apps, caplog):
    base = await apps.url(allow_get_login=True)
    async with httpx.AsyncClient(base_url=base) as c:
        username = await register(c)
        with (
            caplog.at_level(logging.DEBUG, logger="taskhub"),
            caplog.at_level(logging.DEBUG, logger="tornado"),
            caplog.at_level(logging.DEBUG, logger="handlers"),
        ):
            response = await c.get("/login", params={"username": username, "pwd": PASSWORD})
            assert response.status_code == 200
            token = response.json()["token"]
            await c.get("/login", params={"username": username, "pwd": "wrong-pass"})
            await c.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            await c.get("/api/me", params={"token": token})
    # the server's own loggers only: the test's HTTP client logs the URLs it sends
    text = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "GET /login 200" in text
    assert PASSWORD not in text and "wrong-pass" not in text and token not in text
