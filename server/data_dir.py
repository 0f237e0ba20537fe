"""The data directory, the cookie secret generated into it when none is configured,
and the lock on the embedded database's files in it."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from pathlib import Path

from config import Config, ConfigError

log = logging.getLogger(__name__)


def prepare_data_dir(config: Config) -> Path:
    data_dir = Path(config.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"data_dir = {str(data_dir)!r}: cannot create it: {e.strerror}") from e
    return data_dir


def load_cookie_secret(config: Config, data_dir: Path) -> str:
    """The configured secret, or one generated once into the data directory, so that
    restarts and every local process share it."""
    if config.cookie_secret:
        return config.cookie_secret
    path = data_dir / "cookie_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    log.warning(
        "no cookie_secret configured: generated one into %s; set TASKHUB_COOKIE_SECRET "
        "in production",
        path,
    )
    return path.read_text().strip()


# --- one embedded database per data directory ---

LOCK_FILE = "embedded-db.lock"


class DataDirLocked(RuntimeError):
    """Another process runs the embedded database on this data directory's files; the
    message names the directory and that process."""


class DatabaseFilesLock:
    """An exclusive ``flock`` on ``<data dir>/embedded-db.lock``, which holds the pid of
    the process that took it. Held until ``release()`` or the process's end; the
    embedded server is started with the descriptor (``fileno()``), so the lock lasts
    as long as anything still uses the files, even after its starter was killed."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    def fileno(self) -> int:
        if self._fd is None:
            raise ValueError("the lock was released")
        return self._fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file unlocks it


def lock_database_files(data_dir: Path) -> DatabaseFilesLock:
    """Locks ``data_dir`` for the one process that runs the embedded database on it,
    at once or not at all: raises DataDirLocked naming the directory and the pid
    holding it. Processes given a MongoDB URI never call this."""
    shown = data_dir.resolve()
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited unless passed
    except OSError as e:
        raise DataDirLocked(f"cannot open {path}: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd)
        os.close(fd)
        raise DataDirLocked(_in_use(shown, holder)) from None
    except OSError as e:
        os.close(fd)
        raise DataDirLocked(f"cannot lock {path}: {e.strerror}") from e
    lock = DatabaseFilesLock(path, fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    try:
        _refuse_unlocked_servers(data_dir, shown)
    except BaseException:
        lock.release()
        raise
    return lock


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None  # the holder has not written it yet


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _in_use(data_dir: Path, holder: int | None) -> str:
    advice = "stop it first, or give this one another --data-dir"
    if holder is not None and _alive(holder):
        return (
            f"the data directory {data_dir} is in use: taskhub (pid {holder}) runs the "
            f"embedded database on its files; {advice}"
        )
    started_by = f" started by pid {holder}, which has exited," if holder else ""
    return (
        f"the data directory {data_dir} is in use: the embedded database{started_by} "
        f"is still stopping; try again in a moment"
    )


def _refuse_unlocked_servers(data_dir: Path, shown: Path) -> None:
    """An embedded server still running on these files without holding the lock (left
    by a taskhub from before the lock existed) must not get a second one beside it."""
    for pid_file in data_dir.glob("embedded-db.*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if _alive(pid) and "nx-27017" in cmdline and pid_file.name in cmdline:
                raise DataDirLocked(
                    f"the data directory {shown} is in use: an embedded database left "
                    f"running by an earlier taskhub (pid {pid}) still serves its files; "
                    f"stop it (kill {pid}) and start again"
                )
