"""Login with a mini-program code: ``wx.login`` (WeChat) and ``tt.login`` (Toutiao).

The client sends the one-time code; taskhub exchanges it through the platform's
code2Session (services/miniprogram.py), finds or creates the account of the openid
it names, and answers exactly like ``/api/login``.
"""

from __future__ import annotations

import re
from typing import Any

from .base import APIHandler, Route
from .params import text

MAX_CODE_LENGTH = 256  # codes are 32 characters today; leave room, refuse junk
CODE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: nothing else is worth sending on


def login_code(fields: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """The code in ``fields[name]``; an optional one may be absent, null or empty (none),
    but is a string when given."""
    if not required and fields.get(name) in (None, ""):
        return None
    return text(
        fields,
        name,
        min_length=1,
        max_length=MAX_CODE_LENGTH,
        strip=True,
        pattern=CODE,
        pattern_help="must be the code the platform's login call gave",
    )


class MiniProgramLoginHandler(APIHandler):
    """``POST /api/login/<platform>`` with ``code`` (and Toutiao's ``anonymous_code``).

    Other fields the classic login flows send along (``userInfo``, ``encryptedData``,
    ``iv``…) are ignored rather than refused.
    """

    uses_login = False
    starts_login = True
    platform = ""

    async def post(self) -> None:
        fields = self.body_fields()
        code = login_code(fields, "code")
        assert code is not None
        user = await self.miniprogram.log_in(self.platform, code, self.anonymous_code(fields))
        await self.log_in(user)

    def anonymous_code(self, fields: dict[str, Any]) -> str | None:
        return None


class WeChatLoginHandler(MiniProgramLoginHandler):
    platform = "wechat"


class ToutiaoLoginHandler(MiniProgramLoginHandler):
    platform = "toutiao"

    def anonymous_code(self, fields: dict[str, Any]) -> str | None:
        return login_code(fields, "anonymous_code", required=False)


routes: list[Route] = [
    (r"/api/login/wechat", WeChatLoginHandler),
    (r"/api/login/toutiao", ToutiaoLoginHandler),
]
