"""The operator's ``taskhub`` command: as a process of its own, or in the test's
process (in a thread, with its own event loop) on the test's database."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import commands
from store import Store

from .settings import CHEAP_HASHING, ROOT


@dataclass
class Ran:
    status: int
    stdout: str
    stderr: str


def run_taskhub(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``taskhub ARGS`` as a process of its own, as the operator runs it."""
    return subprocess.run(
        [sys.executable, "-c", "import sys, commands; sys.exit(commands.main())", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Operator:
    """Runs ``taskhub`` subcommands on the database of ``store``, in this process."""

    def __init__(self, store: Store, mongodb_uri: str, data_dir: Path):
        hashing = [f"--{name.replace('_', '-')}={value}" for name, value in CHEAP_HASHING.items()]
        self.settings = [
            f"--mongodb-uri={mongodb_uri}",
            f"--database={store.db.name}",
            f"--data-dir={data_dir}",
            *hashing,
        ]

    async def run(self, *args: str, stdin: str = "") -> Ran:
        """``taskhub ARGS`` with this database's settings appended: its exit status
        and what it wrote."""
        return await asyncio.to_thread(self._run, [*args, *self.settings], stdin)

    @staticmethod
    def _run(argv: list[str], stdin: str) -> Ran:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), given_stdin(stdin):
            try:
                status = commands.main(argv)
            except SystemExit as e:  # as the interpreter would turn it into a status
                status = e.code if isinstance(e.code, int) else 1
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
        return Ran(status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def given_stdin(text: str) -> Iterator[None]:
    saved, sys.stdin = sys.stdin, io.StringIO(text)
    try:
        yield
    finally:
        sys.stdin = saved
