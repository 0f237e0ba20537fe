"""Login with a mini-program code (``wx.login``, ``tt.login``): exchange it through
the platform's code2Session, then find or create the account of the openid it names.
A failed exchange creates no account."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.code2session import (
    CLIENTS,
    PLATFORM_NAMES,
    Blocked,
    Code2SessionError,
    InvalidCode,
    RateLimited,
)
from store import User

from .accounts import Accounts
from .errors import Forbidden, NotAuthenticated, NotConfigured, TooManyRequests, UpstreamUnavailable


@dataclass(frozen=True)
class PlatformApp:
    """taskhub's registration with one platform: its appid, secret and API base."""

    appid: str | None
    secret: str | None
    api_base: str


class MiniProgramLogin:
    def __init__(self, accounts: Accounts, apps: dict[str, PlatformApp]):
        self.accounts = accounts
        self.apps = apps

    async def log_in(self, platform: str, code: str, anonymous_code: str | None = None) -> User:
        """The account behind a login ``code``; NotConfigured without an appid and
        secret, and the platform's refusals as domain errors."""
        app = self.apps[platform]
        if not app.appid or not app.secret:
            flag, env = platform.replace("_", "-"), "TASKHUB_" + platform.upper()
            raise NotConfigured(
                f"{PLATFORM_NAMES[platform]} login is not configured on this server: "
                f"set {platform}_appid and {platform}_secret "
                f"(--{flag}-appid/--{flag}-secret or {env}_APPID/{env}_SECRET)"
            )
        client = CLIENTS[platform](app.api_base, app.appid, app.secret)
        try:
            identity = await client.exchange(code, anonymous_code)
        except Code2SessionError as e:
            raise refusal(e) from e
        return await self.accounts.miniprogram_user(
            identity.platform, identity.openid, identity.unionid
        )


def refusal(error: Code2SessionError) -> Exception:
    if isinstance(error, InvalidCode):
        return NotAuthenticated(error.message, field="code")
    if isinstance(error, RateLimited):
        return TooManyRequests(error.message, retry_after=error.retry_after)
    if isinstance(error, Blocked):
        return Forbidden(error.message)
    return UpstreamUnavailable(error.message, retry_after=error.retry_after)
