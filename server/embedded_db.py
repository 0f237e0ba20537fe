"""The embedded database: an nx-27017 server (the MongoDB wire protocol on SQLite),
run as a child process with its files in the data directory.

The child never outlives its parent: it is started with Linux's parent-death signal
(SIGTERM), so SIGKILL or an OOM kill of taskhub stops it too. While taskhub runs,
``supervise()`` starts it again, on the same port and files, when it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from server.ports import PortBusy, check_port_free
from store import make_client, wait_until_reachable

log = logging.getLogger(__name__)

# Restarts of a server that exits: the wait before each try, 5 tries over ~30 s.
RESTART_DELAYS: tuple[float, ...] = (0.5, 2.0, 5.0, 8.0, 15.0)
# A server that stayed up this long has recovered: the next exit starts a fresh count.
RESTART_RESET_AFTER = 60.0


class EmbeddedUnavailable(RuntimeError):
    """nx-27017 is not installed, or its server did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command() -> list[str]:
    """The nx-27017 console script installed beside this Python, or on PATH."""
    beside = Path(sys.executable).with_name("nx-27017")
    found = str(beside) if beside.exists() else shutil.which("nx-27017")
    if not found:
        raise EmbeddedUnavailable(
            "the embedded database is not installed: install taskhub with its "
            "'embedded' extra (./run does), or set --mongodb-uri"
        )
    return [found]


# --- dying with the parent ---

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_prctl: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # libc's, loaded with Python


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child sent SIGTERM when its parent dies, however
    it dies (SIGKILL, the OOM killer), or None where Linux's prctl is missing.

    The signal follows the *thread* that forked: call Popen from the main thread (an
    asyncio loop run by asyncio.run() forks from it). From another thread, whose end
    would stop the child, this is None."""
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl, parent = _prctl, os.getpid()

    def preexec() -> None:  # in the child, between fork and exec: nothing that locks
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class RestartBudget:
    """Bounded restarts with backoff: ``next_delay(up_for)`` is how long to wait before
    the next try, or None once ``delays`` are used up. A server that stayed up
    ``reset_after`` seconds before it exited starts a fresh count."""

    def __init__(
        self, delays: Sequence[float] = RESTART_DELAYS, reset_after: float = RESTART_RESET_AFTER
    ):
        self.delays = tuple(delays)
        self.reset_after = reset_after
        self.used = 0

    def next_delay(self, up_for: float = 0.0) -> float | None:
        if up_for >= self.reset_after:
            self.used = 0
        if self.used >= len(self.delays):
            return None
        self.used += 1
        return self.delays[self.used - 1]


class EmbeddedMongo:
    """Starts, keeps running and stops one nx-27017 server on ``host`` and a port (a
    free one unless given). ``host`` is loopback, except in tests whose processes run
    in network namespaces and reach it on another address of this machine.
    ``keep_fds`` are descriptors the server inherits: the data directory's lock
    (server/data_dir.py), so that it stays locked while the server runs."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        keep_fds: Sequence[int] = (),
        restart_delays: Sequence[float] = RESTART_DELAYS,
    ):
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port()
        self.keep_fds = tuple(keep_fds)
        self.restart_delays = tuple(restart_delays)
        self.process: asyncio.subprocess.Process | None = None

    @property
    def uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mongodb://{host}:{self.port}/?directConnection=true"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "embedded-db.log"

    def command(self) -> list[str]:
        """The server's command line; creates its directory."""
        db_dir = self.data_dir / "db"
        db_dir.mkdir(parents=True, exist_ok=True)
        return [
            *server_command(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(db_dir),
            "--log-file",
            str(self.log_path),
            "--pid-file",
            str(self.data_dir / f"embedded-db.{self.port}.pid"),
        ]

    def spawn_options(self) -> dict[str, Any]:
        """Popen's options for the server: its own session (Ctrl-C reaches its parent,
        which stops it in order), death with its parent, and the kept descriptors."""
        return {
            "start_new_session": True,
            "preexec_fn": die_with_parent(),
            "pass_fds": self.keep_fds,
        }

    async def start(self, timeout: float = 20) -> str:
        """Starts the server and waits until it answers; its URI. Raises
        EmbeddedUnavailable when the port is taken, or the server exits or stays
        silent for ``timeout`` seconds."""
        try:
            check_port_free(self.host, self.port, "the embedded database")
        except PortBusy as e:
            raise EmbeddedUnavailable(str(e)) from e
        self.process = process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            **self.spawn_options(),
        )
        client = make_client(self.uri, serverSelectionTimeoutMS=500)
        answered = asyncio.ensure_future(wait_until_reachable(client, timeout))
        exited = asyncio.ensure_future(process.wait())
        try:
            await asyncio.wait({answered, exited}, return_when=asyncio.FIRST_COMPLETED)
            if not answered.done():
                raise EmbeddedUnavailable(
                    f"the embedded database exited with status {process.returncode} as it "
                    f"started; see {self.log_path}"
                )
            answered.result()
        except EmbeddedUnavailable:
            await self.stop()
            raise
        except Exception as e:
            await self.stop()
            raise EmbeddedUnavailable(
                f"the embedded database did not answer within {timeout:g}s; see {self.log_path}"
            ) from e
        finally:
            for waiting in (answered, exited):
                waiting.cancel()
            await asyncio.gather(answered, exited, return_exceptions=True)
            await client.close()
        log.info("embedded database on %s:%d, files in %s", self.host, self.port, self.data_dir)
        return self.uri

    async def supervise(self, timeout: float = 20) -> None:
        """Runs as long as the server should: whenever it exits, starts it again on the
        same port and files, after the restart delays (5 tries over ~30 s), so that
        clients reconnect by themselves. Raises EmbeddedUnavailable once the tries are
        used up; cancel it before ``stop()``."""
        budget = RestartBudget(self.restart_delays)
        while True:
            process = self.process
            if process is None:
                raise EmbeddedUnavailable("the embedded database is not running")
            up_since = time.monotonic()
            status = await process.wait()
            up_for = time.monotonic() - up_since
            log.error(
                "the embedded database exited (status %s); starting it again on port %d",
                status,
                self.port,
            )
            while True:
                delay = budget.next_delay(up_for)
                up_for = 0.0
                if delay is None:
                    raise EmbeddedUnavailable(
                        f"the embedded database keeps exiting: {len(budget.delays)} restarts "
                        f"failed; see {self.log_path}"
                    )
                await asyncio.sleep(delay)
                try:
                    await self.start(timeout)
                except EmbeddedUnavailable as e:
                    log.error("restart %d of %d failed: %s", budget.used, len(budget.delays), e)
                    continue
                log.warning("the embedded database is back on port %d", self.port)
                break

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
