"""What sharing costs: a change to a list of 50 members beside a change to one user's own
list, in one run.

Delivery: 50 members of one list hold 2 live sockets each (100), one on each of two
taskhub processes sharing one database; one other user holds 2 sockets the same way.
Each round changes a task of the shared list (PATCH /api/tasks/{id}, by a member, in
turn) and a task of the single user's own list, in alternating order, and times, per
socket, from just before the request to the arrival of the change: the shared figure
against the single-user figure, measured in the same rounds.

Cost of a write: the database commands (round trips) one task create and one update
send, counted by a PyMongo command listener on a store in this process, in a list of
one member and in the list of 50, and the change documents each stores.

    .venv/bin/python bench/shared_list.py [--members 50] [--rounds 60]

Without --mongodb-uri the embedded database is started in a temporary directory and
stopped (and removed) at the end, also on a failure or at the time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from pymongo import monitoring  # noqa: E402

from bench.live import (  # noqa: E402
    Subscribers,
    percentile,
    raise_open_files_limit,
    spawn,
    taskhub_command,
)
from bench.processes import stop, wait_http  # noqa: E402
from server.embedded_db import EmbeddedMongo, free_port  # noqa: E402
from services.tasks import Tasks  # noqa: E402
from store import Person, Store, make_client  # noqa: E402
from store.compat import LEASE_RENEWAL  # noqa: E402

PASSWORD = "bench password 123"
SOCKETS_PER_USER = 2  # one on each process


# the collections change streams follow: a getMore on them is a stream's poll
STREAMED = ("changes", "tokens")


class Commands(monitoring.CommandListener):
    """The commands a client sends, as (name, collection): one round trip each; the
    change streams' own (their opening and their polls, in the background) and the
    renewals of a kept write lease (store/compat.py) left out."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name, command = event.command_name, event.command
        if name == "aggregate" and any(
            "$changeStream" in stage for stage in command.get("pipeline", [])
        ):
            return
        if name == "getMore" and command.get("collection") in STREAMED:
            return
        if command.get("comment") == LEASE_RENEWAL:
            return
        self.sent.append((name, command.get(name)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class User:
    def __init__(self, username: str, user_id: str, token: str):
        self.username, self.id, self.token = username, user_id, token
        self.auth = {"Authorization": f"Bearer {token}"}

    @property
    def person(self) -> Person:
        return Person(self.id, self.username)


async def new_user(http: httpx.AsyncClient, username: str) -> User:
    body = {"username": username, "password": PASSWORD}
    (await http.post("/api/users", json=body)).raise_for_status()
    login = await http.post("/api/login", json=body)
    login.raise_for_status()
    http.cookies.clear()
    return User(username, login.json()["user"]["id"], login.json()["token"])


async def new_task(http: httpx.AsyncClient, user: User, list_id: str) -> dict[str, Any]:
    answer = await http.post(
        "/api/tasks", json={"title": "bench", "list_id": list_id}, headers=user.auth
    )
    answer.raise_for_status()
    return answer.json()["task"]


# --- the run ---


async def run(args: argparse.Namespace) -> None:
    limit = raise_open_files_limit()
    sockets = SOCKETS_PER_USER * (args.members + 1)
    if limit < 2 * sockets + 200:
        raise SystemExit(f"open-files limit {limit} is too low for {sockets} sockets")
    work = Path(tempfile.mkdtemp(prefix="taskhub-bench-shared-"))
    embedded = None
    uri = args.mongodb_uri
    processes: list[subprocess.Popen] = []
    try:
        if uri is None:
            embedded = EmbeddedMongo(work / "db")
            uri = await embedded.start()
        database = "bench_" + secrets.token_hex(4)
        ports = [free_port(), free_port()]
        for port in ports:
            processes.append(
                spawn(
                    taskhub_command(
                        port,
                        uri,
                        database,
                        work,
                        "--max-members-per-list",
                        str(max(args.members, 2)),
                        # the setup logs in members + 1 users from one address
                        "--password-checks-per-minute",
                        str(10 * (args.members + 1)),
                        "--password-hash-memory",
                        "64",
                        "--password-hash-iterations",
                        "1",
                        "--password-hash-lanes",
                        "1",
                    ),
                    work / f"taskhub-{port}.log",
                )
            )
        for port, process in zip(ports, processes, strict=True):
            await wait_http(f"http://127.0.0.1:{port}/healthz", process)
        commands = Commands()
        store = Store(make_client(uri, event_listeners=[commands]), database)
        try:
            await asyncio.wait_for(measure(args, ports, store, commands), args.time_limit)
        except TimeoutError:
            print(f"(time limit of {args.time_limit:g}s reached: stopped)")
            raise SystemExit(1) from None
        finally:
            await store.client.drop_database(database)
            await store.close()
    finally:
        stop(processes)
        if embedded:
            await embedded.stop()
        shutil.rmtree(work, ignore_errors=True)


async def measure(
    args: argparse.Namespace, ports: list[int], store: Store, commands: Commands
) -> None:
    api = f"http://127.0.0.1:{ports[0]}"
    live_urls = [f"ws://127.0.0.1:{p}/api/live" for p in ports]
    run_id = secrets.token_hex(3)
    async with httpx.AsyncClient(base_url=api, timeout=30) as http:
        started = time.monotonic()
        members = [await new_user(http, f"m{i}_{run_id}") for i in range(args.members)]
        single = await new_user(http, f"single_{run_id}")
        owner = members[0]
        made = await http.post("/api/lists", json={"name": "shared"}, headers=owner.auth)
        made.raise_for_status()
        list_id = made.json()["list"]["id"]
        for other in members[1:]:
            answer = await http.put(
                f"/api/lists/{list_id}/members/{other.username}",
                json={"role": "editor"},
                headers=owner.auth,
            )
            answer.raise_for_status()
        shared_task = await new_task(http, owner, list_id)
        single_task = await new_task(http, single, single.id)

        shared, alone = Subscribers(), Subscribers()
        for member in members:
            await shared.connect(live_urls, SOCKETS_PER_USER, member.auth)
        await alone.connect(live_urls, SOCKETS_PER_USER, single.auth)
        await asyncio.sleep(1)  # let every socket finish catching up
        print(
            f"set up {args.members} members sharing one list and one single user in "
            f"{time.monotonic() - started:.1f}s; {len(shared.connections)} and "
            f"{len(alone.connections)} live sockets over 2 taskhub processes; "
            f"{args.rounds} rounds, interleaved"
        )

        async def timed(subscribers: Subscribers, who: User, task: dict[str, Any]) -> list[float]:
            title = f"round {secrets.token_hex(6)}"
            started = subscribers.expect(title)
            answer = await http.patch(
                f"/api/tasks/{task['id']}", json={"title": title}, headers=who.auth
            )
            answer.raise_for_status()
            return await subscribers.latencies(started, 10)

        shared_ms: list[float] = []
        alone_ms: list[float] = []
        deadline = time.monotonic() + args.time_limit / 2
        for round_ in range(args.rounds + 1):  # round 0 warms up
            if time.monotonic() > deadline:
                print(f"  (time limit reached after {round_} rounds)")
                break
            writer = members[round_ % len(members)]
            if round_ % 2:
                got_alone = await timed(alone, single, single_task)
                await asyncio.sleep(0.1)
                got_shared = await timed(shared, writer, shared_task)
            else:
                got_shared = await timed(shared, writer, shared_task)
                await asyncio.sleep(0.1)
                got_alone = await timed(alone, single, single_task)
            if round_:
                shared_ms += got_shared
                alone_ms += got_alone
            await asyncio.sleep(0.1)
        shared.close()
        alone.close()
        if not shared_ms:
            raise SystemExit("no round completed within the time limit")
        label = f"{args.members}x{SOCKETS_PER_USER}"
        for p in (50, 99):
            mine, base = percentile(shared_ms, p), percentile(alone_ms, p)
            ratio = mine / base
            print(f"bench shared_list_p{p}_{label}: {mine:.1f} ms vs {base:.1f} ms = {ratio:.2f}")
        print(
            f"  (mean {statistics.mean(shared_ms):.1f} ms over {len(shared_ms)} deliveries vs "
            f"{statistics.mean(alone_ms):.1f} ms over {len(alone_ms)})"
        )

    # --- what one write sends to the database, and stores ---
    tasks = Tasks(store)
    cases = {
        "1 member": (members[1], members[1].id),  # a member's own default list
        f"{args.members} members": (owner, list_id),
    }
    costs: dict[tuple[str, str], Cost] = {}
    for case, (who, where) in cases.items():
        # the first write also looks up whether the server is a standalone
        task, _ = await tasks.create(who.person, {"title": "cost"}, list_id=where)
        for kind in ("create", "update"):
            counted = []
            for i in range(args.writes):
                before = await store.changes.collection.count_documents({})
                commands.sent.clear()
                if kind == "create":
                    await tasks.create(who.person, {"title": f"cost {i}"}, list_id=where)
                else:
                    await tasks.update(who.person, task["id"], {"title": f"cost {i}"})
                sent = list(commands.sent)
                stored = await store.changes.collection.count_documents({}) - before
                counted.append(Cost(sent, stored))
            if len({(c.trips, c.stored) for c in counted}) > 1:
                print(f"  ({case}, {kind}: varied over {args.writes} writes; the most shown)")
            costs[case, kind] = max(counted, key=lambda c: (c.trips, c.stored))
    one, many = cases
    print(f"one write's database round trips and change documents, {many} vs {one}:")
    for kind in ("create", "update"):
        a, b = costs[many, kind], costs[one, kind]
        for name, mine, base in (
            ("round_trips", a.trips, b.trips),
            ("changes_stored", a.stored, b.stored),
        ):
            print(f"bench shared_list_{name}_{kind}: {mine} vs {base} = {mine / base:.2f}")
    for case in (many, one):
        cost = costs[case, "update"]
        print(f"  ({case}, update: {cost.describe()})")


class Cost:
    """What one write sent to the database, and how many changes it stored."""

    def __init__(self, sent: list[tuple[str, Any]], stored: int):
        self.sent, self.stored = sent, stored

    @property
    def trips(self) -> int:
        return len(self.sent)

    def describe(self) -> str:
        named = [
            f"{name} {target}" if isinstance(target, str) else name for name, target in self.sent
        ]
        lease = sum(1 for _, target in self.sent if target == "transaction_lock")
        text = ", ".join(named)
        if lease:
            text += f"; {lease} of them the embedded server's write lease (store/compat.py)"
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50, help="members of the shared list")
    parser.add_argument("--rounds", type=int, default=60, help="changes timed per list")
    parser.add_argument("--writes", type=int, default=5, help="writes counted per case")
    parser.add_argument("--mongodb-uri", help="a MongoDB replica set; default: the embedded server")
    parser.add_argument(
        "--time-limit", type=float, default=300, help="seconds the measuring may take"
    )
    args = parser.parse_args()
    if args.members < 2:
        parser.error("--members must be 2 or more")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
