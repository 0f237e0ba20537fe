"""``taskhub invite create|list``: codes that open registration when it is ``invite``."""

from __future__ import annotations

import argparse
from typing import Any

import config as settings
import services

from .database import command_store


def add_commands(commands: Any) -> None:
    invite = commands.add_parser("invite", help="invitations to register (--registration invite)")
    actions = invite.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a code; it is shown once")
    create.add_argument("--uses", type=int, default=1, help="registrations it allows (default 1)")
    create.add_argument(
        "--expires",
        type=settings.parse_duration,
        default=7 * 86400,
        help="how long it lasts, such as 7d or 12h (default 7d)",
    )
    create.set_defaults(run=create_invite)
    listing = actions.add_parser("list", help="the codes that exist (never the codes themselves)")
    listing.set_defaults(run=list_invites)
    for action in (create, listing):
        settings.add_settings(action)


async def create_invite(config: settings.Config, args: argparse.Namespace) -> int:
    if args.uses < 1:
        raise SystemExit("taskhub: --uses must be 1 or more")
    async with command_store(config) as store:
        code, invite = await services.build(config, store).accounts.create_invite(
            args.uses, args.expires
        )
    print(code)
    print(
        f"good for {invite.uses_left} registration(s) until {invite.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    return 0


async def list_invites(config: settings.Config, args: argparse.Namespace) -> int:
    async with command_store(config) as store:
        for invite in await services.build(config, store).accounts.invites():
            print(
                f"{invite.digest[:12]}  uses left {invite.uses_left}  "
                f"expires {invite.expires_at:%Y-%m-%d %H:%M} UTC"
            )
    return 0
