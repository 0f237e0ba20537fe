"""taskhub as a real process: embedded database, data that survives a restart,
a generated cookie secret, and bounded start-up when the database is away."""

from __future__ import annotations

import stat
import subprocess
import sys
import time

import httpx
import pytest
from harness.database import free_port
from harness.processes import TaskhubProcess
from harness.settings import ROOT
from harness.users import PASSWORD

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
        process.kill()


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
            "2",
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
    assert "cannot reach the database within 2s" in result.stderr
    assert elapsed < 30
