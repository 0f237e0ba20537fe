"""services.passwords.Passwords at the production defaults: the one place the suite
pays the real argon2id cost, so it makes only a handful of hashes."""

from __future__ import annotations

import pytest
from harness.settings import CHEAP_HASHING
from harness.users import PASSWORD

import config as settings
from services import passwords_for
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
