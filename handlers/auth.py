"""Accounts and login: registration, login (native and classic), logout, the current user."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

from security.passwords import hash_password, verify_password
from store import Conflict, Store, User
from store.users import username_key

from .base import SESSION_COOKIE, APIError, APIHandler, authenticated, user_json
from .fields import text
from .todo_backend import current_todos_url

USERNAME = re.compile(r"[A-Za-z0-9_.\-]+")
USERNAME_RULES = dict(
    min_length=3,
    max_length=32,
    pattern=USERNAME,
    pattern_help="may hold only letters, digits, '_', '.' and '-'",
)
PASSWORD_RULES = dict(min_length=8, max_length=1024)

MAX_LOGIN_FAILURES = 5  # within the store's window (15 minutes), per account


class RegisterHandler(APIHandler):
    uses_session = False

    async def post(self) -> None:
        fields = self.body_fields()
        username = text(fields, "username", **USERNAME_RULES)
        password = text(fields, "password", **PASSWORD_RULES)
        try:
            user = await self.store.users.create(username, await hash_password(password))
        except Conflict as e:
            raise APIError(409, "that username is taken", field="username") from e
        self.set_header("Location", self.reverse_url("me"))
        self.write_json({"user": user_json(user)}, status=201)


class LoginHandler(APIHandler):
    """``POST /api/login`` with ``username`` and ``password``, as JSON or a form."""

    uses_session = False
    password_names = ("password",)

    def credentials(self, fields: dict[str, Any]) -> tuple[str, str]:
        username = text(fields, "username", min_length=1, max_length=USERNAME_RULES["max_length"])
        for name in self.password_names:
            if name in fields:
                return username, text(fields, name, min_length=1, max_length=1024)
        raise APIError(400, f"{self.password_names[0]} is required", field=self.password_names[0])

    async def post(self) -> None:
        await self.log_in(*self.credentials(self.body_fields()))

    async def log_in(self, username: str, password: str) -> None:
        await self.start_session(await check_password(self.store, username, password))


async def check_password(store: Store, username: str, password: str) -> User:
    """The account these credentials name: 429 while it is locked out after failed
    attempts, 401 when they are wrong. Shared by every route that takes a password."""
    account = username_key(username)
    failures = store.login_failures
    locked_until = await failures.locked_until(account, MAX_LOGIN_FAILURES)
    if locked_until is not None:
        wait = max(1, math.ceil((locked_until - datetime.now(timezone.utc)).total_seconds()))
        raise APIError(
            429,
            "too many failed logins for this account; try again later",
            headers={"Retry-After": str(wait)},
        )
    user = await store.users.by_username(username)
    matches, needs_rehash = await verify_password(user and user.password_hash, password)
    if not matches:
        await failures.record(account)
        # the same answer for an unknown user and a wrong password
        raise APIError(401, "wrong username or password")
    await failures.clear(account)
    if needs_rehash:
        await store.users.set_password_hash(user.id, await hash_password(password))
    return user


class ClassicLoginHandler(LoginHandler):
    """``/login`` for clients written from the classic tutorials: ``username`` + ``pwd``.

    GET with the password in the query string works only when ``allow_get_login`` is on.
    """

    password_names = ("pwd", "password")

    async def get(self) -> None:
        if not self.config.allow_get_login:
            raise APIError(
                405,
                "GET /login is off (it puts passwords in URLs); POST the form, "
                "or start taskhub with --allow-get-login",
                headers={"Allow": "POST"},
            )
        await self.log_in(*self.credentials(self.query_fields()))


class LogoutHandler(APIHandler):
    @authenticated
    async def post(self) -> None:
        await self.store.tokens.revoke(self.current_user.digest)
        self.clear_cookie(SESSION_COOKIE)
        self.set_status(204)
        self.finish()


class MeHandler(APIHandler):
    @authenticated
    async def get(self) -> None:
        user = await self.store.users.by_id(self.current_user.user_id)
        if user is None:  # the account went away while its token lived on
            raise APIError(401, "this account no longer exists")
        todos_url = await current_todos_url(self, user.id)
        self.write_json({"user": user_json(user), "todos_url": todos_url})


routes = [
    (r"/api/users", RegisterHandler),
    (r"/api/login", LoginHandler),
    (r"/api/logout", LogoutHandler),
    (r"/api/me", MeHandler, {}, "me"),
    (r"/login", ClassicLoginHandler),
]
