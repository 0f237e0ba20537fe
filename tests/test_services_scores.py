"""services.scores.Scores on a real database: flood control per client address, and
each user reading back only their own submissions."""

from __future__ import annotations

import pytest
from bson import ObjectId
from harness.settings import make_config

import services
from services.errors import TooManyRequests
from services.scores import FLOOD_LIMIT, Scores

NUMBER = "13800138000"
ADDRESS = "192.0.2.9"
GRADES = (5, 80, 100)


@pytest.fixture
def scores(store) -> Scores:
    return services.build(make_config(), store).scores


async def test_admit_refuses_an_address_past_the_flood_limit(scores):
    for _ in range(FLOOD_LIMIT):
        await scores.admit("192.0.2.1")

    with pytest.raises(TooManyRequests) as flooded:
        await scores.admit("192.0.2.1")

    assert flooded.value.retry_after is not None and 1 <= flooded.value.retry_after <= 60


async def test_a_flood_from_one_address_leaves_another_alone(scores):
    for _ in range(FLOOD_LIMIT):
        await scores.admit("192.0.2.1")
    with pytest.raises(TooManyRequests):
        await scores.admit("192.0.2.1")

    await scores.admit("192.0.2.2")


async def test_refused_submissions_are_not_counted(scores, store):
    for _ in range(FLOOD_LIMIT):
        await scores.admit("192.0.2.1")
    for _ in range(3):
        with pytest.raises(TooManyRequests):
            await scores.admit("192.0.2.1")

    assert await store.db.score_flood.count_documents({"account": "192.0.2.1"}) == FLOOD_LIMIT


async def test_submitted_by_returns_only_the_callers_own_newest_first(scores):
    me, someone = str(ObjectId()), str(ObjectId())
    older = await scores.submit(NUMBER, GRADES, ("first", "", ""), me, ADDRESS)
    await scores.submit(NUMBER, GRADES, ("theirs", "", ""), someone, ADDRESS)
    await scores.submit(NUMBER, GRADES, ("anonymous", "", ""), None, ADDRESS)
    await scores.submit("13900139000", GRADES, ("another number", "", ""), me, ADDRESS)
    newer = await scores.submit(NUMBER, GRADES, ("second", "", ""), me, ADDRESS)

    mine = await scores.submitted_by(me, NUMBER, limit=10)

    assert mine == [newer, older]
    assert all(s["user_id"] == me for s in mine)


async def test_submitted_by_keeps_to_the_limit(scores):
    me = str(ObjectId())
    made = [await scores.submit(NUMBER, GRADES, (f"n{n}", "", ""), me, ADDRESS) for n in range(3)]

    assert await scores.submitted_by(me, NUMBER, limit=2) == [made[2], made[1]]


async def test_a_day_holds_at_most_max_scores_per_day_per_submitter(store):
    scores = services.build(make_config(max_scores_per_day=2), store).scores
    me = str(ObjectId())
    for _ in range(2):
        await scores.submit(NUMBER, GRADES, ("", "", ""), me, ADDRESS)
    with pytest.raises(TooManyRequests) as refused:
        await scores.submit(NUMBER, GRADES, ("", "", ""), me, "198.51.100.1")
    assert "max_scores_per_day" in refused.value.message
    assert refused.value.retry_after and refused.value.retry_after > 23 * 3600
    # anonymous submissions count per address; another user is not held up
    await scores.submit(NUMBER, GRADES, ("", "", ""), None, ADDRESS)
    await scores.submit(NUMBER, GRADES, ("", "", ""), str(ObjectId()), ADDRESS)
    assert await store.db.scores.count_documents({}) == 4
