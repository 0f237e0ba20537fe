"""The processes a benchmark starts, and the CPU they spend.

Every child dies with the benchmark (its parent-death signal), is stopped by
``Processes.stop_all()`` however the run ends, and writes its output to a log file.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server.embedded_db import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The CPU the process has used so far, all its threads (utime + stime of
    /proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


class Processes:
    """Children started with ``start``; ``stop_all`` ends them, newest first."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        # taskhub is measured as its flags set it: no setting from our environment
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKHUB_")}
        # the child keeps its own copy of the log's descriptor; ours can close
        with open(self.log_dir / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=die_with_parent(),
            )
        self.started.append(process)
        return process

    def python(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(name, [sys.executable, *args])

    def stop_all(self, timeout: float = 15) -> None:
        stop(list(reversed(self.started)), timeout)
        self.started = []


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    """SIGTERM to each process still running, then each waited for in turn; one that
    outlasts ``timeout`` is killed."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Returns once ``url`` answers at all; raises when the process exits first or
    ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {process.returncode}")
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer within {timeout:g}s") from None
                await asyncio.sleep(0.1)
