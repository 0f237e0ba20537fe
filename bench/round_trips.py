"""Figures of database round trips: the commands one request sends, counted by a PyMongo
command listener on the database client of a taskhub application (and of the baseline's)
served in this process on loopback, on the stage's database."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

import config as settings
import services
from app import make_app, make_server
from store import Store, make_client

from .baseline import make_app as make_baseline
from .report import Figure
from .shared_list import Commands
from .stage import PASSWORD, Stage, new_account

COUNTED = 5  # requests counted per route; the most any of them sent is the figure


@asynccontextmanager
async def served(server: HTTPServer) -> AsyncIterator[str]:
    """``server`` listening on a free loopback port, for the block; its URL."""
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        server.stop()
        await server.close_all_connections()


async def most_sent(commands: Commands, send: Any) -> tuple[int, list[str]]:
    """The most commands one of COUNTED requests sent, and what they were."""
    await send()  # warm up: first-write lookups, connection
    most: list[str] = []
    for _ in range(COUNTED):
        commands.sent.clear()
        await send()
        names = [f"{name} {target}" if isinstance(target, str) else name
                 for name, target in commands.sent]  # fmt: skip
        if len(names) > len(most):
            most = names
    return len(most), most


async def alone(store: Store, timeout: float = 15.0) -> None:
    """Returns once no process holds the embedded database's write lease: the
    stage's taskhub hands a kept one back when idle (store/compat.py), so that the
    application counted here then writes alone, as ./run does over its own database,
    and keeps the lease between its writes."""
    deadline = time.monotonic() + timeout
    while await store.db.transaction_lock.count_documents({}):
        if time.monotonic() > deadline:
            raise RuntimeError("another process keeps the database's write lease")
        await asyncio.sleep(0.1)


def trips(count: int) -> str:
    return f"{count} round trips"


async def figures(stage: Stage) -> tuple[list[Figure], dict[str, list[str]]]:
    """post_task_round_trips, patch_task_round_trips and login_round_trips, and the
    commands taskhub sent for each."""
    ours, theirs = Commands(), Commands()
    store = Store(make_client(stage.uri, event_listeners=[ours]), stage.database)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stage.uri, tz_aware=True, event_listeners=[theirs]
    )
    config = settings.load([], environ={}).replace(
        cookie_secret=secrets.token_urlsafe(32),
        password_checks_per_minute=100000,
        # hashing's cost is not counted here: the cheapest, as the tests hash
        password_hash_memory=64,
        password_hash_iterations=1,
        password_hash_lanes=1,
    )
    taskhub_app = make_app(config, services.build(config, store))
    baseline_app = make_baseline(client[stage.database])
    found: dict[str, list[str]] = {}
    results = []
    try:
        await alone(store)
        async with (
            served(make_server(taskhub_app)) as taskhub,
            served(HTTPServer(baseline_app)) as baseline,
            httpx.AsyncClient(timeout=30) as http,
        ):
            http.base_url = httpx.URL(taskhub)  # for the setup, then full URLs
            user = await new_account(http, "counted_" + secrets.token_hex(3))
            made = await http.post("/api/tasks", json={"title": "counted"}, headers=user.auth)
            task = made.json()["task"]
            http.base_url = httpx.URL("")
            for name, (method, path, body) in {
                "post_task_round_trips": ("POST", "/api/tasks", {"title": "counted"}),
                "patch_task_round_trips": ("PATCH", f"/api/tasks/{task['id']}", {"title": "t"}),
                "login_round_trips": (
                    "POST",
                    "/api/login",
                    {"username": user.username, "password": PASSWORD},
                ),
            }.items():
                counts = []
                for base, commands in ((taskhub, ours), (baseline, theirs)):
                    headers = {} if name.startswith("login") else user.auth
                    send = sender(http, method, base + path, body, headers)
                    count, sent = await most_sent(commands, send)
                    counts.append(count)
                    if base == taskhub:
                        found[name] = sent
                results.append(Figure(name, trips(counts[0]), trips(counts[1]), counts[0]))
    finally:
        await store.close()
        await client.close()
    return results, found


def sender(
    http: httpx.AsyncClient, method: str, url: str, body: Any, headers: dict[str, str]
) -> Any:
    async def send() -> None:
        answer = await http.request(method, url, json=body, headers=headers)
        answer.raise_for_status()
        http.cookies.clear()

    return send
