"""Password hashing with argon2id, on a bounded pool of threads off the IOLoop.

Each verification takes a core for a moment, so they are a resource: at most
``threads`` run at once, a bounded number wait, and past that the caller is told the
service is busy (503) rather than the IOLoop and every other request starving. The
cost parameters are settings: production keeps them high, and tests that are not
about hashing pass cheap ones.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import Busy

T = TypeVar("T")

WAITING_PER_THREAD = 16  # verifications that may queue behind each running one


class Passwords:
    """Hashes and verifies passwords with one set of argon2id parameters."""

    def __init__(self, *, memory_kib: int, iterations: int, lanes: int, threads: int = 2):
        self.hasher = PasswordHasher(
            memory_cost=memory_kib, time_cost=iterations, parallelism=lanes
        )
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="passwords")
        self.capacity = threads * (1 + WAITING_PER_THREAD)
        self.pending = 0

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        if self.pending >= self.capacity:
            raise Busy("too many password checks at once; try again in a moment", retry_after=1)
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)
        finally:
            self.pending -= 1

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

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
