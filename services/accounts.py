"""Accounts and logins: registration, password checks with lockout, login tokens,
live tickets and Todo-Backend capabilities.

A *login* is what a token stands for (store.Login): who is logged in, until when.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from store import Conflict as StoreConflict
from store import Login, LoginDetails, Store, User
from store.invites import Invite
from store.users import username_key

from .errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
)
from .passwords import Passwords
from .rate_limit import ExpiringCache, RateLimit

__all__ = ["AccountStatus", "Accounts", "Login", "LoginDetails", "User", "seconds_until"]

# Failed logins within the store's window (15 minutes): from one client address, the
# address is locked out of that account; from everywhere together, the account is
# locked for all (distributed guessing). The owner logging in from elsewhere is not
# held up by a stranger's five wrong guesses.
MAX_FAILURES_PER_ADDRESS = 5
MAX_FAILURES_PER_ACCOUNT = 100

# A classic client sends its password with every request (HTTP Basic): a success is
# remembered this long, so that it does not pay for argon2 each time.
BASIC_CACHE_SECONDS = 60

# What a login keeps of the client's User-Agent, for its owner's list of logins.
USER_AGENT_MAX = 256


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until ``moment``, at least 1: a ``Retry-After``."""
    return max(1, math.ceil((moment - datetime.now(UTC)).total_seconds()))


@dataclass(frozen=True)
class AccountStatus:
    """An account as the operator's listing shows it."""

    user: User
    locked: bool  # for everyone: MAX_FAILURES_PER_ACCOUNT failures within the window
    locked_addresses: int  # client addresses locked out of it (MAX_FAILURES_PER_ADDRESS)

    @property
    def kind(self) -> str:
        """How the account logs in: ``password``, or ``mini-program`` (by a platform's
        login code; such accounts have no password)."""
        return "password" if self.user.password_hash is not None else "mini-program"


class Accounts:
    def __init__(
        self,
        store: Store,
        passwords: Passwords,
        *,
        token_ttl: float,
        registration: str = "open",
        checks_per_minute: int = 30,
    ):
        self.store = store
        self.passwords = passwords
        self.token_ttl = token_ttl
        self.registration = registration
        self.checks = RateLimit(checks_per_minute, 60)
        self.basic_logins: ExpiringCache[User] = ExpiringCache(BASIC_CACHE_SECONDS)
        self._basic_key = secrets.token_bytes(32)  # this process's, never stored

    # --- accounts ---

    async def register(self, username: str, password: str, invite: str | None = None) -> User:
        """A new account, as the ``registration`` setting allows: Forbidden when it is
        closed; with ``invite``, only for a code an operator made. Conflict when the
        name (in any case) is taken."""
        if self.registration == "closed":
            raise Forbidden(
                "registration is closed on this server; ask its operator for an account"
            )
        redeemed = None
        if self.registration == "invite":
            if not invite:
                raise InvalidInput("registration needs an invite code here", field="invite")
            if not await self.store.invites.redeem(invite):
                raise InvalidInput(
                    "this invite code is unknown, used up or expired", field="invite"
                )
            redeemed = invite
        try:
            password_hash = await self.passwords.hash(password)
            user = await self.store.users.create(username, password_hash)
        except StoreConflict as e:
            if redeemed is not None:
                await self.store.invites.give_back(redeemed)
            raise Conflict("that username is taken", field="username") from e
        # failed logins under this name before it had an account still count
        await self.store.login_failures.carry_over(username_key(username))
        return user

    async def user(self, login: Login) -> User:
        """The account a login belongs to; NotAuthenticated when it went away while
        the token lived on."""
        user = await self.store.users.by_id(login.user_id)
        if user is None:
            raise NotAuthenticated("this account no longer exists")
        return user

    async def check_password(self, username: str, password: str, address: str) -> User:
        """The account these credentials name, asked from ``address``. Refused with
        TooManyRequests when this address asks too often, or is locked out of the
        account after failed attempts, or the account is under a flood of them;
        NotAuthenticated when they are wrong. Shared by every route that takes a
        password."""
        wait = self.checks.wait(address)
        if wait:
            raise TooManyRequests(
                "too many password checks from this address; try again later", retry_after=wait
            )
        account = username_key(username)
        failures = self.store.login_failures
        user, last_failed = await self.store.users.for_password_check(username)
        # An account's document carries the time of its latest failure: without one
        # within the window there are no failures to count, and a login reads none.
        # A name without an account has no document: its failures are always read.
        recent = None
        if user is None or failures.may_have_recent(last_failed):
            recent = await failures.recent(account, MAX_FAILURES_PER_ACCOUNT)
            locks = (
                recent.locked_until(MAX_FAILURES_PER_ADDRESS, address=address),
                recent.locked_until(MAX_FAILURES_PER_ACCOUNT),
            )
            # locked by either: a retry can succeed once both have passed
            locked_until = max((lock for lock in locks if lock is not None), default=None)
            if locked_until is not None:
                raise TooManyRequests(
                    "too many failed logins for this account; try again later",
                    retry_after=seconds_until(locked_until),
                )
        matches, needs_rehash = await self.passwords.verify(
            user.password_hash if user else None, password
        )
        if user is None or not matches:
            await failures.record(account, address=address)
            # the same answer for an unknown user and a wrong password
            raise NotAuthenticated("wrong username or password")
        if recent is not None and recent.any_from(address):
            await failures.clear(account, address=address)
        if needs_rehash:
            await self.store.users.set_password_hash(user.id, await self.passwords.hash(password))
        return user

    async def check_basic(self, username: str, password: str, address: str) -> User:
        """``check_password`` for HTTP Basic, whose clients send the password with every
        request: a success is remembered for a minute by a keyed digest of the
        credentials (the password itself is never kept)."""
        key = hmac.new(
            self._basic_key, f"{username_key(username)}\0{password}".encode(), hashlib.sha256
        ).hexdigest()
        user = self.basic_logins.get(key)
        if user is None:
            user = await self.check_password(username, password, address)
            self.basic_logins.put(key, user)
        return user

    async def create_invite(self, uses: int, ttl_seconds: float) -> tuple[str, Invite]:
        """An invitation to register (``registration`` = ``invite``): its code, shown
        once, good for ``uses`` registrations within ``ttl_seconds``."""
        return await self.store.invites.create(uses, ttl_seconds)

    async def invites(self) -> list[Invite]:
        return await self.store.invites.all()

    async def unlock(self, username: str) -> int:
        """Clears the account's failed logins (an operator's command); how many."""
        return await self.store.login_failures.clear(username_key(username))

    async def set_admin(self, username: str, admin: bool) -> User:
        """Makes the account an admin or not (an operator's command); NotFound when
        there is none by that name. It takes effect at the account's next request:
        a login carries no admin flag, the account is read each time."""
        user = await self.store.users.set_admin(username, admin)
        if user is None:
            raise NotFound(f"no account named {username!r}")
        return user

    async def set_password(self, username: str, new: str) -> int:
        """Gives the account the password ``new`` without the current one (an
        operator's command) and ends every login of it: whoever was logged in logs
        in again. How many logins ended. NotFound for an unknown name; InvalidInput
        for a mini-program account, which logs in by its platform's code and has no
        password to replace."""
        user = await self.store.users.by_username(username)
        if user is None:
            raise NotFound(f"no account named {username!r}")
        if user.password_hash is None:
            raise InvalidInput(
                f"{user.username} logs in by mini-program code and has no password to change"
            )
        return await self._replace_password(user, new, keep=None)

    async def statuses(self) -> list[AccountStatus]:
        """Every account, oldest first, and whether failed logins lock it."""
        failures = await self.store.login_failures.recent_by_account()
        statuses = []
        for user in await self.store.users.all():
            addresses = failures.get(username_key(user.username), [])
            per_address = Counter(a for a in addresses if a is not None)
            statuses.append(
                AccountStatus(
                    user=user,
                    locked=len(addresses) >= MAX_FAILURES_PER_ACCOUNT,
                    locked_addresses=sum(
                        1 for n in per_address.values() if n >= MAX_FAILURES_PER_ADDRESS
                    ),
                )
            )
        return statuses

    # --- logins ---

    async def log_in(
        self, user: User, *, client: str = "", user_agent: str = ""
    ) -> tuple[str, Login]:
        """A new login for ``user``: its token (shown once) and what it stands for.
        ``client`` (its address) and ``user_agent`` are shown in the owner's list."""
        return await self.store.tokens.issue(
            user, self.token_ttl, client=client, user_agent=user_agent[:USER_AGENT_MAX]
        )

    async def authenticate(self, token: str) -> Login | None:
        return await self.store.tokens.lookup(token)

    async def log_out(self, login: Login) -> None:
        await self.store.tokens.revoke(login.digest)

    async def change_password(self, login: Login, current: str, new: str, address: str) -> None:
        """Sets the account's password to ``new`` once ``current`` is checked as a login
        checks it (from ``address``: the lockout applies), then ends every other login
        of the account (their live sockets close), keeping ``login``; and forgets the
        HTTP Basic successes remembered, so the old password stops working at once."""
        user = await self.user(login)
        checked = await self.check_password(user.username, current, address)
        if checked.id != user.id:  # the name moved to another account meanwhile
            raise NotAuthenticated("wrong username or password")
        await self._replace_password(user, new, keep=login.digest)

    async def _replace_password(self, user: User, new: str, *, keep: str | None) -> int:
        """Stores ``new`` as the account's password and ends every login of it but
        ``keep`` (all when None); forgets the HTTP Basic successes remembered, so the
        old password stops working at once. How many logins ended."""
        await self.store.users.set_password_hash(user.id, await self.passwords.hash(new))
        ended = await self.store.tokens.revoke_all_but(user.id, keep)
        # this process's memory; another process's forgets within BASIC_CACHE_SECONDS
        self.basic_logins.clear()
        return ended

    async def logins(self, login: Login) -> list[LoginDetails]:
        """The live logins of ``login``'s account, newest first."""
        return await self.store.tokens.of_user(login.user_id)

    async def revoke_login(self, login: Login, login_id: str) -> None:
        """Ends the login of ``login``'s account named ``login_id``; NotFound when the
        account has none by that id (another account's included)."""
        if not await self.store.tokens.revoke_by_id(login.user_id, login_id):
            raise NotFound("no such login")

    async def revoke_other_logins(self, login: Login) -> int:
        """Ends every login of the account but ``login``; how many."""
        return await self.store.tokens.revoke_all_but(login.user_id, login.digest)

    async def live_ticket(self, login: Login) -> tuple[str, datetime]:
        return await self.store.tickets.issue(login)

    async def redeem_live_ticket(self, ticket: str) -> Login | None:
        return await self.store.tickets.redeem(ticket)

    # --- Todo-Backend capabilities ---

    async def todos_capability(self, user_id: str) -> str:
        """The user's capability for their default list, made on first use (others:
        services/lists.py)."""
        return await self.store.todos_urls.capability(user_id)

    async def replace_todos_capability(self, user_id: str) -> str:
        return await self.store.todos_urls.replace(user_id)

    async def miniprogram_user(self, platform: str, openid: str, unionid: str | None) -> User:
        return await self.store.users.for_miniprogram(platform, openid, unionid)
