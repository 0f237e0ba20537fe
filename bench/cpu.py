"""Figures of CPU: each process's own (bench.processes.cpu_seconds) per request, taskhub
and the baseline measured in alternating batches on one database, medians of the rounds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from store import Store, make_client

from .crowded import crowd
from .nginx import start_nginx
from .processes import cpu_of
from .report import Figure, median, ms
from .stage import PASSWORD, Stage

Call = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Sizes:
    """How many requests a batch sends, and how many batches of each side a figure runs."""

    reads: int
    pings: int  # where little CPU is spent per request (/healthz, nginx): more per batch
    writes: int
    logins: int
    rounds: int
    idle_settle: float
    idle_window: float
    crowd_tasks_per_user: int


QUICK = Sizes(
    reads=100,
    pings=400,
    writes=50,
    logins=4,
    rounds=3,
    idle_settle=3,
    idle_window=10,
    crowd_tasks_per_user=5,
)
# for the test of the command: every step once, figures too rough to quote
SMOKE = Sizes(
    reads=20,
    pings=40,
    writes=10,
    logins=1,
    rounds=2,
    idle_settle=0,
    idle_window=2,
    crowd_tasks_per_user=1,
)
FULL = Sizes(
    reads=200,
    pings=600,
    writes=100,
    logins=8,
    rounds=5,
    idle_settle=5,
    idle_window=30,
    crowd_tasks_per_user=20,
)


async def per_call(pids: list[int], call: Call, n: int) -> float:
    """CPU seconds the processes spend per call, over ``n`` calls."""
    before = cpu_of(pids)
    for _ in range(n):
        await call()
    return (cpu_of(pids) - before) / n


async def side_by_side(sides: list[tuple[list[int], Call]], n: int, rounds: int) -> list[float]:
    """Each side's median CPU per call, the sides taking turns (their order alternating)."""
    for _, call in sides:  # warm up: connections, caches, the first-write lookups
        for _ in range(3):
            await call()
    results: list[list[float]] = [[] for _ in sides]
    for r in range(rounds):
        order = list(range(len(sides)))
        if r % 2:
            order.reverse()
        for i in order:
            pids, call = sides[i]
            results[i].append(await per_call(pids, call, n))
    return [median(values) for values in results]


def request(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Call:
    async def call() -> httpx.Response:
        answer = await http.request(method, url, **kwargs)
        answer.raise_for_status()
        return answer

    return call


def compare(name: str, mine: float, base: float) -> Figure:
    return Figure(name, ms(mine), ms(base), mine / base)


async def reads(stage: Stage, http: httpx.AsyncClient, sizes: Sizes) -> list[Figure]:
    assert stage.reader
    auth = stage.reader.auth
    figures = []
    for name, path, headers, n in (
        ("get_tasks_cpu", "/api/tasks", auth, sizes.reads),
        ("healthz_cpu", "/healthz", {}, sizes.pings),
    ):
        mine, base = await side_by_side(
            [
                ([stage.taskhub_pid], request(http, "GET", stage.taskhub + path, headers=headers)),
                (
                    [stage.baseline_pid],
                    request(http, "GET", stage.baseline + path, headers=headers),
                ),
            ],
            n,
            sizes.rounds,
        )
        figures.append(compare(name, mine, base))
    return figures


async def post_task(stage: Stage, http: httpx.AsyncClient, sizes: Sizes) -> Figure:
    assert stage.writer
    body = {"json": {"title": "bench write"}, "headers": stage.writer.auth}
    mine, base = await side_by_side(
        [
            ([stage.taskhub_pid], request(http, "POST", f"{stage.taskhub}/api/tasks", **body)),
            ([stage.baseline_pid], request(http, "POST", f"{stage.baseline}/api/tasks", **body)),
        ],
        sizes.writes,
        sizes.rounds,
    )
    return compare("post_task_cpu", mine, base)


async def login(stage: Stage, http: httpx.AsyncClient, sizes: Sizes) -> Figure:
    assert stage.reader
    body = {"username": stage.reader.username, "password": PASSWORD}

    def logging_in(url: str) -> Call:
        send = request(http, "POST", url, json=body)

        async def call() -> None:
            await send()
            http.cookies.clear()  # a login answers with a session cookie: keep to tokens

        return call

    mine, base = await side_by_side(
        [
            ([stage.taskhub_pid], logging_in(f"{stage.taskhub}/api/login")),
            ([stage.baseline_pid], logging_in(f"{stage.baseline}/api/login")),
        ],
        sizes.logins,
        max(2, sizes.rounds - 1),
    )
    return Figure("login_cpu", ms(mine), ms(base), mine * 1000)


async def nginx_vs_direct(stage: Stage, http: httpx.AsyncClient, sizes: Sizes) -> Figure:
    """A page of tasks through nginx (taskhub's CPU and nginx's) and straight to taskhub."""
    assert stage.reader
    port, nginx = start_nginx(stage.processes, stage.work / "nginx", stage.taskhub_port)
    auth = stage.reader.auth
    proxied = request(http, "GET", f"http://127.0.0.1:{port}/api/tasks", headers=auth)
    direct = request(http, "GET", f"{stage.taskhub}/api/tasks", headers=auth)
    for call in (proxied, direct):  # warm up
        for _ in range(3):
            await call()
    n = sizes.pings
    nginx_own, taskhub_proxied, straight = [], [], []
    for r in range(sizes.rounds):
        if r % 2:
            straight.append(await per_call([stage.taskhub_pid], direct, n))
        before = cpu_of(nginx), cpu_of([stage.taskhub_pid])
        for _ in range(n):
            await proxied()
        nginx_own.append((cpu_of(nginx) - before[0]) / n)
        taskhub_proxied.append((cpu_of([stage.taskhub_pid]) - before[1]) / n)
        if not r % 2:
            straight.append(await per_call([stage.taskhub_pid], direct, n))
    via_nginx = median(taskhub_proxied) + median(nginx_own)
    return Figure(
        "nginx_vs_direct_cpu",
        f"{ms(via_nginx)} via nginx",
        f"{ms(median(straight))} direct",
        median(nginx_own) * 1000,
    )


async def quiet(pids: list[int], timeout: float = 20, below: float = 0.2) -> None:
    """Returns once the processes use less than ``below`` of a core over half a second,
    or after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        before = cpu_of(pids)
        await asyncio.sleep(0.5)
        if (cpu_of(pids) - before) / 0.5 < below:
            return


async def idle(stage: Stage, sizes: Sizes) -> Figure:
    """% of a core over a window with no client: taskhub and the database together,
    against the baseline process."""
    await asyncio.sleep(sizes.idle_settle)
    pids = {"taskhub": [stage.taskhub_pid], "db": [stage.db_pid], "base": [stage.baseline_pid]}
    before = {k: cpu_of(v) for k, v in pids.items()}
    started = asyncio.get_running_loop().time()
    await asyncio.sleep(sizes.idle_window)
    elapsed = asyncio.get_running_loop().time() - started
    share = {k: (cpu_of(v) - before[k]) / elapsed * 100 for k, v in pids.items()}
    mine = share["taskhub"] + share["db"]
    return Figure(
        "idle_cpu",
        f"{mine:.2f} % (database {share['db']:.2f} %)",
        f"{share['base']:.2f} %",
        round(mine, 2),
    )


async def crowded(stage: Stage, http: httpx.AsyncClient, sizes: Sizes) -> Figure:
    """The reader's page, taskhub's and the database's CPU, with 1,000 other users'
    tasks, changes and logins stored (bench/crowded.py) over the page alone. Changes
    the database: run it last."""
    assert stage.reader
    page = request(http, "GET", f"{stage.taskhub}/api/tasks", headers=stage.reader.auth)
    pids = [stage.taskhub_pid, stage.db_pid]
    await quiet(pids)
    (alone,) = await side_by_side([(pids, page)], sizes.reads, sizes.rounds)
    store = Store(make_client(stage.uri), stage.database)
    try:
        await crowd(store, users=1000, tasks_per_user=sizes.crowd_tasks_per_user, logins=2000)
    finally:
        await store.close()
    # the page "with the data stored", not while taskhub's live hub still reads the
    # thousands of changes just written
    await quiet(pids)
    (crowd_cost,) = await side_by_side([(pids, page)], sizes.reads, sizes.rounds)
    return Figure("get_tasks_crowded", ms(crowd_cost), ms(alone), crowd_cost / alone)
