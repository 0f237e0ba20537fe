"""The classic scoring flow: POST /score as the classic client sends it, GET /api/scores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from harness.users import register_and_login

from services.scores import FLOOD_LIMIT

SUBMITTED = "数据提交成功"
NUMBER = "13800138000"


def stringified(**fields) -> dict[str, str]:
    """The form the classic client posts: every value JSON.stringify'd."""
    return {name: json.dumps(value, ensure_ascii=False) for name, value in fields.items()}


def form(**overrides) -> dict:
    fields = {
        "acc_nbr": NUMBER,
        "grade1": 5,
        "grade2": 80,
        "grade3": 100,
        "txt1": "很好",
        "txt2": "服务周到",
        "txt3": "",
    }
    fields.update(overrides)
    return fields


async def stored(store) -> list[dict]:
    return [doc async for doc in store.db.scores.find({}).sort("created_at", 1)]


def assert_string_answer(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, str) and body
    return body


async def test_classic_client_form_with_stringified_values(client, store):
    response = await client.post(
        "/score",
        data=stringified(**form(grade2="80", txt2='说"好"了', acc_nbr="13800138000")),
    )
    assert assert_string_answer(response, 200) == SUBMITTED
    assert response.content.decode() == '"数据提交成功"'
    [doc] = await stored(store)
    assert doc["acc_nbr"] == NUMBER
    assert (doc["grade1"], doc["grade2"], doc["grade3"]) == (5, 80, 100)
    assert (doc["txt1"], doc["txt2"], doc["txt3"]) == ("很好", '说"好"了', "")
    assert "user_id" not in doc
    age = datetime.now(UTC) - doc["created_at"].replace(tzinfo=UTC)
    assert timedelta(0) <= age < timedelta(seconds=30)


async def test_plain_form_values(client, store):
    response = await client.post("/score", data={k: str(v) for k, v in form().items()})
    assert assert_string_answer(response, 200) == SUBMITTED
    [doc] = await stored(store)
    assert (doc["grade1"], doc["txt1"]) == (5, "很好")


async def test_json_body_as_wx_request_sends_it(client, store):
    response = await client.post("/score", json=form())
    assert assert_string_answer(response, 200) == SUBMITTED
    # and a JSON body whose values were stringified first
    response = await client.post("/score", json=stringified(**form(txt1="不错")))
    assert assert_string_answer(response, 200) == SUBMITTED
    docs = await stored(store)
    assert [d["txt1"] for d in docs] == ["很好", "不错"]
    assert all(d["grade2"] == 80 for d in docs)


async def test_texts_that_look_like_json_stay_text(client, store):
    fields = form(txt1="123", txt2="null", txt3="[1, 2]")
    response = await client.post("/score", data={k: str(v) for k, v in fields.items()})
    assert_string_answer(response, 200)
    [doc] = await stored(store)
    assert (doc["txt1"], doc["txt2"], doc["txt3"]) == ("123", "null", "[1, 2]")


async def test_edges_are_accepted(client, store):
    fields = form(grade1=0, grade3=100, txt1="好" * 500, acc_nbr="+86 138-0013-8000")
    assert_string_answer(await client.post("/score", data=stringified(**fields)), 200)
    [doc] = await stored(store)
    assert doc["grade1"] == 0 and len(doc["txt1"]) == 500
    assert doc["acc_nbr"] == "+8613800138000"


@pytest.mark.parametrize(
    "fields, field",
    [
        (form(grade1="101"), "grade1"),
        (form(grade2="-1"), "grade2"),
        (form(grade3="5.5"), "grade3"),
        (form(grade1="abc"), "grade1"),
        (form(grade1=""), "grade1"),
        (form(txt1="好" * 501), "txt1"),
        (form(acc_nbr="abc"), "acc_nbr"),
        (form(acc_nbr="1234"), "acc_nbr"),
        (form(acc_nbr=""), "acc_nbr"),
        (form(extra="x"), "extra"),
    ],
)
async def test_invalid_forms_are_400_saying_what_is_wrong(client, store, fields, field):
    for body in (stringified(**fields), {k: str(v) for k, v in fields.items()}):
        response = await client.post("/score", data=body)
        message = assert_string_answer(response, 400)
        assert field in message
    assert await stored(store) == []


@pytest.mark.parametrize("missing", ["acc_nbr", "grade1", "grade2", "grade3"])
async def test_required_fields(client, store, missing):
    fields = form()
    del fields[missing]
    message = assert_string_answer(await client.post("/score", data=stringified(**fields)), 400)
    assert missing in message
    assert await stored(store) == []


async def test_comments_may_be_left_out(client, store):
    fields = form()
    for name in ("txt1", "txt2", "txt3"):
        del fields[name]
    assert_string_answer(await client.post("/score", data=stringified(**fields)), 200)
    [doc] = await stored(store)
    assert (doc["txt1"], doc["txt2"], doc["txt3"]) == ("", "", "")


async def test_numbers_without_a_fraction_are_whole_numbers(client, store):
    # JSON has one kind of number: 69.0 is the integer 69
    body = form(acc_nbr=13800138000.0, grade1=69.0, grade2=0.0, grade3=100)
    assert_string_answer(await client.post("/score", json=body), 200)
    [doc] = await stored(store)
    assert (doc["acc_nbr"], doc["grade1"], doc["grade2"]) == ("13800138000", 69, 0)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"grade1": True}, "grade1"),
        ({"grade1": 5.5}, "grade1"),
        ({"grade1": None}, "grade1"),
        ({"grade1": [5]}, "grade1"),
        ({"grade1": {"$gt": 0}}, "grade1"),
        ({"txt1": ["a"]}, "txt1"),
        ({"txt1": {"$ne": None}}, "txt1"),
        ({"acc_nbr": {"$ne": None}}, "acc_nbr"),
        ({"acc_nbr": True}, "acc_nbr"),
    ],
)
async def test_json_bodies_of_the_wrong_types(client, store, overrides, field):
    message = assert_string_answer(await client.post("/score", json=form(**overrides)), 400)
    assert field in message
    assert await stored(store) == []


async def test_other_errors_are_json_strings_too(client):
    xml = {"Content-Type": "application/xml"}
    response = await client.post("/score", content=b"<xml/>", headers=xml)
    assert "application/json" in assert_string_answer(response, 415)
    assert_string_answer(await client.get("/score"), 405)
    json_type = {"Content-Type": "application/json"}
    response = await client.post("/score", content=b"{oops", headers=json_type)
    assert "JSON" in assert_string_answer(response, 400)


async def test_an_authenticated_submission_records_the_user(client, store):
    _, auth = await register_and_login(client)
    client.cookies.clear()
    me = (await client.get("/api/me", headers=auth)).json()["user"]
    assert_string_answer(await client.post("/score", data=stringified(**form()), headers=auth), 200)
    [doc] = await stored(store)
    assert doc["user_id"] == me["id"] and isinstance(doc["user_id"], str)


async def test_a_stale_token_is_401_not_anonymous(client, store):
    response = await client.post(
        "/score", data=stringified(**form()), headers={"Authorization": "Bearer expired-token"}
    )
    assert_string_answer(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await stored(store) == []


async def test_cookie_sessions_need_the_xsrf_token(client, store):
    await register_and_login(client)  # leaves the session cookie in the jar
    response = await client.post("/score", data=stringified(**form()))
    assert_string_answer(response, 403)
    xsrf = client.cookies["_xsrf"]
    response = await client.post(
        "/score", data=stringified(**form()), headers={"X-XSRFToken": xsrf}
    )
    assert_string_answer(response, 200)
    assert len(await stored(store)) == 1


async def test_reading_back_ones_own_submissions_newest_first(client):
    _, alice = await register_and_login(client)
    _, bob = await register_and_login(client)
    client.cookies.clear()
    for grade in (10, 20, 30):
        await client.post("/score", data=stringified(**form(grade1=grade)), headers=alice)
    await client.post("/score", data=stringified(**form(grade1=99)), headers=bob)
    await client.post("/score", data=stringified(**form(grade1=98)))  # anonymous
    other_number = stringified(**form(grade1=97, acc_nbr="13900139000"))
    await client.post("/score", data=other_number, headers=alice)

    response = await client.get("/api/scores", params={"acc_nbr": NUMBER}, headers=alice)
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    assert [s["grade1"] for s in scores] == [30, 20, 10]
    assert set(scores[0]) == {
        "id",
        "acc_nbr",
        "grade1",
        "grade2",
        "grade3",
        "txt1",
        "txt2",
        "txt3",
        "created_at",
    }
    assert scores[0]["txt1"] == "很好" and scores[0]["created_at"].endswith("Z")
    assert scores[0]["created_at"] >= scores[1]["created_at"] >= scores[2]["created_at"]

    # the same number written otherwise, and a limit
    params = {"acc_nbr": "138-0013-8000", "limit": "2"}
    response = await client.get("/api/scores", params=params, headers=alice)
    assert [s["grade1"] for s in response.json()["scores"]] == [30, 20]
    # bob sees only his own
    response = await client.get("/api/scores", params={"acc_nbr": NUMBER}, headers=bob)
    assert [s["grade1"] for s in response.json()["scores"]] == [99]


async def test_reading_scores_needs_a_login(client):
    response = await client.get("/api/scores", params={"acc_nbr": NUMBER})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "acc_nbr"),
        ({"acc_nbr": "abc"}, "acc_nbr"),
        ({"acc_nbr": NUMBER, "limit": "0"}, "limit"),
        ({"acc_nbr": NUMBER, "limit": "201"}, "limit"),
        ({"acc_nbr": NUMBER, "limit": "x"}, "limit"),
    ],
)
async def test_reading_scores_bad_queries(client, params, field):
    _, auth = await register_and_login(client)
    response = await client.get("/api/scores", params=params, headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


async def flood(client: httpx.AsyncClient, count: int, headers=None) -> list[int]:
    statuses = []
    for _ in range(count):
        response = await client.post("/score", data=stringified(**form()), headers=headers)
        statuses.append(response.status_code)
    return statuses


async def test_floods_are_limited_per_client_address(apps, store):
    # behind nginx: the address is X-Real-IP, trusted with --xheaders
    base = await apps.url(xheaders=True)
    async with httpx.AsyncClient(base_url=base) as c:
        first = {"X-Real-IP": "203.0.113.7"}
        assert await flood(c, FLOOD_LIMIT, first) == [200] * FLOOD_LIMIT
        response = await c.post("/score", data=stringified(**form()), headers=first)
        assert assert_string_answer(response, 429)
        assert 0 < int(response.headers["Retry-After"]) <= 60
        # another address is not held back
        assert await flood(c, 1, {"X-Real-IP": "203.0.113.8"}) == [200]
    assert len(await stored(store)) == FLOOD_LIMIT + 1


async def test_invalid_submissions_count_towards_the_flood(client):
    bad = stringified(**form(grade1=500))
    for _ in range(FLOOD_LIMIT):
        assert (await client.post("/score", data=bad)).status_code == 400
    assert (await client.post("/score", data=stringified(**form()))).status_code == 429


async def test_the_flood_limit_is_shared_between_processes(apps):
    first, second = await apps.url(), await apps.url()
    async with httpx.AsyncClient(base_url=first) as a, httpx.AsyncClient(base_url=second) as b:
        statuses = []
        for i in range(FLOOD_LIMIT + 1):
            statuses += await flood(a if i % 2 else b, 1)
    assert statuses == [200] * FLOOD_LIMIT + [429]


async def test_the_flood_window_passes(client, store):
    assert await flood(client, FLOOD_LIMIT + 1) == [200] * FLOOD_LIMIT + [429]
    await store.db.score_flood.update_many(
        {}, {"$set": {"at": datetime.now(UTC) - timedelta(minutes=2)}}
    )
    assert await flood(client, 1) == [200]
