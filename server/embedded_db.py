"""The embedded database: an nx-27017 server (the MongoDB wire protocol on SQLite),
run as a child process with its files in the data directory."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import sys
from pathlib import Path

from store import make_client, wait_until_reachable

log = logging.getLogger(__name__)


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


class EmbeddedMongo:
    """Starts and stops one nx-27017 server on a free loopback port."""

    def __init__(self, data_dir: str | os.PathLike, port: int | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def command(self) -> list[str]:
        """The server's command line; creates its directory."""
        db_dir = self.data_dir / "db"
        db_dir.mkdir(parents=True, exist_ok=True)
        return [
            *server_command(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(db_dir),
            "--log-file",
            str(self.data_dir / "embedded-db.log"),
            "--pid-file",
            str(self.data_dir / f"embedded-db.{self.port}.pid"),
        ]

    async def start(self, timeout: float = 20) -> str:
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            # its own process group: Ctrl-C reaches taskhub, which stops it in order
            start_new_session=True,
        )
        client = make_client(self.uri, serverSelectionTimeoutMS=500)
        try:
            await wait_until_reachable(client, timeout)
        except Exception as e:
            await self.stop()
            raise EmbeddedUnavailable(
                f"the embedded database did not answer within {timeout:g}s; "
                f"see {self.data_dir / 'embedded-db.log'}"
            ) from e
        finally:
            await client.close()
        log.info("embedded database on 127.0.0.1:%d, files in %s", self.port, self.data_dir)
        return self.uri

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
