"""Logins that cannot be turned against their owners or the CPU: lockout per account
and client address, limited password checks, remembered Basic logins, no login from a
foreign page, and registration as the operator sets it."""

from __future__ import annotations

import base64

import httpx
import pytest
from harness.database import Commands, fresh_store
from harness.users import PASSWORD, login, register

from services.accounts import MAX_FAILURES_PER_ADDRESS

STRANGER = {"X-Real-IP": "203.0.113.66"}
OWNER = {"X-Real-IP": "198.51.100.10"}


def basic(username: str, password: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    }


async def test_a_strangers_guesses_do_not_lock_the_owner_out(apps):
    async with httpx.AsyncClient(base_url=await apps.url(xheaders=True)) as c:
        username = await register(c)
        wrong = {"username": username, "password": "wrong-password"}
        for _ in range(MAX_FAILURES_PER_ADDRESS):
            assert (await c.post("/api/login", json=wrong, headers=STRANGER)).status_code == 401
        right = {"username": username, "password": PASSWORD}
        locked = await c.post("/api/login", json=right, headers=STRANGER)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        # the owner, from their own address, logs in as ever, on every login route
        assert (await c.post("/api/login", json=right, headers=OWNER)).status_code == 200
        classic = await c.get(
            "/todo/api/v1.0/tasks", headers={**OWNER, **basic(username, PASSWORD)}
        )
        assert classic.status_code == 200


async def test_a_login_takes_two_round_trips_unless_its_account_has_failed_lately(
    mongodb_uri, apps
):
    commands = Commands()
    async with fresh_store(mongodb_uri, event_listeners=[commands]) as store:
        url = await apps.url(store=store, xheaders=True)
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            username = await register(c)
            right = {"username": username, "password": PASSWORD}

            async def sent_by(body: dict[str, str], status: int) -> list[tuple[str, str]]:
                commands.clear()
                response = await c.post("/api/login", json=body, headers=OWNER)
                assert response.status_code == status, response.text
                c.cookies.clear()
                return commands.names()

            # the account, which says it has no recent failures, and the new login
            assert await sent_by(right, 200) == [("find", "users"), ("insert", "tokens")]
            assert await sent_by(right, 200) == [("find", "users"), ("insert", "tokens")]
            # a failure: marked on the account first, then stored
            wrong = {**right, "password": "wrong-password"}
            assert await sent_by(wrong, 401) == [
                ("find", "users"),
                ("update", "users"),
                ("insert", "login_failures"),
            ]
            # then counted (both counters in one read) before each check
            assert await sent_by(wrong, 401) == [
                ("find", "users"),
                ("find", "login_failures"),
                ("update", "users"),
                ("insert", "login_failures"),
            ]
            # within the window, logins read the failures; this address's are cleared once
            assert await sent_by(right, 200) == [
                ("find", "users"),
                ("find", "login_failures"),
                ("delete", "login_failures"),
                ("insert", "tokens"),
            ]
            assert await sent_by(right, 200) == [
                ("find", "users"),
                ("find", "login_failures"),
                ("insert", "tokens"),
            ]


async def test_failures_under_a_name_count_once_an_account_takes_it(apps):
    async with httpx.AsyncClient(base_url=await apps.url(xheaders=True)) as c:
        username = "not_yet_taken"
        wrong = {"username": username, "password": "wrong-password"}
        for _ in range(MAX_FAILURES_PER_ADDRESS):
            assert (await c.post("/api/login", json=wrong, headers=STRANGER)).status_code == 401
        await register(c, username)
        right = {"username": username, "password": PASSWORD}
        assert (await c.post("/api/login", json=right, headers=STRANGER)).status_code == 429
        assert (await c.post("/api/login", json=right, headers=OWNER)).status_code == 200


async def test_basic_password_checks_are_limited_per_address(apps):
    async with httpx.AsyncClient(base_url=await apps.url(password_checks_per_minute=4)) as c:
        username = await register(c)
        answers = [
            (await c.get("/todo/api/v1.0/tasks", headers=basic(username, f"guess-{i}"))).status_code
            for i in range(6)
        ]
        assert answers[:4] == [401] * 4 and answers[4:] == [429, 429]


async def test_a_classic_client_pays_for_one_password_check_not_one_per_request(apps):
    async with httpx.AsyncClient(base_url=await apps.url(password_checks_per_minute=2)) as c:
        username = await register(c)
        for _ in range(10):
            response = await c.get("/todo/api/v1.0/tasks", headers=basic(username, PASSWORD))
            assert response.status_code == 200


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (
            "/api/login",
            {
                "content": '{"username": "u", "password": "p"}',
                "headers": {"Content-Type": "text/plain"},
            },
        ),
        ("/login", {"data": {"username": "u", "pwd": "p"}}),
        ("/api/users", {"data": {"username": "someone", "password": PASSWORD}}),
    ],
)
async def test_a_foreign_page_cannot_log_the_browser_in(client, route, body):
    body["headers"] = {**body.get("headers", {}), "Origin": "https://evil.example"}
    response = await client.post(route, **body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "set-cookie" not in response.headers


async def test_logins_from_our_pages_configured_origins_and_non_browsers_work(apps):
    url = await apps.url(cors_origins=("https://app.example",))
    async with httpx.AsyncClient(base_url=url) as c:
        username = await register(c)
        body = {"username": username, "password": PASSWORD}
        for headers in (
            {},  # a mini-program or a server: no Origin
            {"Origin": url, "Sec-Fetch-Site": "same-origin"},
            {"Origin": url},
            {"Origin": "https://app.example", "Sec-Fetch-Site": "cross-site"},
        ):
            response = await c.post("/api/login", json=body, headers=headers)
            assert response.status_code == 200, (headers, response.text)
        # a foreign page holding our XSRF token (it cannot read it) is let through
        c.cookies.clear()
        page = await c.get("/")
        token = page.cookies["_xsrf"]
        response = await c.post(
            "/api/login",
            json=body,
            headers={"Origin": "https://evil.example", "X-XSRFToken": token},
        )
        assert response.status_code == 200, response.text


async def test_closed_registration_is_403_and_the_board_offers_none(apps):
    async with httpx.AsyncClient(base_url=await apps.url(registration="closed")) as c:
        response = await c.post("/api/users", json={"username": "newcomer", "password": PASSWORD})
        assert response.status_code == 403
        assert "closed" in response.json()["error"]["message"]
        board = await c.get("/")
        assert "Create account" not in board.text and 'id="tab-register"' not in board.text


async def test_registration_by_invite_takes_a_code_an_operator_made(apps, store):
    async with httpx.AsyncClient(base_url=await apps.url(registration="invite")) as c:
        board = await c.get("/")
        assert 'name="invite"' in board.text
        refused = await c.post("/api/users", json={"username": "newcomer", "password": PASSWORD})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "invite"
        code, _ = await store.invites.create(uses=1, ttl_seconds=3600)
        body = {"username": "newcomer", "password": PASSWORD, "invite": code}
        assert (await c.post("/api/users", json=body)).status_code == 201
        await login(c, "newcomer")
        again = await c.post("/api/users", json={**body, "username": "second"})
        assert again.status_code == 400 and again.json()["error"]["field"] == "invite"
