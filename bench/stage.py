"""What the per-request figures run against: the embedded database, one taskhub process
and one baseline process on it, a reader with 50 tasks and a writer."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx

from server.embedded_db import EmbeddedMongo, free_port

from .processes import Processes, wait_http

PASSWORD = "bench password 123"
PAGE_TASKS = 50


@dataclass
class Account:
    username: str
    user_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Stage:
    work: Path
    processes: Processes
    embedded: EmbeddedMongo
    uri: str
    database: str
    taskhub_port: int
    taskhub_pid: int
    baseline_port: int
    baseline_pid: int
    reader: Account | None = None  # 50 tasks in the default list
    writer: Account | None = None

    @property
    def db_pid(self) -> int:
        assert self.embedded.process is not None
        return self.embedded.process.pid

    @property
    def taskhub(self) -> str:
        return f"http://127.0.0.1:{self.taskhub_port}"

    @property
    def baseline(self) -> str:
        return f"http://127.0.0.1:{self.baseline_port}"


def taskhub_command(port: int, uri: str, database: str, data_dir: Path) -> list[str]:
    """A taskhub process as deployed (default password hashing), with the per-address
    password-check ration raised: every login of the benchmark comes from one address."""
    return [
        "app.py",
        *("--port", str(port), "--mongodb-uri", uri, "--database", database),
        *("--data-dir", str(data_dir), f"--cookie-secret={secrets.token_urlsafe(32)}"),
        *("--log-level", "warning", "--password-checks-per-minute", "100000"),
        *("--xheaders", "true"),
    ]


async def open_stage(work: Path, processes: Processes) -> Stage:
    embedded = EmbeddedMongo(work / "db")
    uri = await embedded.start()
    database = "bench_" + secrets.token_hex(4)
    taskhub_port, baseline_port = free_port(), free_port()
    taskhub = processes.python("taskhub", *taskhub_command(taskhub_port, uri, database, work))
    baseline = processes.python(
        "baseline",
        *("-m", "bench.baseline", "--port", str(baseline_port)),
        *("--mongodb-uri", uri, "--database", database),
    )
    stage = Stage(
        work, processes, embedded, uri, database, taskhub_port, taskhub.pid, baseline_port,
        baseline.pid,
    )  # fmt: skip
    await wait_http(f"{stage.taskhub}/healthz", taskhub)
    await wait_http(f"{stage.baseline}/healthz", baseline)
    async with httpx.AsyncClient(base_url=stage.taskhub, timeout=30) as http:
        stage.reader = await new_account(http, "reader")
        stage.writer = await new_account(http, "writer")
        for i in range(PAGE_TASKS):
            answer = await http.post(
                "/api/tasks", json={"title": f"task {i}"}, headers=stage.reader.auth
            )
            answer.raise_for_status()
    return stage


async def new_account(http: httpx.AsyncClient, username: str) -> Account:
    body = {"username": username, "password": PASSWORD}
    (await http.post("/api/users", json=body)).raise_for_status()
    login = await http.post("/api/login", json=body)
    login.raise_for_status()
    http.cookies.clear()
    return Account(username, login.json()["user"]["id"], login.json()["token"])


async def stop_stage(stage: Stage) -> None:
    stage.processes.stop_all()
    await stage.embedded.stop()
