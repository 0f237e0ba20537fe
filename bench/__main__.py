"""taskhub's benchmark: every figure of issue 14, taskhub side by side with minimal
Tornado + PyMongo handlers doing the same database work (bench/baseline.py).

    .venv/bin/python -m bench [--quick] [--only get_tasks_cpu,post_task_round_trips]

It starts what it needs (the embedded database, a taskhub process, the baseline
process, nginx; bench/live.py and bench/shared_list.py start their own), alternates
taskhub's and the baseline's batches, and ends with one line per figure:

    bench <name>: <taskhub figure> vs <baseline figure> = <value> (target <= <target>)

CPU is each process's own (/proc/<pid>/stat); round trips are counted by a PyMongo
command listener. A figure over its target is printed like any other; the exit status
is 1 only when a figure could not be measured (its error is printed instead). Every
process it starts stops when it ends, however it ends, and it stops by itself within
--time-limit.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from . import cpu, round_trips, scripts
from .processes import Processes
from .report import FIGURES, Figure
from .stage import Stage, open_stage, stop_stage

Step = Callable[[], Awaitable[list[Figure]]]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def one(figure: Awaitable[Figure]) -> list[Figure]:
    return [await figure]


async def one_of(
    script: Callable[[int, float, Path], Awaitable[Figure]], *args: Any
) -> list[Figure]:
    return [await script(*args)]


class Run:
    def __init__(self, args: argparse.Namespace, work: Path):
        self.args = args
        self.sizes = cpu.SMOKE if args.smoke else cpu.QUICK if args.quick else cpu.FULL
        self.work = work
        self.wanted = set(args.only.split(",")) if args.only else set(FIGURES)
        self.deadline = time.monotonic() + args.time_limit
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.failures: list[str] = []
        self.stopped = False  # by a signal: no step starts after it

    def wants(self, *names: str) -> bool:
        return bool(self.wanted.intersection(names))

    async def step(self, names: tuple[str, ...], step: Step) -> None:
        if self.stopped:  # a library that swallowed the cancellation must not outlast it
            raise asyncio.CancelledError
        names = tuple(n for n in names if n in self.wanted)
        if not names:
            return
        left = self.deadline - time.monotonic()
        progress(f"measuring {', '.join(names)}")
        try:
            if left <= 0:
                raise TimeoutError
            figures = await asyncio.wait_for(step(), left)
        except TimeoutError:
            self.failures.extend(f"{n}: not measured within the time limit" for n in names)
            return
        except Exception as e:
            self.failures.extend(f"{n}: {type(e).__name__}: {e}" for n in names)
            return
        self.figures += [f for f in figures if f.name in self.wanted]

    async def staged(self) -> None:
        """The figures measured against one database, taskhub and baseline processes."""
        staged = [n for n in FIGURES if n not in ("live_p99_1000", "shared_list_p99_50x2")]
        if not self.wants(*staged):
            return
        processes = Processes(self.work)
        stage: Stage | None = None
        try:
            progress("starting the embedded database, taskhub and the baseline")
            stage = await asyncio.wait_for(
                open_stage(self.work, processes), self.deadline - time.monotonic()
            )
            await self.on_stage(stage)
        finally:
            if stage is not None:
                await stop_stage(stage)
            else:
                processes.stop_all()

    async def on_stage(self, stage: Stage) -> None:
        sizes = self.sizes
        async with httpx.AsyncClient(timeout=30) as http:

            async def counted() -> list[Figure]:
                figures, sent = await round_trips.figures(stage)
                for name, commands in sent.items():
                    if name in self.wanted:
                        self.notes.append(f"{name}: taskhub sent {', '.join(commands)}")
                return figures

            await self.step(("get_tasks_cpu", "healthz_cpu"), lambda: cpu.reads(stage, http, sizes))
            await self.step(("post_task_cpu",), lambda: one(cpu.post_task(stage, http, sizes)))
            await self.step(("login_cpu",), lambda: one(cpu.login(stage, http, sizes)))
            await self.step(
                ("post_task_round_trips", "patch_task_round_trips", "login_round_trips"), counted
            )
            await self.step(
                ("nginx_vs_direct_cpu",), lambda: one(cpu.nginx_vs_direct(stage, http, sizes))
            )
            await self.step(("idle_cpu",), lambda: one(cpu.idle(stage, sizes)))
            # last: it stores 1,000 other users' data in the stage's database
            await self.step(("get_tasks_crowded",), lambda: one(cpu.crowded(stage, http, sizes)))

    async def scripted(self) -> None:
        """The figures of the scripts that start their own processes, each within its
        own limit and what is left of the run's."""
        size = 0 if self.args.quick or self.args.smoke else 1  # which of each pair
        for name, figure, rounds, limit in (
            ("live_p99_1000", scripts.live_p99_1000, (5, 20), (90, 240)),
            ("shared_list_p99_50x2", scripts.shared_list_p99_50x2, (10, 60), (120, 300)),
        ):
            # the script's own limit, and 30 s for it to stop what it started
            left = max(min(limit[size], self.deadline - time.monotonic() - 30), 10)
            await self.step((name,), partial(one_of, figure, rounds[size], left, self.work))

    def report(self) -> None:
        for note in self.notes:
            print(f"  ({note})")
        order = {name: i for i, name in enumerate(FIGURES)}
        for figure in sorted(self.figures, key=lambda f: order[f.name]):
            print(figure.line())
        for failure in self.failures:
            print(f"bench failed: {failure}")


async def run(args: argparse.Namespace) -> int:
    current = asyncio.current_task()
    assert current is not None
    work = Path(tempfile.mkdtemp(prefix="taskhub-bench-"))
    run = Run(args, work)

    def stop() -> None:
        run.stopped = True
        current.cancel()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        asyncio.get_running_loop().add_signal_handler(sig, stop)
    try:
        await run.staged()
        await run.scripted()
    finally:
        run.report()
        if run.failures:
            print(f"(logs kept in {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if run.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    parser.add_argument("--quick", action="store_true", help="smaller batches: about 2 minutes")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest batches: checks that the command works; figures too rough to quote",
    )
    parser.add_argument(
        "--only", metavar="NAMES", help=f"comma-separated figures, of: {', '.join(FIGURES)}"
    )
    parser.add_argument(
        "--time-limit", type=float, help="seconds the whole run may take (default 600, quick 180)"
    )
    args = parser.parse_args()
    if args.only:
        unknown = set(args.only.split(",")) - set(FIGURES)
        if unknown:
            parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    if args.time_limit is None:
        args.time_limit = 180 if args.quick or args.smoke else 600
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, SIGTERM, SIGHUP
        print("bench: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
