"""Accounts and logins: registration, password checks with lockout, login tokens,
live tickets and Todo-Backend capabilities.

A *login* is what a token stands for (store.Login): who is logged in, until when.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from store import Conflict as StoreConflict
from store import Login, Store, User
from store.users import username_key

from .errors import Conflict, NotAuthenticated, TooManyRequests
from .passwords import Passwords

__all__ = ["Accounts", "Login", "User", "seconds_until"]

MAX_LOGIN_FAILURES = 5  # within the store's window (15 minutes), per account


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until ``moment``, at least 1: a ``Retry-After``."""
    return max(1, math.ceil((moment - datetime.now(UTC)).total_seconds()))


class Accounts:
    def __init__(self, store: Store, passwords: Passwords, *, token_ttl: float):
        self.store = store
        self.passwords = passwords
        self.token_ttl = token_ttl

    # --- accounts ---

    async def register(self, username: str, password: str) -> User:
        """A new account; Conflict when the name (in any case) is taken."""
        password_hash = await self.passwords.hash(password)
        try:
            return await self.store.users.create(username, password_hash)
        except StoreConflict as e:
            raise Conflict("that username is taken", field="username") from e

    async def user(self, login: Login) -> User:
        """The account a login belongs to; NotAuthenticated when it went away while
        the token lived on."""
        user = await self.store.users.by_id(login.user_id)
        if user is None:
            raise NotAuthenticated("this account no longer exists")
        return user

    async def check_password(self, username: str, password: str) -> User:
        """The account these credentials name: TooManyRequests while it is locked
        out after failed attempts, NotAuthenticated when they are wrong. Shared by
        every route that takes a password."""
        account = username_key(username)
        failures = self.store.login_failures
        locked_until = await failures.locked_until(account, MAX_LOGIN_FAILURES)
        if locked_until is not None:
            raise TooManyRequests(
                "too many failed logins for this account; try again later",
                retry_after=seconds_until(locked_until),
            )
        user = await self.store.users.by_username(username)
        matches, needs_rehash = await self.passwords.verify(
            user.password_hash if user else None, password
        )
        if user is None or not matches:
            await failures.record(account)
            # the same answer for an unknown user and a wrong password
            raise NotAuthenticated("wrong username or password")
        await failures.clear(account)
        if needs_rehash:
            await self.store.users.set_password_hash(user.id, await self.passwords.hash(password))
        return user

    # --- logins ---

    async def log_in(self, user: User) -> tuple[str, Login]:
        """A new login for ``user``: its token (shown once) and what it stands for."""
        return await self.store.tokens.issue(user, self.token_ttl)

    async def authenticate(self, token: str) -> Login | None:
        return await self.store.tokens.lookup(token)

    async def log_out(self, login: Login) -> None:
        await self.store.tokens.revoke(login.digest)

    async def live_ticket(self, login: Login) -> tuple[str, datetime]:
        return await self.store.tickets.issue(login)

    async def redeem_live_ticket(self, ticket: str) -> Login | None:
        return await self.store.tickets.redeem(ticket)

    # --- Todo-Backend capabilities ---

    async def todos_capability(self, user_id: str) -> str:
        """The user's capability, made on first use."""
        return await self.store.todos_urls.capability(user_id)

    async def replace_todos_capability(self, user_id: str) -> str:
        return await self.store.todos_urls.replace(user_id)

    async def todos_owner(self, capability: str) -> str | None:
        return await self.store.todos_urls.owner(capability)

    async def miniprogram_user(self, platform: str, openid: str, unionid: str | None) -> User:
        return await self.store.users.for_miniprogram(platform, openid, unionid)
