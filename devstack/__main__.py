"""``python -m devstack --processes N [taskhub settings]``: the production shape on one
machine (``./run --processes N``).

One database, N taskhub processes on the ports after --port, and nginx on --port with
the shipped site. It imports the service to start it; the service never imports it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence

import config as settings
from app import setup_logging
from server.embedded_db import RestartBudget

from .stack import RESTART_INTERVAL, RESTART_LIMIT, Stack, StackError, log


def parse_processes(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number of 1 or more")
    return value


def split_args(argv: Sequence[str]) -> tuple[int, list[str]]:
    """``--processes`` (or TASKHUB_PROCESSES), and the arguments for taskhub itself."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="nginx in front of several taskhub processes and one database",
        add_help=False,
    )
    parser.add_argument(
        "--processes", type=parse_processes, default=os.environ.get("TASKHUB_PROCESSES", "2")
    )
    known, rest = parser.parse_known_args(argv)  # a bad --processes exits with status 2
    return known.processes, rest


def run(config: settings.Config, processes: int, argv: Sequence[str]) -> int:
    """``./run --processes N``: starts the stack, keeps its processes running, and
    stops everything on Ctrl-C or SIGTERM. Exit status 0 after a clean stop."""
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    stack = Stack(config, processes, child_args=argv)
    try:
        stack.start()
    except (StackError, OSError) as e:
        log.error("cannot start the stack: %s", e)
        return 1
    print(
        f"taskhub: {stack.url}  (nginx in front of {len(stack.ports)} processes on "
        f"127.0.0.1:{stack.ports[0]}-{stack.ports[-1]}; nginx logs in "
        f"{stack.nginx_prefix / 'logs'}; Ctrl-C stops)",
        flush=True,
    )
    status = 0
    restarts: deque[float] = deque()
    database = DatabaseKeeper(stack)
    try:
        while not stopping.wait(0.5):
            if stack.nginx is None or stack.nginx.poll() is not None:
                log.error("nginx exited; stopping the stack")
                status = 1
                break
            if not database.keep_running():
                status = 1
                break
            for index, process in enumerate(stack.processes):
                if process is not None and process.poll() is None:
                    continue
                now = time.monotonic()
                while restarts and now - restarts[0] > RESTART_INTERVAL:
                    restarts.popleft()
                if len(restarts) >= RESTART_LIMIT:
                    log.error("taskhub processes keep exiting; stopping the stack")
                    status = 1
                    break
                restarts.append(now)
                log.warning(
                    "taskhub on port %d exited (status %s); starting it again",
                    stack.ports[index],
                    process.returncode if process else "?",
                )
                stack.start_process(index)
            if status:
                break
    finally:
        log.info("stopping the stack")
        stack.stop()
    return status


class DatabaseKeeper:
    """Starts the stack's embedded database again when it exits, on the same port and
    files, after a growing delay (5 tries over ~30 s): the processes and nginx keep
    running meanwhile, answering 503, and resume by themselves."""

    def __init__(self, stack: Stack, budget: RestartBudget | None = None):
        self.stack = stack
        self.budget = budget or RestartBudget()
        self.up_since = time.monotonic()
        self.retry_at: float | None = None

    def keep_running(self) -> bool:
        """Called every tick; False once the database keeps exiting (stop the stack)."""
        process = self.stack.database
        if process is None or process.poll() is None:
            return True
        now = time.monotonic()
        if self.retry_at is None:
            delay = self.budget.next_delay(now - self.up_since)
            if delay is None:
                log.error(
                    "the embedded database keeps exiting (%d restarts failed); stopping the "
                    "stack; see %s",
                    len(self.budget.delays),
                    self.stack.embedded.log_path if self.stack.embedded else "its log",
                )
                return False
            log.error(
                "the embedded database exited (status %s); starting it again in %gs",
                process.returncode,
                delay,
            )
            self.retry_at = now + delay
        if now < self.retry_at:
            return True
        self.retry_at = None
        try:
            self.stack.restart_database()
        except StackError as e:
            log.error("restarting the embedded database failed: %s", e)
        self.up_since = time.monotonic()
        return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        processes, rest = split_args(argv)
        config = settings.load(rest)
        if config.port + processes > 65535:
            raise settings.ConfigError("processes: the ports after --port run past 65535")
    except settings.ConfigError as e:
        print(f"taskhub: bad setting: {e}", file=sys.stderr)
        return 2
    setup_logging(config)
    return run(config, processes, rest)


if __name__ == "__main__":
    sys.exit(main())
