"""Figures taken from the benchmark scripts that set up their own processes:
bench/live.py (live_p99_1000) and bench/shared_list.py (shared_list_p99_50x2), each run
as a child in a session of its own, bounded in time, its line picked from its output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

from server.embedded_db import die_with_parent

from .processes import ROOT
from .report import Figure


class ScriptFailed(RuntimeError):
    pass


async def run_script(script: str, args: list[str], time_limit: float, log: Path) -> str:
    """The script's standard output; its errors go to ``log``. Past ``time_limit`` it
    gets SIGINT (its own cleanup stops what it started), then its session is killed."""
    with open(log, "wb") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "bench" / script),
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), time_limit)
    except BaseException:  # the time limit, or the whole benchmark stopping
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its session: whatever it left
        await process.wait()
        raise
    if process.returncode != 0:
        raise ScriptFailed(f"bench/{script} exited with {process.returncode}; see {log}")
    return out.decode()


def pick(name: str, output: str) -> Figure:
    """The figure ``name`` from a script's line ``bench <name>: A vs B = VALUE``."""
    line = re.search(rf"^bench {name}: (.+) vs (.+) = ([0-9.]+)$", output, flags=re.M)
    if line is None:
        raise ScriptFailed(f"no line for {name} in:\n{output}")
    return Figure(name, line[1], line[2], float(line[3]))


async def live_p99_1000(rounds: int, time_limit: float, log_dir: Path) -> Figure:
    args = ["--subscribers", "1000", "--rounds", str(rounds), "--time-limit", str(time_limit)]
    output = await run_script("live.py", args, time_limit + 30, log_dir / "live.log")
    return pick("live_p99_1000", output)


async def shared_list_p99_50x2(rounds: int, time_limit: float, log_dir: Path) -> Figure:
    args = ["--members", "50", "--rounds", str(rounds), "--writes", "1"]
    args += ["--time-limit", str(time_limit)]
    output = await run_script("shared_list.py", args, time_limit + 30, log_dir / "shared.log")
    return pick("shared_list_p99_50x2", output)
