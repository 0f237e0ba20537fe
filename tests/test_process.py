"""taskhub as a real process: embedded database, data that survives a restart,
a generated cookie secret, bounded start-up when the database is away, an embedded
database that never outlives taskhub and is started again when it dies, one taskhub
per data directory, and a busy port named before anything starts."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest
from harness.database import EmbeddedServer, free_port
from harness.processes import TaskhubProcess, alive, cmdline, wait_gone
from harness.settings import ROOT
from harness.users import PASSWORD

from server.embedded_db import EmbeddedMongo, EmbeddedUnavailable, RestartBudget

pytestmark = pytest.mark.integration


@pytest.fixture
def process_factory():
    started: list[TaskhubProcess] = []

    def start(*args, **kwargs) -> TaskhubProcess:
        process = TaskhubProcess(*args, **kwargs).start()
        started.append(process)
        return process

    yield start
    for process in started:
        # SIGTERM: each stops its own database in order (the kill -9 case is a test
        # of its own)
        if process.process is not None and process.process.poll() is None:
            process.stop()


def test_data_survives_a_restart(tmp_path, process_factory):
    data_dir = tmp_path / "var"
    first = process_factory(data_dir=data_dir)
    with httpx.Client(base_url=first.url) as c:
        assert c.get("/healthz").json() == {"status": "ok", "db": "ok"}
        response = c.post("/api/users", json={"username": "restart_me", "password": PASSWORD})
        assert response.status_code == 201
    assert first.stop() == 0
    assert "stopped" in first.output()

    second = process_factory(data_dir=data_dir, port=first.port)
    with httpx.Client(base_url=second.url) as c:
        login = c.post("/api/login", json={"username": "restart_me", "password": PASSWORD})
        assert login.status_code == 200
        # a cookie signed before the restart still works: the secret was kept
        assert c.get("/api/me").json()["user"]["username"] == "restart_me"
    assert second.stop() == 0


def test_cookie_secret_generated_once_into_the_data_dir(tmp_path, process_factory):
    data_dir = tmp_path / "var"
    first = process_factory(data_dir=data_dir)
    secret_file = data_dir / "cookie_secret"
    secret = secret_file.read_text()
    assert len(secret) >= 48
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert "no cookie_secret configured" in first.output()
    first.stop()
    second = process_factory(data_dir=data_dir)
    assert secret_file.read_text() == secret
    second.stop()


def test_configured_cookie_secret_writes_no_file(tmp_path, process_factory):
    data_dir = tmp_path / "var"
    process_factory(
        data_dir=data_dir, env={"TASKHUB_COOKIE_SECRET": "from-the-environment-" + "x" * 20}
    )
    assert not (data_dir / "cookie_secret").exists()


def test_unreachable_database_stops_startup_after_a_bounded_wait(tmp_path):
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "app.py",
            "--mongodb-uri",
            f"mongodb://127.0.0.1:{port}/?directConnection=true",
            "--startup-timeout",
            "5",
            "--data-dir",
            str(tmp_path / "var"),
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    # while it waits, and when it gives up, it names the host and why, in one line each
    waiting = [line for line in lines if "waiting for the database" in line]
    assert waiting and all(
        line.endswith(f"waiting for the database at 127.0.0.1:{port} to answer: connection refused")
        for line in waiting
    ), lines
    assert lines[-1].endswith(
        f"cannot start: cannot reach the database at 127.0.0.1:{port} within 5s: connection refused"
    ), lines
    assert all(len(line) < 200 for line in [*waiting, lines[-1]]), lines
    assert elapsed < 15


# --- the embedded database never outlives taskhub, and comes back when it dies ---


def test_sighup_stops_taskhub_and_its_database_in_order(tmp_path):
    """Closing the terminal that runs ./run: as SIGTERM, nothing left running."""
    process = TaskhubProcess(data_dir=tmp_path / "var").start()
    try:
        database = process.embedded_db_pid()
        process.send_signal(signal.SIGHUP)
        assert process.exited() == 0, process.output()
        assert "stopped" in process.output()
        assert wait_gone(database), f"the embedded database (pid {database}) outlived taskhub"
    finally:
        process.kill()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_the_embedded_database_never_outlives_taskhub(tmp_path, sig):
    """kill -9 (the OOM killer too) gives taskhub no chance to stop its database: the
    database's parent-death signal stops it, and frees the data directory."""
    data_dir = tmp_path / "var"
    process = TaskhubProcess(data_dir=data_dir).start()
    try:
        database = process.embedded_db_pid()
        process.send_signal(sig)
        process.exited()
        assert wait_gone(database), f"the embedded database (pid {database}) outlived taskhub"
    finally:
        process.kill()
    again = TaskhubProcess(data_dir=data_dir).start()  # the lock went with them
    assert again.stop() == 0


def test_a_second_taskhub_on_the_same_data_dir_is_refused_at_once(tmp_path, process_factory):
    data_dir = tmp_path / "var"
    first = process_factory(data_dir=data_dir)
    second = TaskhubProcess(data_dir=data_dir)
    started = time.monotonic()
    second.launch()
    assert second.exited() == 1
    assert time.monotonic() - started < 10
    lines = second.output().strip().splitlines()
    assert len(lines) == 1, lines
    assert str(data_dir.resolve()) in lines[0] and f"pid {first.pid}" in lines[0], lines
    assert "embedded database on 127" not in second.output()  # it started no second server
    with httpx.Client(base_url=first.url) as c:  # and the first serves on
        assert c.get("/healthz").status_code == 200


def test_an_embedded_database_left_without_the_lock_is_not_joined_by_a_second(tmp_path):
    """One orphaned by a taskhub from before the lock, still serving the files."""
    data_dir = tmp_path / "var"
    orphan = EmbeddedServer(data_dir).start()  # as taskhub starts it, but holding no lock
    try:
        process = TaskhubProcess(data_dir=data_dir)
        process.launch()
        assert process.exited() == 1
        assert f"kill {orphan.process.pid}" in process.output(), process.output()
        assert "embedded database on 127" not in process.output()
    finally:
        orphan.stop()


def test_processes_given_a_mongodb_uri_take_no_lock(tmp_path, process_factory):
    """The local stack's shape: one process runs the database, others use it with the
    same --data-dir."""
    data_dir = tmp_path / "var"
    first = process_factory(data_dir=data_dir)
    port = first.wait_for_output(r"embedded database on 127\.0\.0\.1:(\d+)").group(1)
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    second = process_factory(data_dir=data_dir, mongodb_uri=uri)
    with httpx.Client(base_url=second.url) as c:
        assert c.get("/healthz").json() == {"status": "ok", "db": "ok"}


def test_a_busy_port_is_named_before_the_database_starts(tmp_path):
    data_dir = tmp_path / "var"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = TaskhubProcess(data_dir=data_dir, port=port)
        process.launch()
        assert process.exited() == 1
    output = process.output()
    assert f"port {port} on 127.0.0.1 is already in use" in output, output
    assert "embedded database" not in output and not (data_dir / "embedded-db.log").exists()


def wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} not healthy within {timeout}s"
        time.sleep(0.1)


def test_a_dead_embedded_database_is_started_again_and_service_resumes(tmp_path, process_factory):
    process = process_factory(data_dir=tmp_path / "var")
    with httpx.Client(base_url=process.url, timeout=10) as c:
        created = c.post("/api/users", json={"username": "survivor", "password": PASSWORD})
        assert created.status_code == 201
        database = process.embedded_db_pid()
        port_of = [a for a in cmdline(database) if a.isdigit()]
        os.kill(database, signal.SIGKILL)
        process.wait_for_output(r"embedded database exited .*starting it again", 10)
        process.wait_for_output(r"embedded database is back", 40)
        wait_healthy(process.url, 10)
        login = c.post("/api/login", json={"username": "survivor", "password": PASSWORD})
        assert login.status_code == 200, login.text  # the same files
        restarted = process.embedded_db_pid()
        assert restarted != database and alive(restarted)
        assert [a for a in cmdline(restarted) if a.isdigit()] == port_of  # the same port
    assert process.stop() == 0


async def test_a_database_that_keeps_exiting_is_given_up_after_bounded_tries(
    tmp_path, monkeypatch, caplog
):
    """5 tries, then EmbeddedUnavailable: taskhub stops (status 1) instead of
    answering 503 for ever."""
    monkeypatch.setattr(
        "server.embedded_db.server_command", lambda: [sys.executable, "-c", "raise SystemExit(3)"]
    )
    embedded = EmbeddedMongo(tmp_path, restart_delays=[0.01] * 5)
    embedded.process = await asyncio.create_subprocess_exec(*embedded.command())
    caplog.set_level(logging.ERROR, "server.embedded_db")
    with pytest.raises(EmbeddedUnavailable, match="keeps exiting: 5 restarts failed"):
        await asyncio.wait_for(embedded.supervise(timeout=5), 30)
    failed = [r for r in caplog.messages if re.match(r"restart \d of 5 failed: .*status 3", r)]
    assert len(failed) == 5, caplog.messages
    await embedded.stop()


def test_restart_budget_backs_off_and_forgives_a_long_uptime():
    budget = RestartBudget([1, 2, 3], reset_after=60)
    assert [budget.next_delay() for _ in range(4)] == [1, 2, 3, None]
    assert budget.next_delay(up_for=61) == 1
