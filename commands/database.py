"""The database a command works on: the configured MongoDB; or, with none, the
embedded database of the data directory, the one a running taskhub holds (never a
second server on the same files), or one of the command's own while none runs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import app
import config as settings
from server.data_dir import LOCK_FILE, prepare_data_dir
from server.embedded_db import EmbeddedMongo
from store import Store

_PID_FILE = re.compile(r"embedded-db\.(\d+)\.pid")


def running_embedded_uri(data_dir: Path) -> str | None:
    """The URI of the embedded database that a running process serves from
    ``data_dir``'s files, or None when no process holds them."""
    lock = data_dir / LOCK_FILE
    if not lock.exists():
        return None
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    for pid_file in data_dir.glob("embedded-db.*.pid"):
        match = _PID_FILE.fullmatch(pid_file.name)
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            if match and Path(f"/proc/{pid}").exists():
                return EmbeddedMongo(data_dir, int(match.group(1))).uri
    return None


@contextlib.asynccontextmanager
async def command_store(config: settings.Config) -> AsyncIterator[Store]:
    data_dir = prepare_data_dir(config)
    if config.mongodb_uri is None:
        running = running_embedded_uri(data_dir)
        if running is not None:
            config = config.replace(mongodb_uri=running)
    try:
        lock = app.lock_data_dir(config, data_dir)
        store, embedded = await app.open_database(config, data_dir, lock)
    except app.StartupError as e:
        raise SystemExit(f"taskhub: {e}") from None
    try:
        yield store
    finally:
        await store.close()
        if embedded is not None:
            await embedded.stop()
        if lock is not None:
            lock.release()
