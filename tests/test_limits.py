"""Bounded resources: per-user caps answered with a JSON 4xx naming the limit."""

from __future__ import annotations

import httpx
from harness.users import me, user


async def test_the_task_cap_holds_in_every_shape(apps):
    async with httpx.AsyncClient(base_url=await apps.url(max_tasks_per_user=2)) as c:
        auth = await user(c)
        capability = (await me(c, auth))["todos_url"]
        assert (await c.post("/api/tasks", json={"title": "one"}, headers=auth)).status_code == 201
        assert (await c.post(capability, json={"title": "two"})).status_code == 201
        native = await c.post("/api/tasks", json={"title": "three"}, headers=auth)
        assert native.status_code == 403
        assert native.json()["error"]["code"] == "limit_reached"
        assert "max_tasks_per_user" in native.json()["error"]["message"]
        classic = await c.post("/todo/api/v1.0/tasks", json={"title": "three"}, headers=auth)
        assert classic.status_code == 403 and classic.json() == {"error": "Forbidden"}
        assert (await c.post(capability, json={"title": "three"})).status_code == 403
        listed = (await c.get("/todo/api/v1.0/tasks", headers=auth)).json()["tasks"]
        assert [t["title"] for t in listed] == ["one", "two"]


async def test_the_daily_score_cap_is_a_json_string_naming_it(apps):
    async with httpx.AsyncClient(base_url=await apps.url(max_scores_per_day=1)) as c:
        form = {"acc_nbr": "13800138000", "grade1": "1", "grade2": "2", "grade3": "3"}
        assert (await c.post("/score", data=form)).status_code == 200
        refused = await c.post("/score", data=form)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 3600
        assert "max_scores_per_day" in refused.json()
