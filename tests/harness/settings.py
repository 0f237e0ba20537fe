"""Settings as a deployment would have them, with cheap password hashing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import config as settings

ROOT = Path(__file__).resolve().parents[2]
COOKIE_SECRET = "test-cookie-secret-" + "x" * 32

# argon2id at its cheapest: every test user would otherwise cost a third of a second.
# Tests of hashing itself set their own parameters.
CHEAP_HASHING = {
    "password_hash_memory": 64,
    "password_hash_iterations": 1,
    "password_hash_lanes": 1,
}
# The same for processes the tests start, by environment (children inherit it).
CHEAP_HASHING_ENV = {
    settings.ENV_PREFIX + name.upper(): str(value) for name, value in CHEAP_HASHING.items()
}


def make_config(**overrides: Any) -> settings.Config:
    """The defaults, a fixed cookie secret and cheap hashing, then ``overrides``."""
    config = settings.load([], environ={})
    return config.replace(**{"cookie_secret": COOKIE_SECRET, **CHEAP_HASHING, **overrides})
