"""The sample mini-program, run for real: its own JS files in Node with a ``wx``/``tt``
object doing real HTTP and WebSocket calls to a real taskhub process, which logs
them in through the local code2Session server."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess

import pytest
from code2session_server import code2session  # noqa: F401 (fixture)
from harness.ports import free_port_block
from harness.processes import TaskhubProcess
from harness.settings import ROOT

pytestmark = pytest.mark.integration

RUN_JS = ROOT / "miniprogram" / "test" / "run.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
# TASKHUB_TEST_NODE=/usr/bin/node picks another Node than the one on PATH
NODE = os.environ.get("TASKHUB_TEST_NODE") or shutil.which("node")
SCENARIO_TIMEOUT = 60


@functools.lru_cache(maxsize=1)
def node_command() -> tuple[str, ...]:
    """Node, with its WebSocket switched on where it is still experimental (Node 20);
    a Node without one (Debian's 18) uses the `ws` package that ./test installs."""
    assert NODE, "the mini-program tests need Node.js 18 or later on PATH"
    check = "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"
    for flags in ((), ("--experimental-websocket",)):
        if subprocess.run([NODE, *flags, "-e", check], capture_output=True).returncode == 0:
            return (NODE, *flags)
    return (NODE,)


@pytest.fixture
def taskhub(store, code2session, mongodb_uri, tmp_path):
    """taskhub as ./run starts it, on the test's database, logging in through the
    local code2Session server; secrets come by environment, as systemd passes them."""
    settings = code2session.settings()
    env = {f"TASKHUB_{name.upper()}": value for name, value in settings.items()}
    process = TaskhubProcess(
        "--log-level",
        "warning",
        data_dir=tmp_path / "var",
        mongodb_uri=mongodb_uri,
        database=store.db.name,
        env=env,
    )
    process.start()
    try:
        yield process
    finally:
        process.kill()


async def run(scenario: str, taskhub_url: str = "", c2s_url: str = "") -> dict:
    # a port nothing listens on: where the offline scenario sends calls to be refused
    closed_url = f"http://127.0.0.1:{free_port_block(1)}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TASKHUB_URL": taskhub_url,
        "C2S_URL": c2s_url,
        "CLOSED_URL": closed_url,
    }
    process = await asyncio.create_subprocess_exec(
        *node_command(),
        str(RUN_JS),
        scenario,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), SCENARIO_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"scenario {scenario} did not finish in {SCENARIO_TIMEOUT}s") from None
    output = out.decode()
    assert process.returncode == 0, f"scenario {scenario} failed:\n{err.decode()}\n{output}"
    [line] = [line for line in output.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


def keep_sketch(name: str, text: str) -> None:
    """The task page as a scenario left it, drawn as text from its data."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_text(text + "\n", encoding="utf-8")


async def test_pages_bind_only_handlers_they_have():
    result = await run("files")
    assert result["checked"]["pages/tasks/tasks"] == [
        "onAdd",
        "onCancelEdit",
        "onClearDue",
        "onDelete",
        "onEdit",
        "onField",
        "onListChange",
        "onSave",
        "onTitleInput",
        "onToggle",
    ]
    assert "onSubmit" in result["checked"]["pages/score/score"]
    # app.ttss, and a .ttml and .ttss per page, each its WeChat file with tt: for wx:
    assert result["twins"] == 5
    assert result["libVersion"] == "3.5.0"


async def test_login_list_add_toggle_delete(taskhub, code2session, store):
    result = await run("tasks", taskhub.url, code2session.url)
    user = await store.db.users.find_one({"username": result["username"]})
    assert user["wechat_openid"] and user["password_hash"] is None
    tasks = [doc async for doc in store.db.tasks.find({})]
    assert [t["title"] for t in tasks] == ["second"]
    # every create came with an Idempotency-Key, so a retry would have stored it once
    created = await store.db.idempotency_keys.count_documents({})
    assert created >= 2  # "first" (since deleted) and "second"
    # one code, exchanged once, with the configured appid
    assert [r["platform"] for r in code2session.requests] == ["wechat"]


async def test_live_updates_reach_the_other_phone(taskhub, code2session, store):
    result = await run("live", taskhub.url, code2session.url)
    assert result["latency_ms"] < 2000
    assert await store.db.users.count_documents({}) == 2  # A and B are one user, C another


async def test_reconnect_catches_up_on_missed_changes(taskhub, code2session):
    result = await run("reconnect", taskhub.url, code2session.url)
    assert int(result["since"]) >= 1
    assert result["sockets"] >= 3  # the first, at least one refused while offline, the resumed


async def test_back_from_the_background_it_catches_up_over_http_first(taskhub, code2session):
    result = await run("background", taskhub.url, code2session.url)
    assert result["changes_requests"] >= 1
    assert int(result["since"]) >= 3  # the socket resumed after what /api/changes gave


async def test_relogin_after_the_token_is_revoked(taskhub, code2session, store):
    result = await run("relogin", taskhub.url, code2session.url)
    assert result["logins"] >= 2
    assert await store.db.users.count_documents({}) == 1  # the same account again


async def test_a_stale_view_does_not_overwrite(taskhub, code2session):
    result = await run("conflict", taskhub.url, code2session.url)
    assert result["version"] >= 3  # created, renamed on B, toggled on A


async def test_scoring_form(taskhub, code2session, store):
    result = await run("score", taskhub.url, code2session.url)
    assert result["toast"] == "数据提交成功"
    [doc] = [doc async for doc in store.db.scores.find({})]
    assert (doc["grade1"], doc["txt1"], doc["txt3"]) == (90, "很好", '回复"及时"')
    user = await store.db.users.find_one({})
    assert doc["user_id"] == str(user["_id"])


async def test_toutiao_client(taskhub, code2session, store):
    result = await run("toutiao", taskhub.url, code2session.url)
    user = await store.db.users.find_one({"username": result["username"]})
    assert user["toutiao_openid"].startswith("_000")
    assert code2session.requests[0]["anonymous_code"]


async def test_lists_picker_and_switching(taskhub, code2session, store):
    result = await run("lists", taskhub.url, code2session.url)
    assert result["lists"][0].endswith("（默认）") and result["lists"][1] == "Work"
    tasks = {doc["title"]: doc async for doc in store.db.tasks.find({})}
    assert tasks["at work"]["list"] != tasks["at home"]["list"]  # stored as "list"


async def test_a_shared_list_seen_by_an_editor_and_a_viewer(taskhub, code2session, store):
    result = await run("shared", taskhub.url, code2session.url)
    assert result["roles"] == ["editor", "viewer"]
    keep_sketch("miniprogram-viewer.txt", result["viewer_page"])
    [task] = [doc async for doc in store.db.tasks.find({})]
    assert (task["title"], task["done"]) == ("from the editor", False)


async def test_due_dates_and_labels_round_trip(taskhub, code2session):
    result = await run("due", taskhub.url, code2session.url)
    assert result["overdue"].startswith("已过期 ")
    assert result["labels"] == ["weekend"]


async def test_offline_writes_arrive_once_in_order(taskhub, code2session, store):
    result = await run("offline", taskhub.url, code2session.url)
    keep_sketch("miniprogram-offline.txt", result["offline_page"])
    titles = [doc["title"] async for doc in store.db.tasks.find({}).sort("created_at", 1)]
    expected = ["first", "offline 2", "offline 3", "answer lost", "across a restart"]
    assert titles == result["titles"] == expected
    # the lost answer's create was replayed from its key, not stored twice
    assert await store.db.tasks.count_documents({"title": "answer lost"}) == 1


async def test_a_conflicting_edit_keeps_the_users_text(taskhub, code2session):
    result = await run("keep", taskhub.url, code2session.url)
    assert result["version"] == 3  # created, changed on B, saved again on A


async def test_platform_limits_are_enforced_and_kept(taskhub, code2session):
    result = await run("limits", taskhub.url, code2session.url)
    assert result["peak_requests"] == 10  # thirty calls, ten at a time
    assert "https://" in result["release_error"]
    assert all(requests <= 10 and sockets <= 5 for requests, sockets in result["peaks"])
