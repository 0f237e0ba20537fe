"""Login with a mini-program code: ``wx.login`` (WeChat) and ``tt.login`` (Toutiao).

The client sends the one-time code; taskhub exchanges it through the platform's
code2Session, finds or creates the account of the openid it names, and answers
exactly like ``/api/login``. A failed exchange creates no account.
"""

from __future__ import annotations

from security.code2session import CLIENTS, PLATFORM_NAMES, Code2Session, Code2SessionError

from .base import APIError, APIHandler
from .fields import text

MAX_CODE_LENGTH = 256  # codes are 32 characters today; leave room, refuse junk


class MiniProgramLoginHandler(APIHandler):
    """``POST /api/login/<platform>`` with ``code`` (and Toutiao's ``anonymous_code``).

    Other fields the classic login flows send along (``userInfo``, ``encryptedData``,
    ``iv``…) are ignored rather than refused.
    """

    uses_session = False
    platform = ""

    def code2session(self) -> Code2Session:
        appid = getattr(self.config, f"{self.platform}_appid")
        secret = getattr(self.config, f"{self.platform}_secret")
        if not appid or not secret:
            flag = self.platform.replace("_", "-")
            raise APIError(
                501,
                f"{PLATFORM_NAMES[self.platform]} login is not configured on this server: "
                f"set {self.platform}_appid and {self.platform}_secret "
                f"(--{flag}-appid/--{flag}-secret or TASKHUB_{self.platform.upper()}_APPID/"
                f"TASKHUB_{self.platform.upper()}_SECRET)",
            )
        base_url = getattr(self.config, f"{self.platform}_api_base")
        return CLIENTS[self.platform](base_url, appid, secret)

    async def post(self) -> None:
        code2session = self.code2session()
        fields = self.body_fields()
        code = text(fields, "code", min_length=1, max_length=MAX_CODE_LENGTH, strip=True)
        anonymous_code = self.anonymous_code(fields)
        try:
            identity = await code2session.exchange(code, anonymous_code)
        except Code2SessionError as e:
            headers = {"Retry-After": str(e.retry_after)} if e.retry_after else {}
            if e.status == 401:
                headers["WWW-Authenticate"] = 'Bearer realm="taskhub"'
            field = "code" if e.status == 401 else None
            raise APIError(e.status, e.message, field=field, headers=headers) from e
        user = await self.store.users.for_miniprogram(
            identity.platform, identity.openid, identity.unionid
        )
        await self.start_session(user)

    def anonymous_code(self, fields: dict) -> str | None:
        return None


class WeChatLoginHandler(MiniProgramLoginHandler):
    platform = "wechat"


class ToutiaoLoginHandler(MiniProgramLoginHandler):
    platform = "toutiao"

    def anonymous_code(self, fields: dict) -> str | None:
        value = text(
            fields, "anonymous_code", max_length=MAX_CODE_LENGTH, strip=True, required=False
        )
        return value or None


routes = [
    (r"/api/login/wechat", WeChatLoginHandler),
    (r"/api/login/toutiao", ToutiaoLoginHandler),
]
