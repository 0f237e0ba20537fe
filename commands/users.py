"""``taskhub user add|unlock|admin|passwd|list|delete``: accounts, from the operator's shell."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import config as settings
import services
from services.encoding import dumps
from services.errors import DomainError

from .database import command_store
from .table import table

# what POST /api/users and /api/me/password take
PASSWORD_MIN, PASSWORD_MAX = 8, 1024


def add_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="manage accounts")
    actions = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create an account (whatever --registration says)")
    add.add_argument("name")
    add_password_stdin(add)
    add.set_defaults(run=add_user)
    unlock = actions.add_parser("unlock", help="clear an account's failed logins (the lockout)")
    unlock.add_argument("name")
    unlock.set_defaults(run=unlock_user)
    admin = actions.add_parser(
        "admin", help="make an account an admin (it may read every user's scores), or not"
    )
    admin.add_argument("name")
    switch = admin.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="admin", action="store_const", const=True)
    switch.add_argument("--off", dest="admin", action="store_const", const=False)
    admin.set_defaults(run=admin_user)
    passwd = actions.add_parser("passwd", help="set an account's password; every login of it ends")
    passwd.add_argument("name")
    add_password_stdin(passwd)
    passwd.set_defaults(run=set_password)
    listing = actions.add_parser("list", help="every account, oldest first")
    listing.add_argument(
        "--json", action="store_true", help="one JSON object per line instead of a table"
    )
    listing.set_defaults(run=list_users)
    delete = actions.add_parser(
        "delete",
        help="delete an account with everything it owns (its lists and their tasks, "
        "its scores); its live sockets close",
    )
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="required: there is no undo")
    delete.set_defaults(run=delete_user)
    for action in (add, unlock, admin, passwd, listing, delete):
        settings.add_settings(action)


def add_password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("taskhub: the two passwords differ")
    return first


def read_new_password(args: argparse.Namespace) -> str:
    """The password to set, prompted for or from standard input; exits with status 2
    when it is too short or too long."""
    password = read_password(args)
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        print(
            f"taskhub: a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return password


def refused(error: DomainError) -> int:
    print(f"taskhub: {error.message}", file=sys.stderr)
    return 1


async def add_user(config: settings.Config, args: argparse.Namespace) -> int:
    password = read_new_password(args)
    async with command_store(config) as store:
        accounts = services.build(config.replace(registration="open"), store).accounts
        try:
            user = await accounts.register(args.name, password)
        except DomainError as e:
            return refused(e)
    print(f"created {user.username} ({user.id})")
    return 0


async def unlock_user(config: settings.Config, args: argparse.Namespace) -> int:
    async with command_store(config) as store:
        cleared = await services.build(config, store).accounts.unlock(args.name)
    print(f"unlocked {args.name}: {cleared} failed logins forgotten")
    return 0


async def admin_user(config: settings.Config, args: argparse.Namespace) -> int:
    async with command_store(config) as store:
        try:
            user = await services.build(config, store).accounts.set_admin(args.name, args.admin)
        except DomainError as e:
            return refused(e)
    print(f"{user.username} is {'now' if user.admin else 'no longer'} an admin")
    return 0


async def set_password(config: settings.Config, args: argparse.Namespace) -> int:
    password = read_new_password(args)
    async with command_store(config) as store:
        try:
            ended = await services.build(config, store).accounts.set_password(args.name, password)
        except DomainError as e:
            return refused(e)
    print(f"password of {args.name} changed; {ended} logins ended")
    return 0


async def list_users(config: settings.Config, args: argparse.Namespace) -> int:
    async with command_store(config) as store:
        statuses = await services.build(config, store).accounts.statuses()
    if args.json:
        for status in statuses:
            user = status.user
            print(
                dumps(
                    {
                        "username": user.username,
                        "id": user.id,
                        "created_at": user.created_at,
                        "admin": user.admin,
                        "locked": status.locked,
                        "locked_addresses": status.locked_addresses,
                        "kind": status.kind,
                    }
                )
            )
        return 0
    rows = [
        [
            s.user.username,
            s.user.id,
            f"{s.user.created_at:%Y-%m-%dT%H:%MZ}",
            "yes" if s.user.admin else "no",
            locked_cell(s.locked, s.locked_addresses),
            s.kind,
        ]
        for s in statuses
    ]
    print(table(["USERNAME", "ID", "CREATED", "ADMIN", "LOCKED", "KIND"], rows))
    return 0


def locked_cell(locked: bool, addresses: int) -> str:
    """``yes`` (for everyone), ``N addresses`` (only those are locked out) or ``no``."""
    if locked:
        return "yes"
    if addresses:
        return f"{addresses} address{'es' if addresses > 1 else ''}"
    return "no"


async def delete_user(config: settings.Config, args: argparse.Namespace) -> int:
    if not args.yes:
        print(
            f"taskhub: this deletes {args.name} with its lists, tasks and scores, for good; "
            "add --yes to go ahead",
            file=sys.stderr,
        )
        return 2
    async with command_store(config) as store:
        try:
            user = await services.build(config, store).account_data.delete_named(args.name)
        except DomainError as e:
            print(f"taskhub: {e.message}", file=sys.stderr)
            return 1
    print(f"deleted {user.username} ({user.id})")
    return 0
