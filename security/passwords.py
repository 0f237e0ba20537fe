"""Password hashing with argon2id, always run off the IOLoop."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


async def _off_loop(func, *args):
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


async def hash_password(password: str) -> str:
    return await _off_loop(_hasher.hash, password)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash("decoy password for unknown accounts")


def _verify(stored_hash: str | None, password: str) -> tuple[bool, bool]:
    if stored_hash is None:
        # Spend the same time as for a real account, so timing tells no usernames.
        try:
            _hasher.verify(_decoy_hash(), password)
        except VerificationError:
            pass
        return False, False
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, False
    return True, _hasher.check_needs_rehash(stored_hash)


async def verify_password(stored_hash: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs_rehash). A None hash (no such account) never matches."""
    return await _off_loop(_verify, stored_hash, password)
