"""Password hashing with argon2id, always run off the IOLoop.

The cost parameters are settings: production keeps them high, and tests that are
not about hashing pass cheap ones so that every test user does not cost a second.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

T = TypeVar("T")


class Passwords:
    """Hashes and verifies passwords with one set of argon2id parameters."""

    def __init__(self, *, memory_kib: int, iterations: int, lanes: int):
        self.hasher = PasswordHasher(
            memory_cost=memory_kib, time_cost=iterations, parallelism=lanes
        )

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    async def hash(self, password: str) -> str:
        return await self._off_loop(self.hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs_rehash). A None hash (no such account) never matches."""
        return await self._off_loop(self._verify, stored_hash, password)

    @functools.cached_property
    def _decoy_hash(self) -> str:
        return self.hasher.hash("decoy password for unknown accounts")

    def _verify(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        if stored_hash is None:
            # Spend the same time as for a real account, so timing tells no usernames.
            try:
                self.hasher.verify(self._decoy_hash, password)
            except VerificationError:
                pass
            return False, False
        try:
            self.hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False, False
        return True, self.hasher.check_needs_rehash(stored_hash)
