"""Fixtures: one real database server per test session, one database per test, and
taskhub served over real HTTP on loopback. Everything is built by ``harness/``."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from harness.apps import Apps
from harness.commands import Operator
from harness.database import EmbeddedServer, fresh_store
from harness.processes import RUNNING, alive, cmdline

from store import Store

# the board in Chromium: the fixtures browser and processes
pytest_plugins = ["harness.browser"]

# Set to the session's base temporary directory: every process the suite starts
# inherits it (not TASKHUB_-prefixed, which tests strip from their children's env).
SESSION_MARK = "PYTEST_TASKHUB_SESSION"


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def _started_by_session(base: str) -> dict[int, str]:
    """Running processes of this session: a command line naming its base temporary
    directory (taskhub's and nx-27017's --data-dir, devstack's, nginx's prefix: nginx
    rewrites its command line and environment, but keeps the prefix in its title), or
    the session's mark in their environment (whatever else the suite started)."""
    mark = f"{SESSION_MARK}={base}".encode()
    found = {}
    skip = _ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip or not alive(int(entry.name)):
            continue
        args = cmdline(int(entry.name))
        try:
            marked = mark in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            marked = False
        if marked or any(a == base or base + os.sep in a for a in args):
            found[int(entry.name)] = " ".join(args)
    return found


@pytest.fixture(scope="session", autouse=True)
def no_process_left_by_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole suite, no process it started may still run: those left (after
    a few seconds' grace for ones stopping) are killed, and fail the run by name."""
    base = str(tmp_path_factory.getbasetemp().resolve())
    os.environ[SESSION_MARK] = base
    yield
    deadline = time.monotonic() + 5
    while (left := _started_by_session(base)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        listed = "\n".join(f"  pid {pid}: {command}" for pid, command in left.items())
        pytest.fail(
            f"the test session left {len(left)} processes running (killed):\n{listed}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TASKHUB_TEST_MONGODB_URI when given (a real MongoDB), else the embedded server."""
    given = os.environ.get("TASKHUB_TEST_MONGODB_URI")
    if given:
        yield given
        return
    server = EmbeddedServer(tmp_path_factory.mktemp("embedded-db")).start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
async def store(mongodb_uri: str) -> AsyncIterator[Store]:
    async with fresh_store(mongodb_uri) as store:
        yield store


@pytest.fixture
async def apps(store: Store, mongodb_uri: str) -> AsyncIterator[Apps]:
    """taskhub applications on this test's database, each with its own services;
    ``await apps.start(**settings)`` serves one. All stop at the end of the test."""
    apps = Apps(store, mongodb_uri)
    yield apps
    await apps.close()


@pytest.fixture
async def base_url(apps: Apps) -> str:
    return await apps.url()


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as c:
        yield c


@pytest.fixture(autouse=True)
def no_process_left() -> Iterator[None]:
    """A taskhub process a test started and did not stop is killed, and fails it."""
    yield
    left = list(RUNNING)
    for process in left:
        process.kill()
    assert not left, f"the test left taskhub processes running on ports {[p.port for p in left]}"


@pytest.fixture
def operator(store: Store, mongodb_uri: str, tmp_path: Path) -> Operator:
    """The ``taskhub`` command on this test's database: ``await operator.run("user", ...)``."""
    return Operator(store, mongodb_uri, tmp_path / "var")
