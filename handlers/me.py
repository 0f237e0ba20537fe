"""Account self-service: the password, the account's logins (list and revoke), and
all of its data (export). Deleting the account is ``DELETE /api/me`` (auth.py)."""

from __future__ import annotations

from typing import Any

from services.accounts import LoginDetails
from services.encoding import dumps

from .auth import PASSWORD_MAX, PASSWORD_MIN
from .base import APIHandler, Route, authenticated
from .params import text

EXPORT_FORMAT = "taskhub-export/1"


def login_json(details: LoginDetails, current_digest: str) -> dict[str, Any]:
    """A login as its owner sees it: never its token, nor the token's digest."""
    return {
        "id": details.login_id,
        "created_at": details.created_at,
        "last_used_at": details.last_used_at,
        "client": details.client,
        "user_agent": details.user_agent,
        "current": details.digest == current_digest,
    }


class PasswordHandler(APIHandler):
    """``POST /api/me/password`` with ``current_password`` and ``new_password``."""

    @authenticated
    async def post(self) -> None:
        fields = self.body_fields()
        current = text(fields, "current_password", min_length=1, max_length=PASSWORD_MAX)
        new = text(fields, "new_password", min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)
        address = self.request.remote_ip or ""
        await self.accounts.change_password(self.login, current, new, address)
        self.no_content()


class LoginsHandler(APIHandler):
    """``GET /api/me/logins``: the account's logins; ``DELETE``: all but this one."""

    @authenticated
    async def get(self) -> None:
        logins = await self.accounts.logins(self.login)
        self.write_json({"logins": [login_json(d, self.login.digest) for d in logins]})

    @authenticated
    async def delete(self) -> None:
        await self.accounts.revoke_other_logins(self.login)
        self.no_content()


class LoginHandler(APIHandler):
    """``DELETE /api/me/logins/{id}``: ends that login of the account (404 otherwise)."""

    @authenticated
    async def delete(self, login_id: str) -> None:
        await self.accounts.revoke_login(self.login, login_id)
        self.no_content()


class ExportHandler(APIHandler):
    """``GET /api/me/export``: everything of the account as one JSON document, sent a
    list at a time: ``{format, user, lists: [{list, members, tasks}], memberships,
    scores}``."""

    @authenticated
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Content-Disposition", 'attachment; filename="taskhub-export.json"')
        self.set_header("Cache-Control", "no-store")
        self.write(f'{{"format": {dumps(EXPORT_FORMAT)}')
        lists = 0
        async for part, value in self.services.account_data.export(self.login):
            if part == "list":
                self.write((',"lists":[' if lists == 0 else ",") + dumps(value))
                lists += 1
                await self.flush()  # a large account goes out a list at a time
                continue
            if part == "memberships":
                self.write(',"lists":[]' if lists == 0 else "]")
            self.write(f",{dumps(part)}:{dumps(value)}")
        self.finish("}")


routes: list[Route] = [
    (r"/api/me/export", ExportHandler),
    (r"/api/me/password", PasswordHandler),
    (r"/api/me/logins", LoginsHandler),
    (r"/api/me/logins/([A-Za-z0-9_-]{1,64})", LoginHandler),
]
