"""Running taskhub as a real process, the way ./run and systemd do."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from server.embedded_db import die_with_parent

from .database import free_port
from .hosts import Host
from .settings import CHEAP_HASHING_ENV, COOKIE_SECRET, ROOT

# Every process started and not yet reaped; conftest kills what a test left behind.
RUNNING: list[TaskhubProcess] = []


def proc_state(pid: int) -> str | None:
    """The state letter /proc gives ``pid`` (R, S, Z...), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Running, not gone nor a zombie waiting for its parent to reap it."""
    return proc_state(pid) not in (None, "Z")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_gone(pid: int, timeout: float = 10) -> bool:
    """Polls until ``pid`` is no longer running; whether it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class TaskhubProcess:
    """``python app.py`` on a free loopback port, or on ``host``'s address in its
    network namespace. With ``mongodb_uri`` and ``database`` it shares the tests'
    database server and cookie secret."""

    def __init__(
        self,
        *args: str,
        data_dir: Path,
        port: int | None = None,
        mongodb_uri: str | None = None,
        database: str | None = None,
        env: dict[str, str] | None = None,
        host: Host | None = None,
    ):
        self.port = port or free_port()
        self.host = host
        self.address = host.address if host else "127.0.0.1"
        self.mongodb_uri, self.database = mongodb_uri, database
        shared = []
        if mongodb_uri:
            shared = ["--mongodb-uri", mongodb_uri, "--cookie-secret", COOKIE_SECRET]
        if database:
            shared += ["--database", database]
        listen = ["--port", str(self.port), *(["--address", self.address] if host else [])]
        self.args = [*listen, "--data-dir", str(data_dir), *shared, *args]
        self.env = {**os.environ, **CHEAP_HASHING_ENV, **(env or {})}
        self.log_path = data_dir.parent / f"taskhub-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://{self.address}:{self.port}/api/live"

    def launch(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (open while the process runs)
        argv = [sys.executable, "app.py", *self.args]
        self.process = subprocess.Popen(
            self.host.command(argv) if self.host else argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # dies with the test run however that ends (launched from the main thread)
            preexec_fn=die_with_parent(),
        )
        RUNNING.append(self)

    def _check(self, deadline: float) -> bool:
        """Whether it is healthy now; raises once it exited or the deadline passed."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"taskhub exited with {self.process.returncode}: {self.output()}")
        try:
            if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            self.kill()
            raise AssertionError(f"taskhub did not answer in time: {self.output()}")
        return False

    def start(self, timeout: float = 30) -> TaskhubProcess:
        """Starts it and waits until /healthz answers 200 (blocking)."""
        self.launch()
        deadline = time.monotonic() + timeout
        while not self._check(deadline):
            time.sleep(0.1)
        return self

    async def started(self, timeout: float = 30) -> TaskhubProcess:
        """``start()`` for tests whose own event loop must keep serving meanwhile."""
        self.launch()
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._check, deadline):
            await asyncio.sleep(0.1)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_output(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """Polls its output, while it runs, until a line matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output(), flags=re.M)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s in:\n{self.output()}")
            time.sleep(0.05)

    def send_signal(self, sig: int) -> None:
        """SIGHUP (its terminal closed), SIGKILL (the OOM killer)...; reaped by
        ``exited()``."""
        assert self.process is not None
        self.process.send_signal(sig)

    def exited(self, timeout: float = 30) -> int:
        """Waits for it to exit by itself; its exit status (killed past ``timeout``)."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            self._reaped()

    def embedded_db_pid(self, timeout: float = 10) -> int:
        """The pid of the embedded database it started (its nx-27017 child)."""
        deadline = time.monotonic() + timeout
        while True:
            for child in children(self.pid):
                if any("nx-27017" in arg for arg in cmdline(child)):
                    return child
            if time.monotonic() > deadline:
                raise AssertionError(f"taskhub {self.pid} has no embedded database child")
            time.sleep(0.05)

    def terminate(self) -> None:
        """SIGTERM, as systemd sends it."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then waits; returns the exit status (killed past ``timeout``)."""
        self.terminate()
        return self.exited(timeout)

    async def wait(self, timeout: float = 15) -> int:
        """Waits for it to exit without blocking the test's loop; kills it past ``timeout``."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
            await asyncio.sleep(0.05)
        self._reaped()
        return self.process.returncode

    async def stopped(self, timeout: float = 15) -> int:
        self.terminate()
        return await self.wait(timeout)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reaped()

    def _reaped(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self in RUNNING:
            RUNNING.remove(self)
