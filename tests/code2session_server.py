"""A local stand-in for WeChat's and Toutiao's code2Session endpoints, the only test
double of the suite. It speaks their documented protocols, errors included:

WeChat   GET  /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
         success {"openid", "session_key", "unionid"?} without errcode, as text/plain;
         errors {"errcode", "errmsg"}: 40029 invalid code, 40163 code been used,
         45011 minute quota per user, -1 system busy, 40013 invalid appid,
         40125 invalid secret, 41008 missing code, 40002 bad grant_type.
Toutiao  POST /api/apps/v2/jscode2session with JSON {appid, secret, code, anonymous_code}
         always {"err_no", "err_tips", "log_id", "data"}: 0 success, 40014 bad
         parameters, 40015 bad appid, 40017 bad secret, 40018 bad code, 40019 bad
         anonymous code, -1 system error.

Codes come from ``issue()`` in tests, or over HTTP from ``POST /dev/login`` — what
``wx.login``/``tt.login`` do on a phone — for the mini-program harness. Each code is
single-use and expires after five minutes. ``fail_next()`` scripts the next answers:
busy, rate limited, a hang (timeout), non-JSON, malformed JSON, an HTTP error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

CODE_TTL = 300
QUOTA_MESSAGE = "api minute-quota reach limit, retry next minute"
WECHAT_APPID, WECHAT_SECRET = "wx0123456789abcdef", "wechat-test-secret-0123456789"
TOUTIAO_APPID, TOUTIAO_SECRET = "tt0123456789abcdef", "toutiao-test-secret-0123456789"

# what fail_next() can script; Toutiao documents no rate-limit code, so it has none
FAILURES = {
    "wechat": ("busy", "rate_limited", "hang", "not_json", "malformed", "http_error"),
    "toutiao": ("busy", "hang", "not_json", "malformed", "http_error"),
}


@dataclass
class Code:
    platform: str
    appid: str
    openid: str
    unionid: str | None
    issued_at: float = field(default_factory=time.monotonic)
    used: bool = False


class Code2SessionServer:
    def __init__(self, minute_quota: int = 100):
        self.apps = {
            "wechat": {WECHAT_APPID: WECHAT_SECRET},
            "toutiao": {TOUTIAO_APPID: TOUTIAO_SECRET},
        }
        self.codes: dict[str, Code] = {}
        self.anonymous_codes: dict[str, str] = {}  # anonymous code -> anonymous openid
        self.minute_quota = minute_quota  # WeChat: code2Session calls per user per minute
        self.calls_per_user: dict[tuple[str, str], deque[float]] = {}
        self.scripted: dict[str, deque[str]] = {"wechat": deque(), "toutiao": deque()}
        self.requests: list[dict[str, Any]] = []  # every exchange received, for assertions
        self.session_keys: list[str] = []  # every session_key handed out
        self.stopping = asyncio.Event()
        self.server: HTTPServer | None = None
        self.url = ""

    # --- for tests ---

    def settings(self) -> dict[str, str]:
        """taskhub settings pointing at this server."""
        return {
            "wechat_appid": WECHAT_APPID,
            "wechat_secret": WECHAT_SECRET,
            "wechat_api_base": self.url,
            "toutiao_appid": TOUTIAO_APPID,
            "toutiao_secret": TOUTIAO_SECRET,
            "toutiao_api_base": self.url,
        }

    def issue(
        self,
        platform: str = "wechat",
        openid: str | None = None,
        unionid: str | None = None,
        appid: str | None = None,
    ) -> str:
        """A fresh login code for ``openid`` (a new user when None)."""
        appid = appid or next(iter(self.apps[platform]))
        code = secrets.token_hex(16)
        self.codes[code] = Code(platform, appid, openid or new_openid(platform), unionid)
        return code

    def issue_anonymous(self) -> str:
        code = secrets.token_hex(16)
        self.anonymous_codes[code] = new_openid("toutiao")
        return code

    def fail_next(self, platform: str, *failures: str) -> None:
        for failure in failures:
            assert failure in FAILURES[platform], (platform, failure)
            self.scripted[platform].append(failure)

    async def start(self) -> str:
        app = Application(
            [
                (r"/sns/jscode2session", WeChatHandler, {"server": self}),
                (r"/api/apps/v2/jscode2session", ToutiaoHandler, {"server": self}),
                (r"/dev/login", DevLoginHandler, {"server": self}),
            ],
            # the real services' logs are theirs; the test double logs nothing, so
            # that log assertions see only taskhub's own lines
            log_function=lambda handler: None,
        )
        self.server = HTTPServer(app)
        sockets = bind_sockets(0, "127.0.0.1")
        self.server.add_sockets(sockets)
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        self.stopping.set()
        if self.server:
            self.server.stop()
            await self.server.close_all_connections()

    # --- shared by both protocols ---

    def redeem(self, platform: str, code: str) -> tuple[Code | None, str]:
        """The code's record and "ok", or None and why not ("unknown", "used", "expired")."""
        record = self.codes.get(code)
        if record is None or record.platform != platform:
            return None, "unknown"
        if record.used:
            return None, "used"
        if time.monotonic() - record.issued_at > CODE_TTL:
            return None, "expired"
        return record, "ok"

    def over_quota(self, record: Code) -> bool:
        now = time.monotonic()
        calls = self.calls_per_user.setdefault((record.appid, record.openid), deque())
        while calls and now - calls[0] > 60:
            calls.popleft()
        if len(calls) >= self.minute_quota:
            return True
        calls.append(now)
        return False

    def new_session_key(self) -> str:
        key = secrets.token_urlsafe(18)
        self.session_keys.append(key)
        return key


def new_openid(platform: str) -> str:
    # shaped like the real ones: 28 characters
    prefix = "o" if platform == "wechat" else "_000"
    return (prefix + secrets.token_urlsafe(24))[:28]


class Base(RequestHandler):
    platform = ""

    def initialize(self, server: Code2SessionServer) -> None:
        self.server = server
        self.closed = asyncio.Event()

    def on_connection_close(self) -> None:
        self.closed.set()

    async def scripted(self) -> bool:
        """Plays the next scripted failure, if any; True when it answered."""
        queue = self.server.scripted[self.platform]
        if not queue:
            return False
        failure = queue.popleft()
        if failure == "hang":
            # answer nothing until the client gives up or the server stops
            waits = [
                asyncio.ensure_future(self.closed.wait()),
                asyncio.ensure_future(self.server.stopping.wait()),
            ]
            await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
            return True
        if failure == "not_json":
            self.set_header("Content-Type", "text/html")
            self.finish("<html><body>upstream gateway</body></html>")
        elif failure == "http_error":
            self.set_status(502)
            self.set_header("Content-Type", "text/html")
            self.finish("<html><body>502 Bad Gateway</body></html>")
        else:
            self.answer_failure(failure)
        return True

    def answer_failure(self, failure: str) -> None:
        raise NotImplementedError

    def answer(self, body: Any) -> None:
        raise NotImplementedError


class WeChatHandler(Base):
    platform = "wechat"

    async def get(self) -> None:
        names = ("appid", "secret", "js_code", "grant_type")
        args = {name: self.get_query_argument(name, None) for name in names}
        self.server.requests.append({"platform": "wechat", **args})
        if await self.scripted():
            return
        apps = self.server.apps["wechat"]
        if args["appid"] not in apps:
            return self.error(40013, "invalid appid")
        if args["secret"] != apps[args["appid"]]:
            return self.error(40125, "invalid appsecret")
        if args["grant_type"] != "authorization_code":
            return self.error(40002, "invalid grant_type")
        if not args["js_code"]:
            return self.error(41008, "missing code")
        record, why = self.server.redeem("wechat", args["js_code"])
        if record is None or record.appid != args["appid"]:
            if why == "used":
                return self.error(40163, "code been used")
            return self.error(40029, "invalid code")
        if self.server.over_quota(record):
            return self.error(45011, QUOTA_MESSAGE)
        record.used = True
        body = {"session_key": self.server.new_session_key(), "openid": record.openid}
        if record.unionid:
            body["unionid"] = record.unionid
        self.answer(body)

    def error(self, errcode: int, errmsg: str) -> None:
        self.answer({"errcode": errcode, "errmsg": f"{errmsg}, rid: {secrets.token_hex(4)}"})

    def answer_failure(self, failure: str) -> None:
        if failure == "busy":
            self.error(-1, "system error")
        elif failure == "rate_limited":
            self.error(45011, QUOTA_MESSAGE)
        elif failure == "malformed":
            self.answer({"session_key": self.server.new_session_key()})  # no openid

    def answer(self, body: Any) -> None:
        self.set_header("Content-Type", "text/plain")  # as WeChat serves it
        self.finish(json.dumps(body))


class ToutiaoHandler(Base):
    platform = "toutiao"

    async def post(self) -> None:
        try:
            args = json.loads(self.request.body)
        except ValueError:
            args = None
        self.server.requests.append(
            {
                "platform": "toutiao",
                "content_type": self.request.headers.get("Content-Type"),
                **(args if isinstance(args, dict) else {}),
            }
        )
        if await self.scripted():
            return
        if not self.request.headers.get("Content-Type", "").startswith("application/json"):
            return self.error(40014, "bad params: content-type must be application/json")
        if not isinstance(args, dict) or not (args.get("code") or args.get("anonymous_code")):
            return self.error(40014, "bad params")
        apps = self.server.apps["toutiao"]
        if args.get("appid") not in apps:
            return self.error(40015, "bad appid")
        if args.get("secret") != apps[args["appid"]]:
            return self.error(40017, "bad secret")
        data = {"session_key": "", "openid": "", "anonymous_openid": "", "unionid": ""}
        if args.get("anonymous_code"):
            anonymous = self.server.anonymous_codes.pop(args["anonymous_code"], None)
            if anonymous is None:
                return self.error(40019, "bad anonymous code")
            data["anonymous_openid"] = anonymous
        if args.get("code"):
            record, _ = self.server.redeem("toutiao", args["code"])
            if record is None or record.appid != args["appid"]:
                return self.error(40018, "bad code")
            record.used = True
            data.update(
                session_key=self.server.new_session_key(),
                openid=record.openid,
                unionid=record.unionid or "",
            )
        self.answer({"err_no": 0, "err_tips": "success", "log_id": log_id(), "data": data})

    def error(self, err_no: int, err_tips: str) -> None:
        self.answer(
            {
                "err_no": err_no,
                "err_tips": err_tips,
                "log_id": log_id(),
                "data": {"session_key": "", "openid": "", "anonymous_openid": "", "unionid": ""},
            }
        )

    def answer_failure(self, failure: str) -> None:
        if failure == "busy":
            self.error(-1, "system error")
        elif failure == "malformed":
            self.answer({"err_no": 0, "err_tips": "success", "log_id": log_id(), "data": None})

    def answer(self, body: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


def log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(8).upper()


class DevLoginHandler(RequestHandler):
    """``POST /dev/login`` {platform, openid?, unionid?}: what the phone's wx.login /
    tt.login would give the mini-program: ``{"code"}`` (and Toutiao's
    ``anonymous_code``)."""

    def initialize(self, server: Code2SessionServer) -> None:
        self.server = server

    def post(self) -> None:
        args = json.loads(self.request.body or b"{}")
        platform = args.get("platform", "wechat")
        if platform not in self.server.apps:
            self.set_status(400)
            self.finish({"error": f"unknown platform {platform!r}"})
            return
        answer = {"code": self.server.issue(platform, args.get("openid"), args.get("unionid"))}
        if platform == "toutiao":
            answer["anonymous_code"] = self.server.issue_anonymous()
        self.finish(answer)


@pytest.fixture
async def code2session() -> AsyncIterator[Code2SessionServer]:
    """A code2Session server on a free loopback port for the test's duration."""
    server = Code2SessionServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
