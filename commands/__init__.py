"""The ``taskhub`` command: ``taskhub serve`` (the default) runs a process, and the
operator's subcommands manage accounts and invitations on the same database, read
from the same settings (flags and ``TASKHUB_*``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib import metadata
from typing import Any

import app
import config as settings

from . import backup, invites, users

Command = Callable[[settings.Config, argparse.Namespace], Coroutine[Any, Any, int]]


def version() -> str:
    try:
        return metadata.version("taskhub")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskhub",
        description="taskhub: tasks, login and live updates over HTTP and WebSocket.",
        epilog="Settings are flags of each subcommand, or TASKHUB_<NAME> in the environment; "
        "'taskhub serve --help' lists them.",
    )
    parser.add_argument("--version", action="version", version=f"taskhub {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve HTTP and WebSocket (the default)")
    settings.add_settings(serve)
    users.add_commands(commands)
    invites.add_commands(commands)
    backup.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "serve")  # `taskhub --port 9000` serves, as app.py does
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return app.main(argv[1:])
    try:
        config = settings.resolve(vars(args))
    except settings.ConfigError as e:
        print(f"taskhub: bad setting: {e}", file=sys.stderr)
        return 2
    run: Command = args.run
    return asyncio.run(run(config, args))
