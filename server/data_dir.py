"""The data directory, and the cookie secret generated into it when none is configured."""

from __future__ import annotations

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
