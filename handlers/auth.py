"""Accounts and login: registration, login (native and classic), logout, the current user."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from services.errors import InvalidInput

from .base import LOGIN_COOKIE, APIError, APIHandler, Route, authenticated, user_json
from .params import optional_text, reject_unknown, text
from .todo_backend import current_todos_url

USERNAME = re.compile(r"[A-Za-z0-9_.\-]+")
USERNAME_MAX = 32
PASSWORD_MIN, PASSWORD_MAX = 8, 1024


def new_username(fields: dict[str, Any]) -> str:
    return text(
        fields,
        "username",
        min_length=3,
        max_length=USERNAME_MAX,
        pattern=USERNAME,
        pattern_help="may hold only letters, digits, '_', '.' and '-'",
    )


def new_password(fields: dict[str, Any]) -> str:
    return text(fields, "password", min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class RegisterHandler(APIHandler):
    """``POST /api/users`` with ``username``, ``password`` and, where registration is by
    invitation, ``invite``."""

    uses_login = False
    starts_login = True

    async def post(self) -> None:
        fields = self.body_fields()
        invite = optional_text(fields, "invite", max_length=100, strip=True)
        user = await self.accounts.register(new_username(fields), new_password(fields), invite)
        self.set_header("Location", self.reverse_url("me"))
        self.write_json({"user": user_json(user)}, status=201)


class LoginHandler(APIHandler):
    """``POST /api/login`` with ``username`` and ``password``, as JSON or a form."""

    uses_login = False
    starts_login = True
    password_names: tuple[str, ...] = ("password",)

    def credentials(self, fields: dict[str, Any]) -> tuple[str, str]:
        username = text(fields, "username", min_length=1, max_length=USERNAME_MAX)
        for name in self.password_names:
            if name in fields:
                return username, text(fields, name, min_length=1, max_length=PASSWORD_MAX)
        name = self.password_names[0]
        raise InvalidInput(f"{name} is required", field=name)

    async def post(self) -> None:
        await self.log_in_with(*self.credentials(self.body_fields()))

    async def log_in_with(self, username: str, password: str) -> None:
        address = self.request.remote_ip or ""
        await self.log_in(await self.accounts.check_password(username, password, address))


class ClassicLoginHandler(LoginHandler):
    """``/login`` for clients written from the classic tutorials: ``username`` + ``pwd``.

    GET with the password in the query string works only when ``allow_get_login`` is on.
    """

    password_names = ("pwd", "password")

    def implemented_methods(self) -> list[str]:
        # GET (and so HEAD) only where it is on: Allow must not offer what answers 405
        methods = super().implemented_methods()
        if not self.config.allow_get_login:
            methods = [m for m in methods if m not in ("GET", "HEAD")]
        return methods

    async def get(self) -> None:
        if not self.config.allow_get_login:
            raise APIError(
                405,
                "GET /login is off (it puts passwords in URLs); POST the form, "
                "or start taskhub with --allow-get-login",
                headers={"Allow": "POST"},
            )
        await self.log_in_with(*self.credentials(self.query_fields()))


class LogoutHandler(APIHandler):
    @authenticated
    async def post(self) -> None:
        await self.accounts.log_out(self.login)
        self.clear_cookie(LOGIN_COOKIE)
        self.no_content()


class MeHandler(APIHandler):
    """``GET /api/me``: the account; ``DELETE /api/me`` with ``{password}``: the account
    and everything it owns go (a mini-program account, which has no password, sends
    nothing but must have logged in by code within the last 5 minutes)."""

    @authenticated
    async def get(self) -> None:
        user = await self.accounts.user(self.login)
        todos_url = await current_todos_url(self, user.id)
        self.write_json({"user": user_json(user), "todos_url": todos_url})

    @authenticated
    async def delete(self) -> None:
        fields = self.body_fields()
        reject_unknown(fields, ("password",))
        password = optional_text(fields, "password", max_length=PASSWORD_MAX)
        address = self.request.remote_ip or ""
        await self.services.account_data.delete(
            self.login, password, address, now=datetime.now(UTC)
        )
        self.clear_cookie(LOGIN_COOKIE)
        self.no_content()


routes: list[Route] = [
    (r"/api/users", RegisterHandler),
    (r"/api/login", LoginHandler),
    (r"/api/logout", LogoutHandler),
    (r"/api/me", MeHandler, {}, "me"),
    (r"/login", ClassicLoginHandler),
]
