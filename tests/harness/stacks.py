"""Helpers for tests that run the local stack (devstack/stack.py): real nginx with the shipped
site in front of real taskhub processes, and a bounded load with live counts."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pymongo

from devstack.stack import TLS, Stack

from .ports import free_port_block
from .settings import CHEAP_HASHING, make_config
from .users import PASSWORD


def cheap_hashing_flags() -> list[str]:
    return [
        arg
        for name, value in CHEAP_HASHING.items()
        for arg in (f"--{name.replace('_', '-')}", str(value))
    ]


@contextlib.contextmanager
def running_stack(
    tmp_path: Path,
    mongodb_uri: str,
    *,
    processes: int = 2,
    tls: TLS | None = None,
    static_dir: Path | None = None,
    upstreams: Sequence[str] = (),
    **overrides,
) -> Iterator[Stack]:
    """A started stack on free ports with a database of its own; stopped (and the
    database dropped) on the way out. ``upstreams``: processes on other hosts that
    nginx balances across too (Stack's)."""
    database = "test_stack_" + uuid.uuid4().hex[:10]
    config = make_config(
        port=free_port_block(processes + 1),
        data_dir=str(tmp_path / "var"),
        mongodb_uri=mongodb_uri,
        **overrides,
    )
    kwargs = {"static_dir": static_dir} if static_dir else {}
    stack = Stack(
        config,
        processes,
        child_args=["--database", database, "--log-level", "info", *cheap_hashing_flags()],
        run_dir=tmp_path / "run",
        log_dir=tmp_path / "logs",
        tls=tls,
        upstreams=upstreams,
        **kwargs,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        client = pymongo.MongoClient(mongodb_uri, serverSelectionTimeoutMS=3000)
        try:
            client.drop_database(database)
        finally:
            client.close()


def client_from(address: str, base_url: str, **kwargs) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``address`` (any of 127.0.0.0/8),
    so that nginx sees a client address of the test's choosing."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=20, **kwargs)


def explain(stack: Stack, failures: list[str]) -> list[str]:
    """Failures, each 500 followed by the exception taskhub logged for its request id,
    so that a failing run says where the error came from."""
    logs = [p.read_text(errors="replace") for p in stack.log_dir.glob("taskhub-*.log")]
    out = []
    for failure in failures:
        out.append(failure)
        match = re.search(r"quote request ([0-9a-f]+)", failure)
        for log in logs if match else []:
            at = log.find(f"(request {match.group(1)})")
            if at >= 0:
                # the traceback's last line names the exception
                lines = log[at:].split("\n")
                end = next(
                    (i for i, line in enumerate(lines[1:], 1) if re.match(r"\d{4}-", line)),
                    len(lines),
                )
                out.append("  logged: " + lines[end - 1].strip())
    return out


# --- a bounded load with live counts ---


@dataclass
class Tally:
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # ids of writes answered 201

    def __str__(self) -> str:
        return (
            f"requests={self.requests} failures={len(self.failures)} "
            f"writes={len(self.acknowledged)}"
        )


class Writes:
    """What the load writes: each worker's user creates tasks (POST /api/tasks), and
    every acknowledged one is checked afterwards by listing them through nginx."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.tokens: dict[int, str] = {}

    async def setup(self, client: httpx.AsyncClient, worker: int) -> None:
        username = f"load_{uuid.uuid4().hex[:8]}"
        created = await client.post("/api/users", json={"username": username, "password": PASSWORD})
        assert created.status_code == 201, created.text
        login = await client.post("/api/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.tokens[worker] = login.json()["token"]

    def headers(self, worker: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[worker]}"}

    async def write(
        self, client: httpx.AsyncClient, worker: int, n: int
    ) -> tuple[httpx.Response, str]:
        response = await client.post(
            "/api/tasks", json={"title": f"load {worker}.{n}"}, headers=self.headers(worker)
        )
        key = response.json()["task"]["id"] if response.status_code == 201 else ""
        return response, key

    async def read(self, client: httpx.AsyncClient, worker: int) -> httpx.Response:
        return await client.get("/api/tasks", params={"limit": 5}, headers=self.headers(worker))

    async def stored(self, acknowledged: list[str]) -> set[str]:
        """Which of the acknowledged writes are there now, read back through nginx."""
        found: set[str] = set()
        async with httpx.AsyncClient(base_url=self.stack.url, timeout=20) as c:
            for worker in self.tokens:
                url: str | None = "/api/tasks?limit=200"
                while url:
                    page = await c.get(url, headers=self.headers(worker))
                    assert page.status_code == 200, page.text
                    found.update(t["id"] for t in page.json()["tasks"])
                    url = page.json().get("next")
        return found & set(acknowledged)


class Load:
    """``workers`` clients, each from its own loopback address, each doing a write and
    ``reads`` reads in turn through nginx until stopped (or ``limit`` seconds). Every 5xx, connection
    error and unexpected status is a failure."""

    def __init__(
        self, stack: Stack, writes: Writes, workers: int = 6, reads: int = 2, limit: float = 60
    ):
        self.stack = stack
        self.writes = writes
        self.workers = workers
        self.reads = reads
        self.limit = limit
        self.tally = Tally()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        ready = [asyncio.Event() for _ in range(self.workers)]
        self._tasks = [asyncio.create_task(self._worker(i, ready[i])) for i in range(self.workers)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)

    async def flowing(self, requests: int = 30, timeout: float = 15) -> None:
        """Waits until ``requests`` more requests have been answered (or failed)."""
        target = self.tally.requests + requests
        deadline = asyncio.get_running_loop().time() + timeout
        while self.tally.requests < target:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the load is not flowing: {self.tally}")
            await asyncio.sleep(0.02)

    async def stop(self) -> Tally:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 60)
        return self.tally

    async def _request(self, label: str, call, expected: int) -> httpx.Response | None:
        self.tally.requests += 1
        try:
            response = await call
        except httpx.TransportError as e:
            self.tally.failures.append(f"{label}: {type(e).__name__} {e}")
            return None
        if response.status_code != expected:
            self.tally.failures.append(f"{label}: {response.status_code} {response.text[:200]}")
        return response

    async def _worker(self, worker: int, ready: asyncio.Event) -> None:
        deadline = time.monotonic() + self.limit
        async with client_from(f"127.0.1.{worker + 1}", self.stack.url) as client:
            await self.writes.setup(client, worker)
            ready.set()
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                n += 1
                label = f"worker {worker} write {n}"
                self.tally.requests += 1
                try:
                    response, key = await self.writes.write(client, worker, n)
                except httpx.TransportError as e:
                    self.tally.failures.append(f"{label}: {type(e).__name__} {e}")
                else:
                    if response.status_code == 201:
                        self.tally.acknowledged.append(key)
                    else:
                        self.tally.failures.append(
                            f"{label}: {response.status_code} {response.text[:200]}"
                        )
                for r in range(self.reads):
                    call = self.writes.read(client, worker)
                    await self._request(f"worker {worker} read {n}.{r}", call, 200)
