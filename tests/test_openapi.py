"""The OpenAPI document of the JSON API: valid OpenAPI 3.1, served as kept in the
repository, describing every JSON route of the application, true to the server's
input rules, and checked by schemathesis against a live server."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness.apps import route_paths
from harness.commands import run_taskhub
from harness.processes import TaskhubProcess
from harness.settings import ROOT, make_config
from harness.users import PASSWORD
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from tornado.web import RequestHandler

import app
from handlers import classic, metrics, pages, todo_backend
from handlers.auth import ClassicLoginHandler, LoginHandler, new_password, new_username
from handlers.base import APIHandler
from handlers.lists import list_name
from handlers.miniprogram import login_code
from handlers.params import optional_text
from handlers.scores import acc_nbr, comment, grade
from handlers.tasks import (
    NATIVE,
    WHITESPACE,
    check_description,
    check_done,
    check_due,
    check_labels,
    check_list_id,
    check_order,
    check_priority,
    check_title,
    due_date,
    label,
    task_fields,
)
from services.errors import InvalidInput
from services.tasks import SORTS

DOCUMENT = json.loads((ROOT / "handlers" / "openapi.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]

# Handlers that answer no JSON: the browser board (HTML) and the Prometheus metrics.
NOT_JSON: set[type[RequestHandler]] = {pages.BoardPage, metrics.MetricsHandler}
# JSON routes left out of the document, each with its own clients' shape (the
# document says so in its description).
UNDOCUMENTED: dict[type[RequestHandler], str] = {
    classic.ClassicTasksHandler: "the classic tutorial's shape",
    classic.ClassicTaskHandler: "the classic tutorial's shape",
    todo_backend.TodosHandler: "Todo-Backend's shape, at a capability URL",
    todo_backend.TodoHandler: "Todo-Backend's shape, at a capability URL",
}
# Methods of documented routes that are left out, and why.
UNDOCUMENTED_METHODS = {
    ("GET", "/login"): "off unless --allow-get-login: it puts passwords in URLs",
}

# examples per operation and phase: enough to reach every rule, few enough to
# finish the run in well under a minute
MAX_EXAMPLES = 20
SCHEMATHESIS_TIMEOUT = 300  # seconds; a run takes 20 to 40


def operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method != "parameters"
    }


def agree(schema: dict[str, Any], rule: Callable[[Any], object], values: list[Any]) -> None:
    """The documented ``schema`` takes exactly the ``values`` the server's ``rule``
    takes (it raises InvalidInput for the others)."""
    documented = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
    for value in values:
        try:
            rule(value)
            accepted = True
        except InvalidInput:
            accepted = False
        assert documented.is_valid(value) == accepted, repr(value)


def test_the_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1")
    validate(DOCUMENT)  # raises, naming what is wrong


async def test_the_document_is_served_as_kept(client):
    response = await client.get("/api/openapi.json", headers={"Origin": "https://docs.example"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # public, no credentials
    assert response.json() == DOCUMENT


# --- every JSON route is in the document ---


def implemented_methods(handler: type[RequestHandler]) -> set[str]:
    """The methods a handler answers itself (HEAD and OPTIONS, which APIHandler answers
    for every route, aside)."""
    return {
        method
        for method in handler.SUPPORTED_METHODS
        if method not in ("HEAD", "OPTIONS")
        and getattr(handler, method.lower()) is not getattr(RequestHandler, method.lower())
    }


def template_regex(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


def test_every_json_route_is_in_the_document_and_nothing_else():
    routes = app.routes(make_config(live=True))
    templates = {path: template_regex(path) for path in DOCUMENT["paths"]}
    documented = operations()
    covered = set()
    for route, path in zip(routes, route_paths(routes), strict=True):
        handler = route[1]
        if handler in NOT_JSON or handler in UNDOCUMENTED:
            continue
        assert issubclass(handler, APIHandler), handler  # answers JSON, errors included
        matches = [t for t, regex in templates.items() if regex.fullmatch(path)]
        assert len(matches) == 1, f"{route[0]} ({handler.__name__}) is documented as {matches}"
        (template,) = matches
        for method in implemented_methods(handler):
            if (method, template) in UNDOCUMENTED_METHODS:
                continue
            assert (method, template) in documented, f"{method} {template} is not documented"
            covered.add((method, template))
    assert covered == documented, f"documented, but no route answers: {documented - covered}"


# --- the documented input rules are the server's ---

# every character that is whitespace to JavaScript's trim() or Python's str.strip()
SPACES = {chr(c) for c in range(0x3001) if chr(c).isspace()} | set(WHITESPACE)
WHITE = ["", " ", "\t", "\u3000", "\u00a0", "\ufeff", "\x1f", "\u0085", "\u200b", "\u2028"]


def around(values: list[str]) -> list[str]:
    """Each value as it is, and wrapped in whitespace of every kind on either side."""
    return [w1 + v + w2 for v in values for w1 in WHITE[:4] + WHITE[6:] for w2 in ("", *WHITE)]


def test_the_task_field_rules():
    titles = [
        *around(["x", "a" * 200, "a\n" * 99 + "a", "🎉" * 200]),
        *WHITE,
        "a" * 201,
        "  " + "a" * 200 + "  ",
        " " + "a" * 199 + "\u2028",
        "🎉" * 201,
        "\u3000\u00a0\ufeff",
        # every whitespace character, trimmed by the server or not
        *(ch + "x" + ch for ch in SPACES),
        *SPACES,
        None,
        5,
    ]
    agree(SCHEMAS["Title"], lambda v: check_title({"t": v}, "t", False), titles)
    editable = SCHEMAS["NewTask"]["properties"]
    numbers = [0, 3, 4, -1, 3.0, 2.5, True, "1", None, 2**53 - 1, 2**53, -(2**53) + 1, -(2**53)]
    agree(editable["priority"], lambda v: check_priority({"p": v}, "p", False), numbers)
    agree(editable["order"], lambda v: check_order({"o": v}, "o", False), numbers)
    agree(editable["done"], lambda v: check_done({"d": v}, "d", False), [True, False, 0, "true"])
    descriptions = ["", " ", "a" * 2000, "a" * 2001, None, 1]
    agree(editable["description"], lambda v: check_description({"d": v}, "d", False), descriptions)
    agree(editable["list_id"], lambda v: check_list_id({"l": v}, "l", False), ["x", "", None, 1])
    labels = [
        *around(["a", "a" * 32, "a b"]),
        "a" * 33,
        *WHITE,
        *SPACES,
        None,
        1,
    ]
    agree(SCHEMAS["Label"], lambda v: label(v, "label"), labels)
    label_lists = [[], ["a"], ["a", "b"], ["a", "a"], [str(i) for i in range(10)]]
    label_lists += [[str(i) for i in range(11)], [""], [" "], [1], "a", None, ["a" * 33]]
    agree(editable["labels"], lambda v: check_labels({"l": v}, "l", False), label_lists)


def test_the_task_bodies():
    bodies = [
        {},
        {"title": "x"},
        {"title": " "},
        {"description": "d"},
        {"title": "x", "done": True, "order": None, "due": None, "priority": 3, "labels": []},
        {"title": "x", "list_id": "0123456789abcdef01234567"},
        {"title": "x", "id": "0123456789abcdef01234567"},
        {"title": "x", "version": 1},
        {"title": "x", "completed_at": None},
        {"title": "x", "$where": "1"},
        {"title": "x", "uri": "http://x"},
    ]
    agree(SCHEMAS["NewTask"], lambda v: task_fields(v, NATIVE, complete=True), bodies)
    agree(SCHEMAS["TaskChanges"], lambda v: task_fields(v, NATIVE, complete=False), bodies)


def test_the_list_name_rule():
    names = [*around(["a", "a" * 100]), "a" * 101, *WHITE, " " * 299 + "a" + " " * 100]
    names += [" " * 300 + "a" + " " * 100, None, 1]
    agree(SCHEMAS["ListName"]["properties"]["name"], lambda v: list_name({"name": v}), names)
    bodies = [{"name": "a"}, {}, {"name": "a", "default": True}, {"title": "a"}]
    agree(SCHEMAS["ListName"], list_name, bodies)


def test_the_due_date_rule():
    dates = [
        "2026-11-22",
        "1900-01-01",
        "9998-12-31",
        "1899-12-31",
        "9999-01-01",
        "2026-02-28",
        "2026-02-29",
        "2024-02-29",
        "2000-02-29",
        "1900-02-29",
        "2100-02-29",
        "9996-02-29",
        "2026-04-30",
        "2026-04-31",
        "2026-12-31",
        "2026-13-01",
        "2026-00-10",
        "2026-01-00",
        "2026-1-01",
        "٢٠٢٦-11-22",
        "2026-11-22T18:00:00+08:00",
        "2026-11-22t18:00:00z",
        "2026-11-22T18:00:00.5Z",
        "2026-11-22T18:00:00.123456-23:59",
        "2026-11-22T18:00:00.1234567Z",
        "2026-11-22T18:00:00",
        "2026-11-22T18:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T23:60:00Z",
        "2026-11-22T23:59:60Z",
        "2026-11-22T18:00:00+24:00",
        "2026-11-22T18:00:00+08:60",
        "2026-11-22 18:00:00Z",
        "9998-12-31T23:59:59-23:59",
        "",
    ]
    agree(SCHEMAS["DueDate"], lambda v: due_date(v, "due"), around(dates))
    due = SCHEMAS["NewTask"]["properties"]["due"]
    agree(due, lambda v: check_due({"d": v}, "d", False), ["2026-11-22", None, "", 20261122])


def test_the_account_rules():
    usernames = ["abc", "a.b-c_D9", "ab", "a" * 32, "a" * 33, "a b", "ä" * 3, None, 123]
    agree(SCHEMAS["Username"], lambda v: new_username({"username": v}), usernames)
    invites = [*around(["", "a", "a" * 100]), "a" * 101, None, 1]
    agree(
        SCHEMAS["Registration"]["properties"]["invite"],
        lambda v: optional_text({"i": v}, "i", max_length=100, strip=True),
        invites,
    )
    codes = [*around(["a", "!~", "x" * 256]), "x" * 257, "a b", "é", *WHITE, None, 1]
    agree(SCHEMAS["LoginCode"], lambda v: login_code({"c": v}, "c"), codes)
    bodies = [
        {"username": "abc", "password": "p" * 8},
        {"username": "abc", "password": "p" * 7},
        {"username": "abc", "pwd": "p" * 8},
        {"username": "abc", "password": ""},
        {"username": "", "password": "p"},
        {"username": "abc", "pwd": "p", "password": ""},
        {"username": "abc", "pwd": "", "password": "p"},
        {"username": "abc", "pwd": 1, "password": "p"},
        {"username": "abc", "password": 1},
        {"username": "abc"},
        {"password": "p" * 8},
        {"username": "abc", "password": "p" * 8, "invite": " x ", "extra": 1},
        {"username": "abc", "password": "p" * 8, "invite": 1},
    ]
    # credentials() needs only the handler's password_names, which its class has
    for schema, handler in (
        ("Credentials", LoginHandler),
        ("ClassicCredentials", ClassicLoginHandler),
    ):
        agree(SCHEMAS[schema], functools.partial(handler.credentials, handler), bodies)

    def registration(fields: dict[str, Any]) -> None:
        optional_text(fields, "invite", max_length=100, strip=True)
        new_username(fields)
        new_password(fields)

    agree(SCHEMAS["Registration"], registration, bodies)
    anonymous = SCHEMAS["ToutiaoLogin"]["properties"]["anonymous_code"]
    optional_codes = ["abc", " abc ", "", None, " ", 0, False, [], {}, "é"]
    agree(anonymous, lambda v: login_code({"c": v}, "c", required=False), optional_codes)


def test_the_scoring_form_rules():
    numbers = [
        "13800138000",
        "+8613800138000",
        "138-0013-8000",
        " 138 0013 8000 ",
        "1234",
        "12345",
        "1" * 20,
        "1" * 21,
        "+-12345",
        "12+345",
        "1234５",
        "phone",
        "",
    ]
    texts = [*numbers, *(f'"{n}"' for n in numbers), *(f' "{n}"\n' for n in numbers)]
    agree(SCHEMAS["AccNbrText"], acc_nbr, texts)
    as_numbers = [13800138000, 13800138000.0, -12345, 1234, -1234, 12345.5, True, None]
    as_numbers += [10**19, 10**20, -(10**20) + 1]
    agree(SCHEMAS["ScoreForm"]["properties"]["acc_nbr"], acc_nbr, [*texts, *as_numbers])
    grades = ["0", "5", "05", "100", "0100", "101", "1000", "-1", "5.0", "五", ""]
    grades = around([*grades, *(f'"{g}"' for g in grades), *(f'" {g} "' for g in grades)])
    grades += [0, 100, 101, -1, 69.0, 5.5, True, None]
    agree(SCHEMAS["Grade"], lambda v: grade({"g": v}, "g"), grades)
    comments = [*around(["", "很好", "a" * 500, '"很好"']), "a" * 501, None, 5]
    agree(SCHEMAS["Comment"], lambda v: comment({"t": v}, "t"), comments)


def test_the_cursor_pattern_is_every_sorts_key():
    cursor = next(
        p["schema"]["pattern"]
        for p in DOCUMENT["paths"]["/api/tasks"]["get"]["parameters"]
        if p["name"] == "cursor"
    )
    keys = dict.fromkeys(key.pattern for _, key in SORTS.values())
    assert cursor == "^(?:" + "|".join(keys) + ")$"
    sort = next(
        p["schema"]
        for p in DOCUMENT["paths"]["/api/tasks"]["get"]["parameters"]
        if p["name"] == "sort"
    )
    assert sort["enum"] == list(SORTS)


# --- schemathesis against a live server ---


@pytest.fixture
def live_server(
    mongodb_uri: str, tmp_path: Path
) -> Iterator[tuple[TaskhubProcess, dict[str, str]]]:
    """taskhub as a real process, a logged-in user, and the real ids the generated
    requests use (as environment variables for tests/schemathesis.toml)."""
    database = "test_openapi_" + uuid.uuid4().hex[:8]
    process = TaskhubProcess(
        "--log-level",
        "warning",
        "--xheaders",  # the hooks give each request a client address of its own
        data_dir=tmp_path / "var",
        mongodb_uri=mongodb_uri,
        database=database,
    ).start()
    try:
        with httpx.Client(base_url=process.url, timeout=15) as c:
            ids = seed(c)
        # the scoring results need an admin account
        made_admin = run_taskhub(
            *("user", "admin", ids.pop("owner"), "--on", "--mongodb-uri", mongodb_uri),
            *("--database", database, "--data-dir", str(tmp_path / "operator")),
        )
        assert made_admin.returncode == 0, made_admin.stderr
        yield process, ids
    finally:
        process.kill()


def seed(c: httpx.Client) -> dict[str, str]:
    def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    def log_in(username: str) -> dict[str, str]:
        answer = ok(c.post("/api/login", json={"username": username, "password": PASSWORD}))
        c.cookies.clear()  # each call authenticates by its token alone
        return {"Authorization": f"Bearer {answer['token']}"}

    owner, other, leaving = ("openapi_" + uuid.uuid4().hex[:8] for _ in range(3))
    for username in (owner, other, leaving):
        ok(c.post("/api/users", json={"username": username, "password": PASSWORD}), 201)
    auth, spare, logout, others = log_in(owner), log_in(owner), log_in(owner), log_in(other)
    departing = log_in(leaving)
    spare_id = next(
        login["id"]
        for login in ok(c.get("/api/me/logins", headers=spare))["logins"]
        if login["current"]
    )
    shared, doomed_list = (
        ok(c.post("/api/lists", json={"name": name}, headers=auth), 201)["list"]["id"]
        for name in ("shared", "doomed")
    )
    ok(c.put(f"/api/lists/{shared}/members/{other}", json={"role": "editor"}, headers=auth))
    task, doomed_task = (
        ok(c.post("/api/tasks", json={"title": title}, headers=auth), 201)["task"]["id"]
        for title in ("kept", "doomed")
    )
    for i in range(3):  # tasks for the generated pages to find
        ok(c.post("/api/tasks", json={"title": f"seed {i}", "list_id": shared}, headers=auth), 201)
    for number in ("13800138000", "+8613900139000"):  # scores to sum up and export
        form = {"acc_nbr": number, "grade1": "5", "grade2": "80", "grade3": "100"}
        ok(c.post("/score", data={**form, "txt1": "=1+1"}, headers=auth))
    return {
        "owner": owner,
        "TASKHUB_OPENAPI_DEPARTING_TOKEN": departing["Authorization"].removeprefix("Bearer "),
        "TASKHUB_OPENAPI_HOOKS": str(ROOT / "tests" / "schemathesis_hooks.py"),
        "TASKHUB_OPENAPI_TOKEN": auth["Authorization"].removeprefix("Bearer "),
        "TASKHUB_OPENAPI_LOGOUT_TOKEN": logout["Authorization"].removeprefix("Bearer "),
        "TASKHUB_OPENAPI_OTHER_TOKEN": others["Authorization"].removeprefix("Bearer "),
        "TASKHUB_OPENAPI_PASSWORD": PASSWORD,
        "TASKHUB_OPENAPI_LOGIN_ID": spare_id,
        "TASKHUB_OPENAPI_LIST": shared,
        "TASKHUB_OPENAPI_DOOMED_LIST": doomed_list,
        "TASKHUB_OPENAPI_MEMBER": other,
        "TASKHUB_OPENAPI_TASK": task,
        "TASKHUB_OPENAPI_DOOMED_TASK": doomed_task,
    }


@pytest.mark.integration
def test_the_live_server_keeps_to_the_document(live_server, tmp_path):
    """schemathesis over every operation, logged in, with valid and invalid input and
    real ids: never a 5xx but those documented, and every answer (status, headers,
    body) as documented."""
    process, ids = live_server
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(ROOT / "tests" / "schemathesis.toml"),
        "run",
        # the document as kept (the server serves it: see above), so that its own
        # route is tested too: schemathesis leaves out the URL it loads from
        str(ROOT / "handlers" / "openapi.json"),
        "--url",
        process.url,
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--no-color",
    ]
    started = time.monotonic()
    # in its own directory: it may write reports and caches
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, **ids},
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_TIMEOUT,
    )
    report = result.stdout + result.stderr + f"\n(in {time.monotonic() - started:.0f} s)"
    assert result.returncode == 0, report
    assert re.search(rf"Tested: {len(operations())}\b", report), report  # every operation
    assert "Traceback" not in process.output(), process.output()
