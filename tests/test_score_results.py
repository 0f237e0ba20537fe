"""The scoring form's results for its owner: GET /api/scores/summary, admin
accounts only, over real HTTP on the real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from harness.users import register_and_login

NUMBER = "13800138000"
OTHER = "13900139000"
SUMMARY = "/api/scores/summary"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def score_doc(number: str, grades: tuple[int, int, int], when: datetime, **fields) -> dict:
    """A submission as store/scores.py writes one, at a chosen time."""
    texts = fields.pop("texts", ("", "", ""))
    doc = {
        "acc_nbr": number,
        **dict(zip(("grade1", "grade2", "grade3"), grades, strict=True)),
        **dict(zip(("txt1", "txt2", "txt3"), texts, strict=True)),
        "created_at": when,
        **fields,
    }
    return doc


async def admin(client, operator) -> dict[str, str]:
    """A new user made an admin by the operator's command: its auth headers."""
    username, auth = await register_and_login(client)
    client.cookies.clear()
    ran = await operator.run("user", "admin", username, "--on")
    assert ran.status == 0, ran.stderr
    return auth


async def plain_user(client) -> dict[str, str]:
    _, auth = await register_and_login(client)
    client.cookies.clear()
    return auth


# --- the summary ---


async def two_days_of_scores(store) -> None:
    await store.db.scores.insert_many(
        [
            score_doc(NUMBER, (10, 80, 100), at("2026-11-21T08:00:00")),
            score_doc(NUMBER, (20, 90, 95), at("2026-11-21T12:30:00")),
            score_doc(NUMBER, (31, 70, 90), at("2026-11-21T23:59:59.999")),
            score_doc(NUMBER, (5, 50, 0), at("2026-11-22T00:00:00")),
            score_doc(NUMBER, (6, 51, 1), at("2026-11-22T17:45:00")),
            # another number on the same days is not counted
            score_doc(OTHER, (100, 100, 100), at("2026-11-21T09:00:00")),
            score_doc(OTHER, (0, 0, 0), at("2026-11-22T09:00:00")),
        ]
    )


async def test_summary_counts_and_averages_each_grade_by_utc_day(client, operator, store):
    await two_days_of_scores(store)
    auth = await admin(client, operator)
    response = await client.get(SUMMARY, params={"acc_nbr": NUMBER}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "acc_nbr": NUMBER,
        "count": 5,
        "means": {"grade1": 14.4, "grade2": 68.2, "grade3": 57.2},
        "days": [
            {
                "day": "2026-11-21",
                "count": 3,
                # 61 / 3 = 20.333...
                "means": {"grade1": 20.33, "grade2": 80.0, "grade3": 95.0},
            },
            {
                "day": "2026-11-22",
                "count": 2,
                "means": {"grade1": 5.5, "grade2": 50.5, "grade3": 0.5},
            },
        ],
    }


async def test_summary_counts_what_the_form_submits(client, operator):
    auth = await admin(client, operator)
    form = {"acc_nbr": '"138-0013-8000"', "grade1": '"7"', "grade2": "8", "grade3": "9"}
    before = datetime.now(UTC).date().isoformat()
    assert (await client.post("/score", data=form)).status_code == 200
    assert (await client.post("/score", json={**form, "grade1": 9})).status_code == 200
    after = datetime.now(UTC).date().isoformat()
    response = await client.get(SUMMARY, params={"acc_nbr": NUMBER}, headers=auth)
    body = response.json()
    assert (body["count"], body["means"]) == (2, {"grade1": 8.0, "grade2": 8.0, "grade3": 9.0})
    assert {day["day"] for day in body["days"]} <= {before, after}  # midnight may pass


async def test_summary_of_a_number_without_scores(client, operator):
    auth = await admin(client, operator)
    response = await client.get(SUMMARY, params={"acc_nbr": "+8613800138000"}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "acc_nbr": "+8613800138000",
        "count": 0,
        "means": {"grade1": None, "grade2": None, "grade3": None},
        "days": [],
    }


# --- who may, and what they may send ---


async def test_only_admin_accounts_may_read_results(client, operator):
    path = SUMMARY
    params = {"acc_nbr": NUMBER}
    response = await client.get(path, params=params)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"

    auth = await plain_user(client)
    response = await client.get(path, params=params, headers=auth)
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "admin" in error["message"]


async def test_an_admin_turned_off_is_refused_at_once(client, operator):
    auth = await admin(client, operator)
    params = {"acc_nbr": NUMBER}
    assert (await client.get(SUMMARY, params=params, headers=auth)).status_code == 200
    me = (await client.get("/api/me", headers=auth)).json()["user"]
    assert (await operator.run("user", "admin", me["username"], "--off")).status == 0
    assert (await client.get(SUMMARY, params=params, headers=auth)).status_code == 403


@pytest.mark.parametrize(
    "path, query, field",
    [
        (SUMMARY, "", "acc_nbr"),
        (SUMMARY, "acc_nbr=", "acc_nbr"),
        (SUMMARY, "acc_nbr=abc", "acc_nbr"),
        (SUMMARY, "acc_nbr=1234", "acc_nbr"),
        (SUMMARY, "acc_nbr=" + "1" * 21, "acc_nbr"),
        (SUMMARY, "acc_nbr=138-0013-8000", "acc_nbr"),
        (SUMMARY, "acc_nbr=+8613800138000", "acc_nbr"),  # an unencoded + is a space
        (SUMMARY, "acc_nbr=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95", "acc_nbr"),
        (SUMMARY, f"acc_nbr={NUMBER}&acc_nbr={OTHER}", "acc_nbr"),
        (SUMMARY, f"acc_nbr={NUMBER}&day=2026-11-21", "day"),
    ],
)
async def test_bad_queries_are_400_naming_the_argument(client, operator, path, query, field):
    auth = await admin(client, operator)
    response = await client.get(f"{path}?{query}", headers=auth)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["field"] == field


async def test_a_plus_sign_written_as_2b_is_taken(client, operator, store):
    await store.db.scores.insert_one(
        score_doc("+8613800138000", (1, 2, 3), at("2026-11-21T10:00:00"))
    )
    auth = await admin(client, operator)
    response = await client.get(f"{SUMMARY}?acc_nbr=%2B8613800138000", headers=auth)
    assert json.loads(response.text)["count"] == 1
