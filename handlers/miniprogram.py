"""Login with a mini-program code: ``wx.login`` (WeChat) and ``tt.login`` (Toutiao).

The client sends the one-time code; taskhub exchanges it through the platform's
code2Session (services/miniprogram.py), finds or creates the account of the openid
it names, and answers exactly like ``/api/login``.
"""

from __future__ import annotations

from typing import Any

from .base import APIHandler, Route
from .params import optional_text, text

MAX_CODE_LENGTH = 256  # codes are 32 characters today; leave room, refuse junk


class MiniProgramLoginHandler(APIHandler):
    """``POST /api/login/<platform>`` with ``code`` (and Toutiao's ``anonymous_code``).

    Other fields the classic login flows send along (``userInfo``, ``encryptedData``,
    ``iv``…) are ignored rather than refused.
    """

    uses_login = False
    platform = ""

    async def post(self) -> None:
        fields = self.body_fields()
        code = text(fields, "code", min_length=1, max_length=MAX_CODE_LENGTH, strip=True)
        user = await self.miniprogram.log_in(self.platform, code, self.anonymous_code(fields))
        await self.log_in(user)

    def anonymous_code(self, fields: dict[str, Any]) -> str | None:
        return None


class WeChatLoginHandler(MiniProgramLoginHandler):
    platform = "wechat"


class ToutiaoLoginHandler(MiniProgramLoginHandler):
    platform = "toutiao"

    def anonymous_code(self, fields: dict[str, Any]) -> str | None:
        value = optional_text(fields, "anonymous_code", max_length=MAX_CODE_LENGTH, strip=True)
        return value or None


routes: list[Route] = [
    (r"/api/login/wechat", WeChatLoginHandler),
    (r"/api/login/toutiao", ToutiaoLoginHandler),
]
