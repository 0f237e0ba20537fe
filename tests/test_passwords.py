"""services.passwords.Passwords at the production defaults: the one place the suite
pays the real argon2id cost, so it makes only a handful of hashes."""

from __future__ import annotations

import asyncio

import pytest
from harness.settings import CHEAP_HASHING
from harness.users import PASSWORD

import config as settings
from services import passwords_for
from services.errors import Busy
from services.passwords import Passwords

DEFAULTS = settings.load([], environ={})


@pytest.fixture
def passwords() -> Passwords:
    return passwords_for(DEFAULTS)


async def test_a_hash_verifies_its_password_and_no_other(passwords):
    stored = await passwords.hash(PASSWORD)

    assert stored.startswith(
        f"$argon2id$v=19$m={DEFAULTS.password_hash_memory},"
        f"t={DEFAULTS.password_hash_iterations},p={DEFAULTS.password_hash_lanes}$"
    )
    assert PASSWORD not in stored
    assert await passwords.verify(stored, PASSWORD) == (True, False)
    assert await passwords.verify(stored, PASSWORD + " ") == (False, False)


async def test_no_hash_never_matches(passwords):
    assert await passwords.verify(None, PASSWORD) == (False, False)
    assert await passwords.verify(None, "") == (False, False)


async def test_a_hash_with_other_parameters_needs_rehash(passwords):
    cheap = Passwords(
        memory_kib=CHEAP_HASHING["password_hash_memory"],
        iterations=CHEAP_HASHING["password_hash_iterations"],
        lanes=CHEAP_HASHING["password_hash_lanes"],
    )
    stored = await cheap.hash(PASSWORD)

    assert await passwords.verify(stored, PASSWORD) == (True, True)
    assert await passwords.verify(stored, "not the password") == (False, False)


async def test_something_not_a_hash_never_matches(passwords):
    assert await passwords.verify("plain text, not a hash", PASSWORD) == (False, False)


async def test_a_flood_of_checks_is_refused_beyond_the_queue_not_queued_forever():
    passwords = Passwords(memory_kib=64, iterations=1, lanes=1, threads=1)
    stored = await passwords.hash("correct horse")
    results = await asyncio.gather(
        *(passwords.verify(stored, "correct horse") for _ in range(40)), return_exceptions=True
    )
    busy = [r for r in results if isinstance(r, Busy)]
    assert len(busy) == 40 - passwords.capacity
    assert all(r == (True, False) for r in results if not isinstance(r, Busy))
    passwords.close()
