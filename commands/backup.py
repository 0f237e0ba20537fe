"""``taskhub export FILE`` and ``taskhub import FILE``: a whole instance as JSON lines
(store/backup.py says what is kept), to move from the embedded database to MongoDB
or between hosts. ``-`` is standard output or input."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import IO, Any

import config as settings
from store import BackupError

from .database import command_store


def add_commands(commands: Any) -> None:
    export = commands.add_parser("export", help="write the whole instance to FILE as JSON lines")
    export.add_argument("file", metavar="FILE", help="where to write; - for standard output")
    export.set_defaults(run=export_instance)
    load = commands.add_parser(
        "import", help="load an export into an empty database (the configured one)"
    )
    load.add_argument("file", metavar="FILE", help="an export; - for standard input")
    load.set_defaults(run=import_instance)
    for action in (export, load):
        settings.add_settings(action)


@contextlib.contextmanager
def opened(path: str, mode: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdout if "w" in mode else sys.stdin
        return
    with open(path, mode, encoding="utf-8") as file:
        yield file


async def export_instance(config: settings.Config, args: argparse.Namespace) -> int:
    lines = 0
    async with command_store(config) as store:
        with opened(args.file, "w") as out:
            async for line in store.export_lines():
                out.write(line + "\n")
                lines += 1
    print(f"exported {lines - 1} documents to {args.file}", file=sys.stderr)
    return 0


async def import_instance(config: settings.Config, args: argparse.Namespace) -> int:
    try:
        with opened(args.file, "r") as source:
            async with command_store(config) as store:
                counts = await store.import_lines(source)
    except (BackupError, OSError) as e:
        print(f"taskhub: {e}", file=sys.stderr)
        return 1
    shown = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    print(f"imported {shown or 'nothing'}", file=sys.stderr)
    return 0
