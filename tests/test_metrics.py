"""/metrics: Prometheus text by route pattern (never ids or capabilities), live sockets,
loopback only; and the JSON log format."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest
from harness.live import connect, until
from harness.tasks import create
from harness.users import me, register, user
from prometheus_client.parser import text_string_to_metric_families

import config as settings
from server.access_log import JSONFormatter

MISSING_ID = "0123456789abcdef01234567"


async def scrape(client: httpx.AsyncClient) -> tuple[str, dict[str, list]]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f.samples for f in text_string_to_metric_families(response.text)}
    return response.text, families


def value(families: dict[str, list], family: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for s in families.get(family, [])
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_requests_are_counted_by_route_pattern_without_ids_or_capabilities(client):
    auth = await user(client)
    task = await create(client, auth, title="count me")
    todos_url = (await me(client, auth))["todos_url"]
    capability = todos_url.rsplit("/", 1)[1]
    assert (await client.get(f"/api/tasks/{task['id']}", headers=auth)).status_code == 200
    assert (await client.get(f"/api/tasks/{MISSING_ID}", headers=auth)).status_code == 404
    assert (await client.get(todos_url)).status_code == 200
    assert (await client.get(f"{todos_url}/{task['id']}")).status_code == 200
    assert (await client.get(f"/nothing/{MISSING_ID}")).status_code == 404
    wrong = {"username": await register(client), "password": "not the password"}
    assert (await client.post("/api/login", json=wrong)).status_code == 401

    text, families = await scrape(client)
    for secret in (task["id"], MISSING_ID, capability):
        assert secret not in text
    requests = "taskhub_http_requests_total"
    counted = {
        (s.labels["route"], s.labels["method"], s.labels["status"])
        for s in families["taskhub_http_requests"]
        if s.name == requests
    }
    assert ("/api/tasks/([^/]+)", "GET", "200") in counted
    assert ("/api/tasks/([^/]+)", "GET", "404") in counted
    assert ("/api/tasks", "POST", "201") in counted
    assert ("/todos/([^/]+)", "GET", "200") in counted
    assert ("/todos/([^/]+)/(.+)", "GET", "200") in counted
    assert ("unmatched", "GET", "404") in counted
    assert all(route.startswith("/") or route == "unmatched" for route, _, _ in counted)
    assert value(families, "taskhub_http_requests", requests, route="/api/login", status="401")
    assert value(families, "taskhub_login_failures", "taskhub_login_failures_total") == 1
    assert (
        value(
            families,
            "taskhub_http_request_duration_seconds",
            "taskhub_http_request_duration_seconds_count",
            route="/api/tasks/([^/]+)",
            method="GET",
        )
        == 2
    )
    assert value(families, "process_resident_memory_bytes", "process_resident_memory_bytes") > 0
    assert value(families, "taskhub_live_sockets", "taskhub_live_sockets") == 0


async def test_each_application_has_its_own_registry(apps):
    first, second = await apps.url(), await apps.url()
    async with httpx.AsyncClient(base_url=first) as a, httpx.AsyncClient(base_url=second) as b:
        await a.get("/healthz")
        await a.get("/healthz")
        _, families = await scrape(b)
    health = value(
        families, "taskhub_http_requests", "taskhub_http_requests_total", route="/healthz"
    )
    assert health == 0


async def test_live_sockets_and_delivered_changes(apps):
    served = await apps.start()
    async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
        auth = await user(client)
        live = await connect(served.ws_url, headers=auth)
        await live.ready()
        _, families = await scrape(client)
        assert value(families, "taskhub_live_sockets", "taskhub_live_sockets") == 1
        await create(client, auth, title="to the socket")
        await live.until(lambda m: isinstance(m, dict) and m.get("type") == "task.created")
        _, families = await scrape(client)
        delivered = "taskhub_live_changes_delivered"
        assert value(families, delivered, delivered + "_total") >= 1
        live.close()
        assert served.hub is not None
        await until(lambda: not served.hub.by_owner)
        _, families = await scrape(client)
        assert value(families, "taskhub_live_sockets", "taskhub_live_sockets") == 0


async def test_metrics_are_refused_to_other_addresses(apps):
    async with httpx.AsyncClient(base_url=await apps.url(xheaders=True)) as client:
        response = await client.get("/metrics", headers={"X-Real-IP": "203.0.113.9"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert "taskhub_" not in response.text
        response = await client.get("/metrics", headers={"X-Real-IP": "127.0.0.1"})
        assert response.status_code == 200


async def test_json_log_lines_carry_the_access_fields(client, caplog):
    auth = await user(client)
    todos_url = (await me(client, auth))["todos_url"]
    capability = todos_url.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO, logger="taskhub.access"):
        health = await client.get("/healthz?secret=value")
        await client.get(todos_url + "?secret=value")
    formatter = JSONFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "taskhub.access"]
    assert len(lines) == 2
    for line in lines:
        assert "\n" not in line and "secret" not in line and capability not in line
    first, second = (json.loads(line) for line in lines)
    assert first["method"] == "GET" and first["path"] == "/healthz" and first["status"] == 200
    assert first["route"] == "/healthz" and first["request_id"] == health.headers["X-Request-Id"]
    assert first["client"] == "127.0.0.1" and first["user"] is None
    assert isinstance(first["duration_ms"], float)
    assert first["level"] == "INFO" and first["logger"] == "taskhub.access"
    assert first["message"].startswith("GET /healthz 200 ")
    assert second["path"] == "/todos/{capability}" and second["route"] == "/todos/([^/]+)"


def test_json_log_lines_carry_exceptions_on_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("taskhub").makeRecord(
            "taskhub", logging.ERROR, __file__, 1, "failed: %s", ("x",), exc_info=sys.exc_info()
        )
    line = JSONFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed: x" and "RuntimeError: boom" in entry["exception"]


def test_log_format_setting():
    assert settings.load([], environ={}).log_format == "text"
    assert settings.load(["--log-format", "json"], environ={}).log_format == "json"
    with pytest.raises(settings.ConfigError, match="log_format"):
        settings.load(["--log-format", "xml"], environ={})
