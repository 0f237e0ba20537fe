"""services.miniprogram.MiniProgramLogin on a real database, exchanging codes with the
local code2Session server."""

from __future__ import annotations

import pytest
from code2session_server import code2session  # noqa: F401 (fixture)
from harness.settings import make_config

import services
from services.errors import NotAuthenticated, NotConfigured
from services.miniprogram import MiniProgramLogin
from store.users import miniprogram_username


@pytest.fixture
def login(store, code2session) -> MiniProgramLogin:
    return services.build(make_config(**code2session.settings()), store).miniprogram


@pytest.mark.parametrize("platform", ["wechat", "toutiao"])
async def test_unconfigured_platform_names_the_settings(store, platform):
    unconfigured = services.build(make_config(), store).miniprogram

    with pytest.raises(NotConfigured) as refused:
        await unconfigured.log_in(platform, "any-code")

    assert f"{platform}_appid" in refused.value.message
    assert f"{platform}_secret" in refused.value.message
    assert await store.db.users.count_documents({}) == 0


@pytest.mark.parametrize("platform", ["wechat", "toutiao"])
async def test_a_valid_code_creates_the_account_once(login, code2session, store, platform):
    openid = "o" + "a" * 27

    first = await login.log_in(platform, code2session.issue(platform, openid=openid))
    again = await login.log_in(platform, code2session.issue(platform, openid=openid))

    assert again.id == first.id
    assert first.username == miniprogram_username(platform, openid)
    assert first.password_hash is None
    assert await store.db.users.count_documents({}) == 1


async def test_different_openids_get_different_accounts(login, code2session, store):
    one = await login.log_in("wechat", code2session.issue())
    two = await login.log_in("wechat", code2session.issue())

    assert one.id != two.id
    assert await store.db.users.count_documents({}) == 2


async def test_an_invalid_code_creates_no_account(login, store):
    with pytest.raises(NotAuthenticated) as refused:
        await login.log_in("wechat", "not-a-code-from-wx-login")

    assert refused.value.field == "code"
    assert await store.db.users.count_documents({}) == 0


async def test_a_used_code_is_refused(login, code2session, store):
    code = code2session.issue()
    await login.log_in("wechat", code)

    with pytest.raises(NotAuthenticated) as refused:
        await login.log_in("wechat", code)

    assert refused.value.field == "code"
    assert await store.db.users.count_documents({}) == 1
