"""The operator's ``taskhub`` command, on the embedded database a running taskhub holds."""

from __future__ import annotations

import httpx
import pytest
from harness.commands import run_taskhub as taskhub
from harness.processes import TaskhubProcess
from harness.users import PASSWORD

pytestmark = pytest.mark.integration


def test_help_lists_the_subcommands():
    result = taskhub("--help")
    assert result.returncode == 0
    for command in ("serve", "user", "invite", "export", "import"):
        assert command in result.stdout
    actions = taskhub("user", "--help")
    for action in ("add", "passwd", "admin", "list", "unlock"):
        assert action in actions.stdout
    assert taskhub("--version").stdout.startswith("taskhub ")


def test_commands_work_on_the_database_a_running_taskhub_holds(tmp_path):
    data_dir = tmp_path / "var"
    process = TaskhubProcess("--registration", "invite", "--xheaders", "true", data_dir=data_dir)
    process.start()
    try:
        where = ["--data-dir", str(data_dir)]
        added = taskhub("user", "add", "ada", "--password-stdin", *where, stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
        invite = taskhub("invite", "create", *where)
        assert invite.returncode == 0, invite.stderr
        code = invite.stdout.split()[0]
        with httpx.Client(base_url=process.url) as c:
            body = {"username": "bob", "password": PASSWORD, "invite": code}
            assert c.post("/api/users", json=body).status_code == 201
            guesser = {"X-Real-IP": "203.0.113.5"}
            for _ in range(5):
                c.post(
                    "/api/login", json={"username": "ada", "password": "nope-nope"}, headers=guesser
                )
            right = {"username": "ada", "password": PASSWORD}
            assert c.post("/api/login", json=right, headers=guesser).status_code == 429
            unlocked = taskhub("user", "unlock", "ada", *where)
            assert unlocked.returncode == 0 and "5 failed logins" in unlocked.stdout
            assert c.post("/api/login", json=right, headers=guesser).status_code == 200
        assert taskhub("user", "admin", "ada", "--on", *where).returncode == 0
        listed = taskhub("user", "list", *where)
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
        assert rows["ada"][3:] == ["yes", "no", "password"]
        assert rows["bob"][3:] == ["no", "no", "password"]
    finally:
        assert process.stop() == 0
