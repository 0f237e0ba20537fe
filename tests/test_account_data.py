"""An account's data as a whole, over real HTTP and WebSocket against the real
database: ``GET /api/me/export`` and ``DELETE /api/me``."""

from __future__ import annotations

from datetime import timedelta

import httpx
from harness.lists import Member, member, new_list, share
from harness.live import connect
from harness.tasks import create
from harness.users import PASSWORD

from store.clock import utcnow


async def score(client: httpx.AsyncClient, who: Member) -> None:
    form = {"acc_nbr": "13800000000", "grade1": 5, "grade2": 4, "grade3": 3}
    form.update({"txt1": "good", "txt2": "", "txt3": ""})
    response = await client.post("/score", json=form, headers=who.auth)
    assert response.status_code in (200, 201), response.text


async def test_export_holds_everything_of_the_account(client):
    alice, bob = await member(client), await member(client)
    await create(client, alice.auth, title="in my inbox", labels=["home"])
    shared = await new_list(client, alice, "Shared")
    await share(client, alice, shared["id"], bob, "editor")
    await create(client, bob.auth, title="bob wrote this", list_id=shared["id"])
    theirs = await new_list(client, bob, "Bob's")
    await share(client, bob, theirs["id"], alice, "viewer")
    await score(client, alice)

    response = await client.get("/api/me/export", headers=alice.auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.json()
    assert data["format"] == "taskhub-export/1"
    assert data["user"]["username"] == alice.username
    owned = {entry["list"]["name"]: entry for entry in data["lists"]}
    assert set(owned) == {"Inbox", "Shared"}
    assert [t["title"] for t in owned["Inbox"]["tasks"]] == ["in my inbox"]
    assert [t["title"] for t in owned["Shared"]["tasks"]] == ["bob wrote this"]
    assert {m["user"]["username"] for m in owned["Shared"]["members"]} == {
        alice.username,
        bob.username,
    }
    assert [(m["name"], m["role"]) for m in data["memberships"]] == [("Bob's", "viewer")]
    assert [s["acc_nbr"] for s in data["scores"]] == ["13800000000"]
    # another account's data is not in it
    assert "Bob's" not in owned


async def test_deleting_an_account_needs_its_password_and_changes_nothing_without(client):
    alice = await member(client)
    await create(client, alice.auth, title="keep me")
    for body, status in (({}, 400), ({"password": "wrong password"}, 401), ({"x": 1}, 400)):
        response = await client.request("DELETE", "/api/me", json=body, headers=alice.auth)
        assert response.status_code == status, response.text
    assert (await client.get("/api/tasks", headers=alice.auth)).json()["tasks"][0]["title"] == (
        "keep me"
    )


async def test_a_deleted_account_is_gone_everywhere(apps):
    served = await apps.start()
    async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
        alice, bob = await member(client), await member(client)
        await create(client, alice.auth, title="mine")
        owned = await new_list(client, alice, "Alice's")
        await share(client, alice, owned["id"], bob, "editor")
        await create(client, bob.auth, title="in alice's list", list_id=owned["id"])
        theirs = await new_list(client, bob, "Bob's")
        await share(client, bob, theirs["id"], alice, "editor")
        await score(client, alice)
        alice_socket = await connect(served.ws_url, token=alice.token)
        bob_socket = await connect(served.ws_url, token=bob.token)
        await alice_socket.ready()
        await bob_socket.ready()

        response = await client.request(
            "DELETE", "/api/me", json={"password": PASSWORD}, headers=alice.auth
        )
        assert response.status_code == 204, response.text

        assert await alice_socket.closed() == 4401
        deleted = await bob_socket.until(lambda m: m["type"] == "list.deleted")
        assert deleted["list"]["id"] == owned["id"]
        removed = await bob_socket.until(lambda m: m["type"] == "member.removed")
        assert removed["member"]["user"]["username"] == alice.username
        assert (await client.get("/api/me", headers=alice.auth)).status_code == 401
        login = await client.post(
            "/api/login", json={"username": alice.username, "password": PASSWORD}
        )
        assert login.status_code == 401
        lists = (await client.get("/api/lists", headers=bob.auth)).json()["lists"]
        assert [entry["name"] for entry in lists] == ["Inbox", "Bob's"]
        members = await client.get(f"/api/lists/{theirs['id']}/members", headers=bob.auth)
        assert [m["user"]["username"] for m in members.json()["members"]] == [bob.username]
        store = served.services.store
        for collection, query in (
            ("tasks", {"owner": alice.id}),
            ("lists", {"owner": alice.id}),
            ("list_members", {"user": alice.id}),
            ("scores", {"user_id": alice.id}),
            ("tokens", {"user_id": alice.id}),
            ("changes", {"owner": alice.id}),
        ):
            assert await store.db[collection].count_documents(query) == 0, collection


async def test_a_mini_program_account_is_deleted_after_a_fresh_code_login(store, client):
    account = await store.users.for_miniprogram("wechat", "openid-to-delete")
    stale, stale_login = await store.tokens.issue(account, 3600)
    # a login made by code 6 minutes ago (replaced whole: store/compat.py, replace_whole)
    doc = await store.tokens.collection.find_one({"_id": {"$eq": stale_login.digest}})
    doc["created_at"] = utcnow() - timedelta(minutes=6)
    await store.tokens.collection.replace_one({"_id": {"$eq": stale_login.digest}}, doc)
    refused = await client.request(
        "DELETE", "/api/me", headers={"Authorization": f"Bearer {stale}"}
    )
    assert refused.status_code == 403
    assert "5 minutes" in refused.json()["error"]["message"]
    fresh, _ = await store.tokens.issue(account, 3600)
    gone = await client.request("DELETE", "/api/me", headers={"Authorization": f"Bearer {fresh}"})
    assert gone.status_code == 204
    assert await store.users.by_id(account.id) is None
