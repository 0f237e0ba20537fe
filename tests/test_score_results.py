"""The scoring form's results for its owner: GET /api/scores/summary and
/api/scores/export.csv, admin accounts only, over real HTTP on the real database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from harness.users import register_and_login

from handlers.score_results import EXPORT_COLUMNS
from services.scores import EXPORT_BATCH

NUMBER = "13800138000"
OTHER = "13900139000"
SUMMARY = "/api/scores/summary"
EXPORT = "/api/scores/export.csv"


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


# --- the export ---


def parsed(response) -> list[list[str]]:
    """The CSV answer as rows, its byte-order mark checked and dropped."""
    assert response.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


async def test_export_is_every_submission_as_csv_oldest_first(client, operator, store):
    auth = await admin(client, operator)
    me = (await client.get("/api/me", headers=auth)).json()["user"]
    tricky = ('说"好", 很好', "two\nlines", "")
    await store.db.scores.insert_many(
        [
            score_doc(OTHER, (1, 2, 3), at("2026-11-22T10:00:00"), user_id=me["id"]),
            score_doc(NUMBER, (10, 20, 30), at("2026-11-21T10:00:00"), texts=tricky),
        ]
    )
    response = await client.get(EXPORT, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="scores.csv"'
    header, first, second = parsed(response)
    assert tuple(header) == EXPORT_COLUMNS
    rows = [dict(zip(header, row, strict=True)) for row in (first, second)]
    ids = [str(doc["_id"]) async for doc in store.db.scores.find({}).sort("created_at", 1)]
    assert rows[0] == {
        "id": ids[0],
        "created_at": "2026-11-21T10:00:00.000Z",
        "acc_nbr": NUMBER,
        "grade1": "10",
        "grade2": "20",
        "grade3": "30",
        "txt1": '说"好", 很好',
        "txt2": "two\nlines",
        "txt3": "",
        "user_id": "",  # anonymous
    }
    assert rows[1]["id"] == ids[1] and rows[1]["user_id"] == me["id"]
    assert (rows[1]["acc_nbr"], rows[1]["grade3"]) == (OTHER, "3")


async def test_export_of_one_number(client, operator, store):
    await two_days_of_scores(store)
    auth = await admin(client, operator)
    response = await client.get(EXPORT, params={"acc_nbr": OTHER}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Disposition"] == f'attachment; filename="scores-{OTHER}.csv"'
    _, *rows = parsed(response)
    assert [(row[2], row[3]) for row in rows] == [(OTHER, "100"), (OTHER, "0")]


async def test_cells_that_would_run_as_formulas_are_text(client, operator, store):
    auth = await admin(client, operator)
    texts = ('=HYPERLINK("http://x")', "+1+2", "-3")
    await store.db.scores.insert_many(
        [
            score_doc("+8613800138000", (1, 2, 3), at("2026-11-21T10:00:00"), texts=texts),
            score_doc(NUMBER, (1, 2, 3), at("2026-11-21T11:00:00"), texts=("@cmd", "a=b", "")),
        ]
    )
    _, first, second = parsed(await client.get(EXPORT, headers=auth))
    cells = dict(zip(EXPORT_COLUMNS, first, strict=True))
    assert cells["acc_nbr"] == "'+8613800138000"
    assert (cells["txt1"], cells["txt2"], cells["txt3"]) == (
        '\'=HYPERLINK("http://x")',
        "'+1+2",
        "'-3",
    )
    assert cells["created_at"] == "2026-11-21T10:00:00.000Z"
    cells = dict(zip(EXPORT_COLUMNS, second, strict=True))
    assert (cells["txt1"], cells["txt2"], cells["txt3"]) == ("'@cmd", "a=b", "")


async def test_a_large_export_is_streamed_in_chunks(client, operator, store):
    count = 2 * EXPORT_BATCH + 1
    start = at("2026-11-21T00:00:00")
    await store.db.scores.insert_many(
        [score_doc(NUMBER, (i % 101, 0, 0), start + timedelta(seconds=i)) for i in range(count)]
    )
    auth = await admin(client, operator)
    async with client.stream("GET", EXPORT, headers=auth) as response:
        assert response.status_code == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in response.headers
        await response.aread()
    _, *rows = parsed(response)
    assert len(rows) == count
    assert [row[3] for row in rows] == [str(i % 101) for i in range(count)]  # oldest first


async def test_an_empty_export_is_the_header_row(client, operator):
    auth = await admin(client, operator)
    response = await client.get(EXPORT, headers=auth)
    assert response.status_code == 200
    assert parsed(response) == [list(EXPORT_COLUMNS)]


# --- who may, and what they may send ---


@pytest.mark.parametrize("path", [SUMMARY, EXPORT])
async def test_only_admin_accounts_may_read_results(client, operator, path):
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
    assert (await client.get(EXPORT, headers=auth)).status_code == 200
    me = (await client.get("/api/me", headers=auth)).json()["user"]
    assert (await operator.run("user", "admin", me["username"], "--off")).status == 0
    assert (await client.get(EXPORT, headers=auth)).status_code == 403


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
        (EXPORT, "acc_nbr=abc", "acc_nbr"),
        (EXPORT, "acc_nbr=", "acc_nbr"),
        (EXPORT, "format=xlsx", "format"),
        (EXPORT, f"acc_nbr={NUMBER}&acc_nbr={NUMBER}", "acc_nbr"),
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
