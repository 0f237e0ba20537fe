"""Fixtures: one real database server per test session, one database per test, and
taskhub served over real HTTP on loopback. Everything is built by ``harness/``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from harness.apps import Apps
from harness.database import EmbeddedServer, fresh_store
from harness.processes import RUNNING

from store import Store


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
