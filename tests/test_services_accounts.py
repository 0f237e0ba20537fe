"""services.accounts.Accounts on a real database: registration, password checks with
lockout and rehashing, logins, live tickets and Todo-Backend capabilities."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from bson import ObjectId
from harness.settings import make_config
from harness.users import PASSWORD, new_username

import config as settings
import services
from services.accounts import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS, Accounts
from services.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, TooManyRequests
from services.passwords import Passwords

ADDRESS = "192.0.2.1"
ELSEWHERE = "198.51.100.7"


@pytest.fixture
def accounts(store) -> Accounts:
    return services.build(make_config(), store).accounts


async def test_register_returns_the_new_account(accounts):
    name = new_username()
    user = await accounts.register(name, PASSWORD)
    assert user.username == name
    assert user.password_hash is not None and PASSWORD not in user.password_hash
    assert await accounts.store.users.by_id(user.id) == user


async def test_register_refuses_a_name_taken_in_another_case(accounts):
    await accounts.register("alice", PASSWORD)
    with pytest.raises(Conflict) as refused:
        await accounts.register("Alice", PASSWORD)
    assert refused.value.field == "username"
    assert await accounts.store.db.users.count_documents({}) == 1


async def test_check_password_returns_the_account(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    assert (await accounts.check_password(user.username, PASSWORD, ADDRESS)).id == user.id


async def test_wrong_password_and_unknown_user_get_the_same_refusal(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    with pytest.raises(NotAuthenticated) as wrong:
        await accounts.check_password(user.username, "not the password", ADDRESS)
    with pytest.raises(NotAuthenticated) as unknown:
        await accounts.check_password(new_username(), PASSWORD, ADDRESS)
    assert wrong.value.message == unknown.value.message


async def test_too_many_failures_lock_the_account_out(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    for _ in range(MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(NotAuthenticated):
            await accounts.check_password(user.username, "not the password", ADDRESS)
    with pytest.raises(TooManyRequests) as locked:
        await accounts.check_password(user.username, PASSWORD, ADDRESS)
    assert locked.value.retry_after is not None and locked.value.retry_after >= 1


async def test_lockout_counts_the_name_in_any_case(accounts):
    user = await accounts.register(new_username("Bob"), PASSWORD)
    for _ in range(MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(NotAuthenticated):
            await accounts.check_password(user.username.upper(), "not the password", ADDRESS)
    with pytest.raises(TooManyRequests):
        await accounts.check_password(user.username, PASSWORD, ADDRESS)


async def test_a_success_clears_the_failures(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    for _ in range(2):
        for _ in range(MAX_FAILURES_PER_ADDRESS - 1):
            with pytest.raises(NotAuthenticated):
                await accounts.check_password(user.username, "not the password", ADDRESS)
        assert (await accounts.check_password(user.username, PASSWORD, ADDRESS)).id == user.id


async def test_a_weaker_hash_is_replaced_on_a_successful_check(accounts, store):
    user = await accounts.register(new_username(), PASSWORD)
    weak = await Passwords(memory_kib=32, iterations=1, lanes=1).hash(PASSWORD)
    await store.users.set_password_hash(user.id, weak)

    await accounts.check_password(user.username, PASSWORD, ADDRESS)

    stored = (await store.db.users.find_one({"_id": ObjectId(user.id)}))["password_hash"]
    assert stored != weak
    assert await accounts.passwords.verify(stored, PASSWORD) == (True, False)


async def test_a_hash_at_the_former_defaults_moves_to_owasps_on_login(store):
    """Hashes stored before the defaults became OWASP's (argon2-cffi's own: 64 MiB,
    3 passes, 4 lanes) are rehashed at the defaults by their owner's next login."""
    defaults = settings.load([], environ={})
    owasp = {
        name: getattr(defaults, name)
        for name in ("password_hash_memory", "password_hash_iterations", "password_hash_lanes")
    }
    assert owasp == {
        "password_hash_memory": 19 * 1024,
        "password_hash_iterations": 2,
        "password_hash_lanes": 1,
    }
    accounts = services.build(make_config(**owasp), store).accounts
    user = await store.users.create(new_username(), PasswordHasher().hash(PASSWORD))
    assert user.password_hash and user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")

    await accounts.check_password(user.username, PASSWORD, ADDRESS)

    rehashed = (await store.users.by_id(user.id)).password_hash
    assert rehashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await accounts.passwords.verify(rehashed, PASSWORD) == (True, False)
    await accounts.check_password(user.username, PASSWORD, ADDRESS)
    assert (await store.users.by_id(user.id)).password_hash == rehashed  # once only


async def test_a_failed_check_keeps_the_weaker_hash(accounts, store):
    user = await accounts.register(new_username(), PASSWORD)
    weak = await Passwords(memory_kib=32, iterations=1, lanes=1).hash(PASSWORD)
    await store.users.set_password_hash(user.id, weak)

    with pytest.raises(NotAuthenticated):
        await accounts.check_password(user.username, "not the password", ADDRESS)

    stored = (await store.db.users.find_one({"_id": ObjectId(user.id)}))["password_hash"]
    assert stored == weak


async def test_log_in_authenticate_log_out(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    token, login = await accounts.log_in(user)
    assert (login.user_id, login.username) == (user.id, user.username)
    assert await accounts.authenticate(token) == login

    await accounts.log_out(login)

    assert await accounts.authenticate(token) is None


async def test_an_unknown_token_authenticates_no_one(accounts):
    assert await accounts.authenticate("not-a-token") is None


async def test_user_of_a_login_whose_account_is_gone(accounts, store):
    user = await accounts.register(new_username(), PASSWORD)
    _, login = await accounts.log_in(user)
    assert await accounts.user(login) == user

    await store.db.users.delete_one({"_id": ObjectId(user.id)})

    with pytest.raises(NotAuthenticated):
        await accounts.user(login)


async def test_a_live_ticket_works_once(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    _, login = await accounts.log_in(user)
    ticket, _ = await accounts.live_ticket(login)

    assert await accounts.redeem_live_ticket(ticket) == login
    assert await accounts.redeem_live_ticket(ticket) is None


async def test_a_live_ticket_ends_with_its_login(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    _, login = await accounts.log_in(user)
    ticket, _ = await accounts.live_ticket(login)

    await accounts.log_out(login)

    assert await accounts.redeem_live_ticket(ticket) is None


async def test_todos_capability_is_stable_until_replaced(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    first = await accounts.todos_capability(user.id)
    assert await accounts.todos_capability(user.id) == first
    assert await accounts.store.todos_urls.owner(first) == (user.id, user.id)

    second = await accounts.replace_todos_capability(user.id)

    assert second != first
    assert await accounts.todos_capability(user.id) == second
    assert await accounts.store.todos_urls.owner(second) == (user.id, user.id)
    assert await accounts.store.todos_urls.owner(first) is None


async def test_a_lockout_holds_the_guessing_address_only(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    for _ in range(MAX_FAILURES_PER_ADDRESS):
        with pytest.raises(NotAuthenticated):
            await accounts.check_password(user.username, "not the password", ADDRESS)
    with pytest.raises(TooManyRequests):
        await accounts.check_password(user.username, PASSWORD, ADDRESS)
    # the owner, elsewhere, is not held up by a stranger's guesses
    assert (await accounts.check_password(user.username, PASSWORD, ELSEWHERE)).id == user.id


async def test_guesses_from_many_addresses_lock_the_account_for_all(accounts):
    user = await accounts.register(new_username(), PASSWORD)
    for i in range(MAX_FAILURES_PER_ACCOUNT):
        await accounts.store.login_failures.record(
            user.username, address=f"10.0.{i // 250}.{i % 250}"
        )
    with pytest.raises(TooManyRequests) as refused:
        await accounts.check_password(user.username, PASSWORD, ELSEWHERE)
    assert refused.value.retry_after and refused.value.retry_after > 0
    assert await accounts.unlock(user.username) == MAX_FAILURES_PER_ACCOUNT
    assert (await accounts.check_password(user.username, PASSWORD, ELSEWHERE)).id == user.id


async def test_password_checks_per_address_are_limited(store):
    accounts = services.build(make_config(password_checks_per_minute=3), store).accounts
    user = await accounts.register(new_username(), PASSWORD)
    for _ in range(3):
        await accounts.check_password(user.username, PASSWORD, ADDRESS)
    with pytest.raises(TooManyRequests) as refused:
        await accounts.check_password(user.username, PASSWORD, ADDRESS)
    wait = refused.value.retry_after
    assert wait is not None and 1 <= wait <= 60
    await accounts.check_password(user.username, PASSWORD, ELSEWHERE)


async def test_a_basic_login_is_remembered_without_another_password_check(store):
    accounts = services.build(make_config(password_checks_per_minute=1), store).accounts
    user = await accounts.register(new_username(), PASSWORD)
    for _ in range(5):  # one check, then from memory
        assert (await accounts.check_basic(user.username, PASSWORD, ADDRESS)).id == user.id
    with pytest.raises(TooManyRequests):  # a different password is checked, not remembered
        await accounts.check_basic(user.username, "not the password", ADDRESS)


async def test_closed_registration_creates_no_account(store):
    accounts = services.build(make_config(registration="closed"), store).accounts
    with pytest.raises(Forbidden):
        await accounts.register(new_username(), PASSWORD)
    assert await store.db.users.count_documents({}) == 0


async def test_invite_registration_takes_one_use_of_a_code(store):
    accounts = services.build(make_config(registration="invite"), store).accounts
    with pytest.raises(InvalidInput) as refused:
        await accounts.register(new_username(), PASSWORD)
    assert refused.value.field == "invite"
    code, _ = await store.invites.create(uses=1, ttl_seconds=3600)
    await accounts.register(new_username(), PASSWORD, code)
    with pytest.raises(InvalidInput):
        await accounts.register(new_username(), PASSWORD, code)  # used up
    assert await store.db.users.count_documents({}) == 1


async def test_an_invite_use_comes_back_when_the_name_is_taken(store):
    accounts = services.build(make_config(registration="invite"), store).accounts
    code, _ = await store.invites.create(uses=1, ttl_seconds=3600)
    await store.users.create("alice", None)
    with pytest.raises(Conflict):
        await accounts.register("Alice", PASSWORD, code)
    await accounts.register(new_username(), PASSWORD, code)
