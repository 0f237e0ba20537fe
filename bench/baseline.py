"""The baseline: minimal Tornado + PyMongo handlers doing the database work of each
measured taskhub route, on taskhub's own collections, and nothing more.

- ``GET /healthz``: one ``ping``.
- ``GET /api/tasks``: the token lookup, the lists the user is a member of, then the
  first 50 tasks of the user's default list in taskhub's order, as JSON.
- ``POST /api/tasks``: the token lookup, the task (with taskhub's fields) inserted, its
  change record inserted.
- ``PATCH /api/tasks/{id}``: the token lookup, one conditional update, its change record.
- ``POST /api/login``: the user read by name, argon2 verifying the stored hash off the
  IOLoop, a token inserted.

No validation beyond what the database work needs, no limits, no metrics, no access log:
the cost of Tornado, PyMongo, JSON and the database, to set taskhub's figures beside.

    .venv/bin/python -m bench.baseline --port 9001 --mongodb-uri URI --database NAME
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import tornado.web
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from bson import ObjectId
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

PAGE = 50
RETAINED = timedelta(days=1)  # how long a change record is kept


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def encode(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class Base(tornado.web.RequestHandler):
    @property
    def db(self) -> AsyncDatabase:
        return self.settings["db"]

    def check_xsrf_cookie(self) -> None:
        pass

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, default=encode, separators=(",", ":")))

    async def login(self) -> dict[str, Any]:
        token = self.request.headers.get("Authorization", "").removeprefix("Bearer ")
        login = await self.db.tokens.find_one(
            {"_id": {"$eq": digest(token)}, "expires_at": {"$gt": datetime.now(UTC)}}
        )
        if login is None:
            raise tornado.web.HTTPError(401)
        return login

    async def user_id(self) -> str:
        return (await self.login())["user_id"]

    async def record(self, owner: str, kind: str, task: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        await self.db.changes.insert_one(
            {"owner": owner, "type": kind, "task": task, "at": now, "expires_at": now + RETAINED}
        )


class Health(Base):
    async def get(self) -> None:
        await self.db.command("ping")
        self.write_json({"status": "ok", "db": "ok"})


class TaskList(Base):
    async def get(self) -> None:
        user_id = await self.user_id()
        lists = await self.db.list_members.find({"user": {"$eq": user_id}}).to_list()
        if not any(m["list"] == user_id for m in lists):
            raise tornado.web.HTTPError(404)
        cursor = self.db.tasks.find({"list": {"$eq": user_id}}).sort("rank").limit(PAGE + 1)
        docs = await cursor.batch_size(PAGE + 1).to_list()
        tasks = [{"id": d.pop("_id"), **d} for d in docs[:PAGE]]
        self.write_json({"tasks": tasks})

    async def post(self) -> None:
        login = await self.login()
        user_id = login["user_id"]
        body = json.loads(self.request.body)
        now = datetime.now(UTC)
        by = {"id": user_id, "username": login["username"]}
        doc = {
            "_id": ObjectId(),
            "owner": user_id,
            "list": user_id,
            "title": str(body["title"]),
            "description": "",
            "done": False,
            "order": None,
            "due": None,
            "priority": 0,
            "labels": [],
            "completed_at": None,
            "created_at": now,
            "updated_at": now,
            "created_by": by,
            "updated_by": by,
            "version": 1,
        }
        await self.db.tasks.insert_one(doc)
        task = {"id": str(doc.pop("_id")), **doc}
        await self.record(user_id, "task.created", task)
        self.write_json({"task": task}, 201)


class Task(Base):
    async def patch(self, task_id: str) -> None:
        user_id = await self.user_id()
        body = json.loads(self.request.body)
        doc = await self.db.tasks.find_one_and_update(
            {"_id": ObjectId(task_id), "owner": {"$eq": user_id}},
            {"$set": {"title": str(body["title"]), "updated_at": datetime.now(UTC)}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise tornado.web.HTTPError(404)
        task = {"id": str(doc.pop("_id")), **doc}
        await self.record(user_id, "task.updated", task)
        self.write_json({"task": task})


class Login(Base):
    hasher = PasswordHasher()

    async def post(self) -> None:
        body = json.loads(self.request.body)
        user = await self.db.users.find_one(
            {"username_key": {"$eq": str(body["username"]).casefold()}}
        )
        if user is None or not user.get("password_hash"):
            raise tornado.web.HTTPError(401)
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                None, self.hasher.verify, user["password_hash"], str(body["password"])
            )
        except VerificationError:
            raise tornado.web.HTTPError(401) from None
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        user_id = str(user["_id"])
        await self.db.tokens.insert_one(
            {
                "_id": digest(token),
                "user_id": user_id,
                "username": user["username"],
                "created_at": now,
                "expires_at": now + timedelta(days=30),
            }
        )
        self.write_json({"token": token, "user": {"id": user_id, "username": user["username"]}})


def make_app(db: AsyncDatabase) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/healthz", Health),
            (r"/api/tasks", TaskList),
            (r"/api/tasks/([0-9a-f]{24})", Task),
            (r"/api/login", Login),
        ],
        db=db,
        log_function=lambda handler: None,
    )


async def serve(port: int, uri: str, database: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    app = make_app(client[database])
    server = app.listen(port, "127.0.0.1")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mongodb-uri", required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.mongodb_uri, args.database))


if __name__ == "__main__":
    main()
