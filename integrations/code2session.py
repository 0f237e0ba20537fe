"""code2Session: exchanging a mini-program's one-time login code for its user's openid.

WeChat (``wx.login``):
    GET <base>/sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code
    success: ``{"openid", "session_key", "unionid"?}`` (no ``errcode``, often served
    as text/plain); failure: ``{"errcode", "errmsg"}``.
Toutiao / Douyin (``tt.login``):
    POST <base>/api/apps/v2/jscode2session, JSON ``{appid, secret, code, anonymous_code}``
    always answers ``{"err_no", "err_tips", "log_id", "data": {...}}``; ``err_no`` 0 is
    success, and ``data`` holds empty strings on failure.

Each failure becomes a Code2SessionError of the kind that says what the client can
do about it (services/miniprogram.py turns it into taskhub's answer). The
``session_key`` stays in the returned Identity: it is never logged, never stored and
never sent to the client.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger(__name__)

# code2Session normally answers within a few hundred milliseconds; a login must not
# hang on it for tornado's default 20 s.
CONNECT_TIMEOUT = 3.0
REQUEST_TIMEOUT = 5.0

MAX_ID_LENGTH = 128  # openids are 28 characters today; anything far longer is not one
RATE_LIMIT_RETRY_AFTER = 60  # WeChat's quota is per user and per minute

PLATFORM_NAMES = {"wechat": "WeChat", "toutiao": "Toutiao"}


@dataclass(frozen=True)
class Identity:
    """Who a login code belongs to, as the platform confirmed it."""

    platform: str
    openid: str
    unionid: str | None
    session_key: str = field(repr=False)


class Code2SessionError(Exception):
    """The platform did not confirm the code."""

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class InvalidCode(Code2SessionError):
    """The code is unknown, expired or already used: the client calls login again."""


class RateLimited(Code2SessionError):
    """The platform limits how often this user may log in."""


class Blocked(Code2SessionError):
    """The platform refuses this user's logins (WeChat's high-risk users)."""


class Unavailable(Code2SessionError):
    """No usable answer: the platform is busy, slow, unreachable, or said nonsense."""


# WeChat's errcodes
WECHAT_INVALID_CODE = 40029
WECHAT_CODE_USED = 40163
WECHAT_RATE_LIMITED = 45011
WECHAT_HIGH_RISK = 40226
WECHAT_BUSY = -1
# ones that mean taskhub's own settings are wrong
WECHAT_CONFIG_ERRORS = {
    40013: "invalid appid",
    40125: "invalid secret",
    41002: "appid missing",
    41004: "secret missing",
}

# Toutiao's err_nos
TOUTIAO_BUSY = -1
TOUTIAO_BAD_PARAMS = 40014
TOUTIAO_BAD_CODE = 40018
TOUTIAO_BAD_ANONYMOUS_CODE = 40019
TOUTIAO_CONFIG_ERRORS = {40015: "invalid appid", 40017: "invalid secret"}


class Code2Session:
    """One platform's code2Session endpoint, with taskhub's appid and secret."""

    platform = ""

    def __init__(
        self,
        base_url: str,
        appid: str,
        secret: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
    ):
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout

    @property
    def name(self) -> str:
        return PLATFORM_NAMES[self.platform]

    async def exchange(self, code: str, anonymous_code: str | None = None) -> Identity:
        raise NotImplementedError

    def request(self, url: str, **kwargs: Any) -> HTTPRequest:
        return HTTPRequest(
            url,
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            follow_redirects=False,
            headers={"Accept": "application/json"},
            **kwargs,
        )

    async def call(self, request: HTTPRequest) -> dict[str, Any]:
        """The platform's answer as a JSON object; Unavailable for anything else.

        Log lines name the failure only: the request URL holds the app secret.
        """
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except HTTPClientError as e:  # 599: timeout or connection closed
            log.warning("%s code2Session: no answer: %s", self.name, e)
            raise Unavailable(f"{self.name} login did not answer in time; try again") from e
        except Exception as e:  # refused, unreachable, TLS, malformed HTTP
            log.warning("%s code2Session unreachable: %s: %s", self.name, type(e).__name__, e)
            raise Unavailable(f"{self.name} login cannot be reached; try again") from e
        if response.code != 200:
            log.warning("%s code2Session answered HTTP %d", self.name, response.code)
            raise Unavailable(f"{self.name} login failed (HTTP {response.code}); try again")
        try:
            body = json.loads(response.body)
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("%s code2Session answered something other than JSON", self.name)
            raise Unavailable(f"{self.name} login gave an unreadable answer; try again") from e
        if not isinstance(body, dict):
            raise self.malformed("not a JSON object")
        return body

    def malformed(self, what: str) -> Unavailable:
        log.warning("%s code2Session answer is malformed: %s", self.name, what)
        return Unavailable(f"{self.name} login gave an unreadable answer; try again")

    def config_error(self, number: int, what: str) -> Unavailable:
        log.error(
            "%s code2Session refused taskhub's credentials (%d, %s): check %s_appid and %s_secret",
            self.name,
            number,
            what,
            self.platform,
            self.platform,
        )
        return Unavailable(f"{self.name} login is misconfigured on this server")

    def identity(self, openid: Any, unionid: Any, session_key: Any) -> Identity:
        if not _is_id(openid):
            raise self.malformed("no usable openid")
        if not isinstance(session_key, str) or not session_key:
            raise self.malformed("no session_key")
        if unionid in (None, ""):
            unionid = None
        elif not _is_id(unionid):
            raise self.malformed("unusable unionid")
        return Identity(self.platform, openid, unionid, session_key)


class WeChatCode2Session(Code2Session):
    platform = "wechat"

    async def exchange(self, code: str, anonymous_code: str | None = None) -> Identity:
        query = urlencode(
            {
                "appid": self.appid,
                "secret": self.secret,
                "js_code": code,
                "grant_type": "authorization_code",
            }
        )
        body = await self.call(self.request(f"{self.base_url}/sns/jscode2session?{query}"))
        errcode = body.get("errcode", 0)
        if not isinstance(errcode, int) or isinstance(errcode, bool):
            raise self.malformed("errcode is not a number")
        if errcode != 0:
            raise self.failure(errcode, body.get("errmsg"))
        return self.identity(body.get("openid"), body.get("unionid"), body.get("session_key"))

    def failure(self, errcode: int, errmsg: Any) -> Code2SessionError:
        log.info("WeChat code2Session refused a code: errcode %d (%s)", errcode, errmsg)
        if errcode in (WECHAT_INVALID_CODE, WECHAT_CODE_USED):
            return InvalidCode("the login code is invalid or already used; call wx.login again")
        if errcode == WECHAT_RATE_LIMITED:
            return RateLimited(
                "WeChat limits how often this user may log in; try again in a minute",
                retry_after=RATE_LIMIT_RETRY_AFTER,
            )
        if errcode == WECHAT_HIGH_RISK:
            return Blocked("WeChat blocked this login for this user")
        if errcode == WECHAT_BUSY:
            return Unavailable("WeChat is busy; try again shortly")
        if errcode in WECHAT_CONFIG_ERRORS:
            return self.config_error(errcode, WECHAT_CONFIG_ERRORS[errcode])
        log.warning("WeChat code2Session: unexpected errcode %d (%s)", errcode, errmsg)
        return Unavailable(f"WeChat login failed (errcode {errcode}); try again")


class ToutiaoCode2Session(Code2Session):
    platform = "toutiao"

    async def exchange(self, code: str, anonymous_code: str | None = None) -> Identity:
        payload = {
            "appid": self.appid,
            "secret": self.secret,
            "code": code,
            "anonymous_code": anonymous_code or "",
        }
        request = self.request(
            f"{self.base_url}/api/apps/v2/jscode2session",
            method="POST",
            body=json.dumps(payload),
        )
        request.headers["Content-Type"] = "application/json"
        body = await self.call(request)
        err_no = body.get("err_no")
        if not isinstance(err_no, int) or isinstance(err_no, bool):
            raise self.malformed("no err_no")
        if err_no != 0:
            raise self.failure(err_no, body.get("err_tips"), body.get("log_id"))
        data = body.get("data")
        if not isinstance(data, dict):
            raise self.malformed("no data")
        return self.identity(data.get("openid"), data.get("unionid"), data.get("session_key"))

    def failure(self, err_no: int, err_tips: Any, log_id: Any) -> Code2SessionError:
        log.info(
            "Toutiao code2Session refused a code: err_no %d (%s), log_id %s",
            err_no,
            err_tips,
            log_id,
        )
        if err_no in (TOUTIAO_BAD_CODE, TOUTIAO_BAD_ANONYMOUS_CODE):
            return InvalidCode("the login code is invalid or already used; call tt.login again")
        if err_no == TOUTIAO_BUSY:
            return Unavailable("Toutiao is busy; try again shortly")
        if err_no in TOUTIAO_CONFIG_ERRORS:
            return self.config_error(err_no, TOUTIAO_CONFIG_ERRORS[err_no])
        log.warning("Toutiao code2Session: unexpected err_no %d (%s)", err_no, err_tips)
        return Unavailable(f"Toutiao login failed (err_no {err_no}); try again")


CLIENTS: dict[str, type[Code2Session]] = {
    "wechat": WeChatCode2Session,
    "toutiao": ToutiaoCode2Session,
}


def _is_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and not value.isspace()
    )
