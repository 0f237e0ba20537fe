"""The OpenAPI document of the native task API: served as kept in the repository,
true to the server's rules, and checked by schemathesis against a live server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from harness.commands import run_taskhub
from harness.processes import TaskhubProcess
from harness.settings import ROOT
from harness.users import PASSWORD

from handlers.tasks import WHITESPACE, check_title
from services.errors import InvalidInput

DOCUMENT = json.loads((ROOT / "handlers" / "openapi.json").read_text())
OPERATIONS = {
    ("GET", "/api/tasks"),
    ("POST", "/api/tasks"),
    ("GET", "/api/tasks/{id}"),
    ("PUT", "/api/tasks/{id}"),
    ("PATCH", "/api/tasks/{id}"),
    ("DELETE", "/api/tasks/{id}"),
    ("GET", "/api/changes"),
    ("GET", "/api/scores/summary"),
    ("GET", "/api/scores/export.csv"),
}
# examples per operation and phase: enough to reach every rule, few enough to
# finish in well under a minute
MAX_EXAMPLES = 40


async def test_the_document_is_served_as_kept(client):
    response = await client.get("/api/openapi.json", headers={"Origin": "https://docs.example"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # public, no credentials
    assert response.json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.1")
    documented = {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert documented == OPERATIONS


@pytest.mark.parametrize(
    "title",
    [
        "x",
        " x ",
        "\tx\n",
        "",
        " ",
        "\u3000\u00a0\ufeff",
        "\x1f",  # whitespace to Python's str.strip, not to JavaScript's trim
        "\u0085",
        "\u200b",
        "a" * 200,
        "a" * 201,
        "  " + "a" * 200 + "  ",
        " " + "a" * 199 + "\u2028",
        "a\n" * 100,
        "🎉" * 200,
        "🎉" * 201,
    ],
)
def test_the_documented_title_rule_is_the_servers(title):
    schema = DOCUMENT["components"]["schemas"]["NewTask"]["properties"]["title"]
    documented = re.search(schema["pattern"], title) is not None
    try:
        check_title({"title": title}, "title", False)
        accepted = True
    except InvalidInput:
        accepted = False
    assert documented == accepted
    # the pattern is written from the same whitespace the server trims
    assert all(ch in schema["pattern"] or "\u2000" <= ch <= "\u200a" for ch in WHITESPACE)


@pytest.fixture
def live_server(mongodb_uri, tmp_path):
    """taskhub as a real process, and the token of a logged-in admin account."""
    database = "test_openapi_" + uuid.uuid4().hex[:8]
    process = TaskhubProcess(
        "--log-level",
        "warning",
        data_dir=tmp_path / "var",
        mongodb_uri=mongodb_uri,
        database=database,
    ).start()
    try:
        with httpx.Client(base_url=process.url) as c:
            username = "schemathesis_" + uuid.uuid4().hex[:6]
            assert (
                c.post("/api/users", json={"username": username, "password": PASSWORD}).status_code
                == 201
            )
            token = c.post("/api/login", json={"username": username, "password": PASSWORD}).json()[
                "token"
            ]
            for i in range(3):  # tasks for the generated requests to find
                headers = {"Authorization": f"Bearer {token}"}
                assert (
                    c.post("/api/tasks", json={"title": f"seed {i}"}, headers=headers).status_code
                    == 201
                )
            c.cookies.clear()  # anonymous submissions: no login cookie, no XSRF token
            for number in ("13800138000", "+8613900139000"):  # scores to sum up and export
                form = {"acc_nbr": number, "grade1": "5", "grade2": "80", "grade3": "100"}
                assert c.post("/score", data={**form, "txt1": "=1+1"}).status_code == 200
        # the results need an admin account
        made_admin = run_taskhub(
            *("user", "admin", username, "--on", "--mongodb-uri", mongodb_uri),
            *("--database", database, "--data-dir", str(tmp_path / "operator")),
        )
        assert made_admin.returncode == 0, made_admin.stderr
        yield process, token
    finally:
        process.kill()


@pytest.mark.integration
def test_the_live_server_keeps_to_the_document(live_server, tmp_path):
    """schemathesis over every operation, authenticated, with valid and invalid
    input: never a 5xx, and every answer (status, headers, body) as documented."""
    process, token = live_server
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(ROOT / "tests" / "schemathesis.toml"),
        "run",
        f"{process.url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--no-color",
    ]
    # in its own directory: it may write reports and caches
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert re.search(rf"Tested: {len(OPERATIONS)}\b", report), report  # every operation
    assert "Traceback" not in process.output(), process.output()
