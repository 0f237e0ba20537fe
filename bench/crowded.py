"""What other users' data costs one user's requests, in one run.

One user with 50 tasks and one login; the same store calls a request makes (the first
page of 50 tasks, the token lookup that authenticates it, the live catch-up read of
changes) are timed alone, then again after 1,000 other users' tasks, changes and
logins (some of them expired) are stored beside them. Each figure is the median of
``--repeats`` calls on loopback; the ratio crowded/alone should stay near 1: a
request's cost must not grow with other users' data.

    .venv/bin/python bench/crowded.py [--users 1000] [--tasks-per-user 20] [--repeats 40]

Without --mongodb-uri the embedded database is started in a temporary directory and
stopped (and removed) at the end, also on a failure or at the time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bson import ObjectId  # noqa: E402

from server.embedded_db import EmbeddedMongo  # noqa: E402
from store import Person, Store, make_client  # noqa: E402
from store.changes import change_document  # noqa: E402
from store.tasks import task_document  # noqa: E402
from store.tokens import token_digest  # noqa: E402

TARGET = 1.3
BATCH = 1000  # documents per insert_many


async def median_ms(call: Callable[[], Awaitable[Any]], repeats: int) -> float:
    await call()  # warm up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def insert_batched(collection: Any, docs: list[dict[str, Any]]) -> None:
    for start in range(0, len(docs), BATCH):
        await collection.insert_many(docs[start : start + BATCH], ordered=False)


async def crowd(store: Store, users: int, tasks_per_user: int, logins: int) -> None:
    """Other users' tasks (with a change each) and logins, written straight into the
    collections in the shapes the store writes them (store/tasks.py, changes.py,
    tokens.py); every fourth login has expired."""
    now = datetime.now(UTC).replace(microsecond=0)
    tasks, changes, tokens = [], [], []
    for u in range(users):
        owner = str(ObjectId())
        for t in range(tasks_per_user):
            created = now + timedelta(milliseconds=t)
            fields = {"title": f"task {t} of user {u}", "done": t % 3 == 0}
            fields["order"] = t if t % 2 else None
            doc = task_document(owner, fields, created)
            tasks.append(doc)
            change = {"task": {"id": str(doc["_id"]), "title": fields["title"]}}
            changes.append(
                change_document(owner, t + 1, "task.created", change, created, timedelta(days=1))
            )
        for i in range(logins // users if users else 0):
            expires = now + (timedelta(seconds=-60) if i % 4 == 3 else timedelta(days=30))
            tokens.append(
                {
                    "_id": token_digest(secrets.token_urlsafe(32)),
                    "user_id": owner,
                    "username": f"crowd{u}",
                    "created_at": now,
                    "expires_at": expires,
                }
            )
    await insert_batched(store.tasks.collection, tasks)
    await insert_batched(store.changes.collection, changes)
    await insert_batched(store.tokens.collection, tokens)


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="taskhub-bench-crowded-"))
    embedded = None
    uri = args.mongodb_uri
    try:
        if uri is None:
            embedded = EmbeddedMongo(work)
            uri = await embedded.start()
        database = "bench_" + secrets.token_hex(4)
        store = Store(make_client(uri), database)
        try:
            await asyncio.wait_for(measure(store, args), args.time_limit)
        except TimeoutError:
            print(f"(time limit of {args.time_limit:g}s reached: stopped)")
            raise SystemExit(1) from None
        finally:
            await store.client.drop_database(database)
            await store.close()
    finally:
        if embedded:
            await embedded.stop()
        shutil.rmtree(work, ignore_errors=True)


async def measure(store: Store, args: argparse.Namespace) -> None:
    await store.create_indexes()
    user = await store.users.create("alone", None)
    me = Person(user.id, user.username)
    for i in range(50):
        fields = {"title": f"task {i}", "order": i % 7 or None}
        await store.tasks.create(me, me.id, fields, allowed=("owner",))
    token, _ = await store.tokens.issue(user, 3600)
    seq = await store.changes.last_seq(user.id)

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "get_tasks_crowded": lambda: store.tasks.page([me.id], limit=50),
        "token_lookup_crowded": lambda: store.tokens.lookup(token),
        "changes_since_crowded": lambda: store.changes.since(user.id, seq - 10),
    }
    alone = {name: await median_ms(call, args.repeats) for name, call in calls.items()}
    started = time.monotonic()
    await crowd(store, args.users, args.tasks_per_user, args.logins)
    print(
        f"stored {args.users} other users' {args.users * args.tasks_per_user} tasks and "
        f"changes and {args.logins} logins in {time.monotonic() - started:.1f}s; "
        f"medians of {args.repeats} calls"
    )
    for name, call in calls.items():
        crowded = await median_ms(call, args.repeats)
        ratio = crowded / alone[name]
        print(
            f"bench {name}: {crowded:.2f} ms vs {alone[name]:.2f} ms = {ratio:.2f} "
            f"(target <= {TARGET})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="other users stored")
    parser.add_argument("--tasks-per-user", type=int, default=20, help="tasks of each other user")
    parser.add_argument("--logins", type=int, default=2000, help="other users' logins stored")
    parser.add_argument("--repeats", type=int, default=40, help="calls timed per figure")
    parser.add_argument("--mongodb-uri", help="a MongoDB server; default: the embedded server")
    parser.add_argument(
        "--time-limit", type=float, default=120, help="seconds the measuring may take"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
