"""An account's data as a whole: handed to its holder (export), or deleted with it.

The export is produced a part at a time (the profile, then each list it owns with
its members and tasks, then its memberships and scores), so that a large account is
streamed rather than held in memory. Deleting an account removes what it owns and
takes it out of other people's lists, telling their members as any such write does,
and ends its logins last: every process then closes the account's live sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from store import Login, Person, Store, User
from store.lists import NoAccess

from .accounts import Accounts
from .errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from .lists import OWNERS, READERS

# A mini-program account has no password: deleting it needs a login made by a code
# this recently, as proof that its holder is at the phone now.
FRESH_LOGIN = timedelta(minutes=5)


class AccountData:
    def __init__(self, store: Store, accounts: Accounts):
        self.store = store
        self.accounts = accounts

    async def export(self, login: Login) -> AsyncIterator[tuple[str, Any]]:
        """(part, value) in order: ``user``; one ``list`` per list the account owns,
        ``{list, members, tasks}``; ``memberships`` (the other lists it is in, as it
        sees them); ``scores``."""
        user = await self.accounts.user(login)
        person = Person(user.id, user.username)
        yield "user", {"id": user.id, "username": user.username, "created_at": user.created_at}
        memberships = await self.store.lists.visible(person)
        for list_id, membership in sorted(memberships.items()):
            if membership["role"] != "owner":
                continue
            found = await self.store.lists.get(person, list_id)
            yield (
                "list",
                {
                    "list": found,
                    "members": await self.store.lists.people(list_id),
                    "tasks": await self.store.tasks.all(list_id),
                },
            )
        others = [
            await self.store.lists.get(person, list_id)
            for list_id, membership in sorted(memberships.items())
            if membership["role"] != "owner"
        ]
        yield "memberships", others
        yield "scores", await self.store.scores.of_user(user.id)

    async def delete(
        self, login: Login, password: str | None, address: str, *, now: datetime
    ) -> None:
        """Deletes the account of ``login`` once its holder is shown to be there: the
        password for an account that has one (checked as a login checks it), else a
        login made by code within FRESH_LOGIN."""
        user = await self.accounts.user(login)
        if user.password_hash is not None:
            if not password:
                raise InvalidInput("password is required to delete the account", field="password")
            checked = await self.accounts.check_password(user.username, password, address)
            if checked.id != user.id:
                raise NotAuthenticated("wrong username or password")
        else:
            logins = {d.digest: d for d in await self.store.tokens.of_user(user.id)}
            current = logins.get(login.digest)
            if current is None or now - current.created_at > FRESH_LOGIN:
                raise Forbidden(
                    "log in with a new code (wx.login or tt.login) and delete the "
                    "account within 5 minutes of it"
                )
        await self.erase(user)

    async def delete_named(self, username: str) -> User:
        """Deletes the account named ``username`` (an operator's command); NotFound
        when there is none."""
        user = await self.store.users.by_username(username)
        if user is None:
            raise NotFound(f"no account named {username!r}")
        await self.erase(user)
        return user

    async def erase(self, user: User) -> None:
        """Deletes the account and what it owns, without asking for proof: for the
        operator (``taskhub user delete``), and for ``delete`` once it has it."""
        person = Person(user.id, user.username)
        for list_id in await self.store.lists.owned(user.id):
            await self.store.tasks.delete_list(person, list_id, allowed=OWNERS, even_default=True)
            await self.store.todos_urls.forget_list(list_id)
        for list_id in await self.store.lists.memberships_of(user.id):
            try:
                await self.store.lists.remove_member(person, list_id, person.id, allowed=READERS)
            except NoAccess:
                pass  # left meanwhile
        await self.store.scores.delete_of_user(user.id)
        await self.store.todos_urls.forget_user(user.id)
        await self.store.changes.forget(user.id)
        await self.store.users.delete(user.id)
        # last: their ends reach every process's live sockets (store/change_stream.py)
        await self.store.tokens.revoke_all_but(user.id, None)
        self.accounts.basic_logins.clear()
