"""Login with wx.login / tt.login codes, exchanged through a local code2Session server."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest
from code2session_server import (  # noqa: F401 (fixture)
    TOUTIAO_APPID,
    TOUTIAO_SECRET,
    WECHAT_APPID,
    WECHAT_SECRET,
    code2session,
)
from harness.users import PASSWORD, register

from integrations.code2session import REQUEST_TIMEOUT
from store.users import miniprogram_username


@pytest.fixture
async def mp(apps, code2session):
    """An HTTP client of a taskhub configured for both platforms."""
    base = await apps.url(**code2session.settings())
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        yield client


async def user_count(store) -> int:
    return await store.db.users.count_documents({})


async def test_wechat_login_answers_like_api_login(mp, code2session, store):
    openid = "oWx_first_user_000000000000"
    response = await mp.post("/api/login/wechat", json={"code": code2session.issue(openid=openid)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "user"}
    assert set(body["user"]) == {"id", "username", "created_at", "admin"}
    assert body["user"]["username"] == miniprogram_username("wechat", openid)
    assert body["user"]["username"].startswith("wx_")

    # taskhub called code2Session as documented
    [call] = code2session.requests
    assert call == {
        "platform": "wechat",
        "appid": WECHAT_APPID,
        "secret": WECHAT_SECRET,
        "js_code": call["js_code"],
        "grant_type": "authorization_code",
    }

    # the token authenticates like any other (mini-programs send no cookies)
    mp.cookies.clear()
    me = await mp.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["user"] == body["user"]

    # logging in again with a new code finds the same account
    again = await mp.post("/api/login/wechat", json={"code": code2session.issue(openid=openid)})
    assert again.status_code == 200
    assert again.json()["user"] == body["user"]
    assert again.json()["token"] != body["token"]
    assert await user_count(store) == 1
    doc = await store.db.users.find_one({})
    assert doc["wechat_openid"] == openid and doc["password_hash"] is None


async def test_each_openid_is_its_own_user(mp, code2session, store):
    first = await mp.post("/api/login/wechat", json={"code": code2session.issue()})
    second = await mp.post("/api/login/wechat", json={"code": code2session.issue()})
    assert first.json()["user"]["id"] != second.json()["user"]["id"]
    assert await user_count(store) == 2


async def test_login_takes_a_form_too(mp, code2session):
    response = await mp.post("/api/login/wechat", data={"code": code2session.issue()})
    assert response.status_code == 200, response.text
    assert response.json()["token"]


async def test_extra_fields_of_classic_login_flows_are_ignored(mp, code2session):
    response = await mp.post(
        "/api/login/wechat",
        json={
            "code": code2session.issue(),
            "encryptedData": "xxx",
            "iv": "yyy",
            "userInfo": {"nickName": "小明"},
        },
    )
    assert response.status_code == 200, response.text


async def test_unionid_is_kept_and_links_a_new_openid(mp, code2session, store):
    unionid = "oUnion_same_person_0000000000"
    code = code2session.issue(openid="oA" + "0" * 26, unionid=unionid)
    first = await mp.post("/api/login/wechat", json={"code": code})
    doc = await store.db.users.find_one({})
    assert doc["wechat_unionid"] == unionid
    # the same person through another appid of the same developer: another openid
    code = code2session.issue(openid="oB" + "0" * 26, unionid=unionid)
    second = await mp.post("/api/login/wechat", json={"code": code})
    assert second.json()["user"]["id"] == first.json()["user"]["id"]
    assert await user_count(store) == 1
    assert (await store.db.users.find_one({}))["wechat_openid"] == "oB" + "0" * 26


async def test_toutiao_login(mp, code2session, store):
    openid = "_000tt_first_user_0000000000"
    anonymous_code = code2session.issue_anonymous()
    response = await mp.post(
        "/api/login/toutiao",
        json={
            "code": code2session.issue("toutiao", openid=openid, unionid="tt-union-1"),
            "anonymous_code": anonymous_code,
        },
    )
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["username"] == miniprogram_username("toutiao", openid)
    assert user["username"].startswith("tt_")
    [call] = code2session.requests
    assert call["content_type"].startswith("application/json")
    assert (call["appid"], call["secret"]) == (TOUTIAO_APPID, TOUTIAO_SECRET)
    assert call["anonymous_code"] == anonymous_code
    doc = await store.db.users.find_one({})
    assert doc["toutiao_openid"] == openid and doc["toutiao_unionid"] == "tt-union-1"

    # the same openid on WeChat would be another person: platforms do not mix
    response = await mp.post("/api/login/wechat", json={"code": code2session.issue(openid=openid)})
    assert response.json()["user"]["id"] != user["id"]


async def test_toutiao_login_without_anonymous_code(mp, code2session):
    response = await mp.post("/api/login/toutiao", data={"code": code2session.issue("toutiao")})
    assert response.status_code == 200, response.text
    assert code2session.requests[0]["anonymous_code"] == ""
    for none in ("", None):
        body = {"code": code2session.issue("toutiao"), "anonymous_code": none}
        assert (await mp.post("/api/login/toutiao", json=body)).status_code == 200


@pytest.mark.parametrize("anonymous_code", [0, False, [], {}, 5])
async def test_an_anonymous_code_of_another_type_is_400(mp, code2session, anonymous_code):
    body = {"code": code2session.issue("toutiao"), "anonymous_code": anonymous_code}
    response = await mp.post("/api/login/toutiao", json=body)
    refused(response, 400, "bad_request")
    assert response.json()["error"]["field"] == "anonymous_code"
    assert code2session.requests == []


async def test_concurrent_first_logins_make_one_account(mp, code2session, store):
    openid = "oConcurrent_000000000000000"
    codes = [code2session.issue(openid=openid) for _ in range(4)]
    answers = await asyncio.gather(
        *(mp.post("/api/login/wechat", json={"code": code}) for code in codes)
    )
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.json()["user"]["id"] for a in answers}) == 1
    assert await user_count(store) == 1


async def test_a_taken_generated_name_gets_a_longer_one(mp, code2session, store):
    openid = "oName_clash_0000000000000000"
    squatter = await register(mp, miniprogram_username("wechat", openid))
    response = await mp.post("/api/login/wechat", json={"code": code2session.issue(openid=openid)})
    assert response.status_code == 200, response.text
    username = response.json()["user"]["username"]
    assert username != squatter and username.startswith(squatter)
    # and the two accounts stay apart
    login = await mp.post("/api/login", json={"username": squatter, "password": PASSWORD})
    assert login.json()["user"]["id"] != response.json()["user"]["id"]


async def test_mini_program_accounts_have_no_password(mp, code2session):
    response = await mp.post("/api/login/wechat", json={"code": code2session.issue()})
    username = response.json()["user"]["username"]
    for password in (PASSWORD, "None", "x" * 8):
        login = await mp.post("/api/login", json={"username": username, "password": password})
        assert login.status_code == 401


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_an_invalid_code_is_401(mp, code2session, store):
    response = await mp.post("/api/login/wechat", json={"code": "not-a-code-wx-gave-out"})
    refused(response, 401, "unauthorized")
    assert response.json()["error"]["field"] == "code"
    assert "wx.login" in response.json()["error"]["message"]
    assert await user_count(store) == 0


async def test_a_used_code_is_401(mp, code2session, store):
    code = code2session.issue()
    assert (await mp.post("/api/login/wechat", json={"code": code})).status_code == 200
    response = await mp.post("/api/login/wechat", json={"code": code})
    refused(response, 401, "unauthorized")
    assert await user_count(store) == 1


async def test_wechat_rate_limit_is_429(mp, code2session, store):
    code2session.minute_quota = 2
    openid = "oBusy_user_00000000000000000"
    for _ in range(2):
        code = code2session.issue(openid=openid)
        assert (await mp.post("/api/login/wechat", json={"code": code})).status_code == 200
    response = await mp.post("/api/login/wechat", json={"code": code2session.issue(openid=openid)})
    refused(response, 429, "too_many_requests")
    assert response.headers["Retry-After"] == "60"


@pytest.mark.parametrize(
    "platform, failure, status, code",
    [
        ("wechat", "busy", 502, "bad_gateway"),
        ("wechat", "rate_limited", 429, "too_many_requests"),
        ("wechat", "not_json", 502, "bad_gateway"),
        ("wechat", "malformed", 502, "bad_gateway"),
        ("wechat", "http_error", 502, "bad_gateway"),
        ("toutiao", "busy", 502, "bad_gateway"),
        ("toutiao", "not_json", 502, "bad_gateway"),
        ("toutiao", "malformed", 502, "bad_gateway"),
        ("toutiao", "http_error", 502, "bad_gateway"),
    ],
)
async def test_platform_failures_create_no_user(
    mp, code2session, store, platform, failure, status, code
):
    code2session.fail_next(platform, failure)
    response = await mp.post(f"/api/login/{platform}", json={"code": code2session.issue(platform)})
    refused(response, status, code)
    assert await user_count(store) == 0
    # the next attempt, with a fresh code, goes through
    response = await mp.post(f"/api/login/{platform}", json={"code": code2session.issue(platform)})
    assert response.status_code == 200
    assert await user_count(store) == 1


async def test_toutiao_code_errors_are_401(mp, code2session, store):
    response = await mp.post("/api/login/toutiao", json={"code": "made-up"})
    refused(response, 401, "unauthorized")
    assert "tt.login" in response.json()["error"]["message"]
    used = code2session.issue("toutiao")
    assert (await mp.post("/api/login/toutiao", json={"code": used})).status_code == 200
    refused(await mp.post("/api/login/toutiao", json={"code": used}), 401, "unauthorized")
    # a bad anonymous_code (40019) too
    response = await mp.post(
        "/api/login/toutiao",
        json={"code": code2session.issue("toutiao"), "anonymous_code": "made-up"},
    )
    refused(response, 401, "unauthorized")
    assert await user_count(store) == 1


async def test_a_wechat_code_is_no_toutiao_code(mp, code2session, store):
    response = await mp.post("/api/login/toutiao", json={"code": code2session.issue("wechat")})
    refused(response, 401, "unauthorized")
    assert await user_count(store) == 0


async def test_a_silent_platform_times_out_as_502(mp, code2session, store):
    code2session.fail_next("wechat", "hang")
    started = asyncio.get_running_loop().time()
    response = await mp.post("/api/login/wechat", json={"code": code2session.issue()})
    elapsed = asyncio.get_running_loop().time() - started
    refused(response, 502, "bad_gateway")
    assert "in time" in response.json()["error"]["message"]
    assert REQUEST_TIMEOUT - 0.5 <= elapsed < REQUEST_TIMEOUT + 3
    assert await user_count(store) == 0


async def test_an_unreachable_platform_is_502(apps, store):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = await apps.url(
        wechat_appid=WECHAT_APPID,
        wechat_secret=WECHAT_SECRET,
        wechat_api_base=f"http://127.0.0.1:{port}",
    )
    async with httpx.AsyncClient(base_url=base) as c:
        response = await c.post("/api/login/wechat", json={"code": "0" * 32})
    refused(response, 502, "bad_gateway")
    assert await user_count(store) == 0


@pytest.mark.parametrize("platform", ["wechat", "toutiao"])
async def test_wrong_app_secret_is_502_and_logged_for_the_operator(
    apps, code2session, store, caplog, platform
):
    settings = code2session.settings()
    settings[f"{platform}_secret"] = "not-the-secret"
    base = await apps.url(**settings)
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(base_url=base) as c:
            code = code2session.issue(platform)
            response = await c.post(f"/api/login/{platform}", json={"code": code})
    refused(response, 502, "bad_gateway")
    assert "misconfigured" in response.json()["error"]["message"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"{platform}_secret" in m for m in errors), errors
    assert await user_count(store) == 0


@pytest.mark.parametrize("platform", ["wechat", "toutiao"])
async def test_unconfigured_platform_is_501_naming_the_settings(client, platform):
    response = await client.post(f"/api/login/{platform}", json={"code": "abc"})
    refused(response, 501, "not_implemented")
    message = response.json()["error"]["message"]
    assert f"{platform}_appid" in message and f"{platform}_secret" in message


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "code"),
        ({"code": ""}, "code"),
        ({"code": "   "}, "code"),
        ({"code": 123}, "code"),
        ({"code": {"$ne": None}}, "code"),
        ({"code": ["a"]}, "code"),
        ({"code": "x" * 257}, "code"),
    ],
)
async def test_bad_codes_are_400_without_calling_the_platform(mp, code2session, body, field):
    response = await mp.post("/api/login/wechat", json=body)
    refused(response, 400, "bad_request")
    assert response.json()["error"]["field"] == field
    assert code2session.requests == []


async def test_session_key_and_secret_never_leave_the_server(mp, code2session, store, caplog):
    with caplog.at_level(logging.DEBUG):
        responses = [
            await mp.post("/api/login/wechat", json={"code": code2session.issue(unionid="u-1")}),
            await mp.post("/api/login/toutiao", json={"code": code2session.issue("toutiao")}),
        ]
        code2session.fail_next("wechat", "malformed")  # an answer holding a session_key
        responses.append(await mp.post("/api/login/wechat", json={"code": code2session.issue()}))
        await mp.post("/api/login/wechat", json={"code": "bad-code"})
    keys = code2session.session_keys
    assert len(keys) == 3
    stored = [str(doc) async for doc in store.db.users.find({})]
    stored += [str(doc) async for doc in store.db.tokens.find({})]
    logged = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "POST /api/login/wechat 200" in logged
    for key in keys:
        assert all(key not in r.text and key not in str(r.headers) for r in responses)
        assert all(key not in doc for doc in stored)
        assert key not in logged
    for secret in (WECHAT_SECRET, TOUTIAO_SECRET):
        assert secret not in logged


async def test_login_routes_take_no_xsrf_and_no_session(mp, code2session):
    # a stale session cookie from a browser does not make the login need an XSRF token
    mp.cookies.set("taskhub_session", "stale")
    response = await mp.post("/api/login/wechat", json={"code": code2session.issue()})
    assert response.status_code == 200, response.text


async def test_login_routes_answer_405_to_get(mp):
    response = await mp.get("/api/login/wechat", params={"code": "abc"})
    refused(response, 405, "method_not_allowed")
