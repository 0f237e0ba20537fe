"""BaseHandler and APIHandler: the services, the current login, JSON bodies, JSON
errors, CORS.

Every JSON route derives from APIHandler, so that every error a client can meet —
bad input, a service's refusal, authentication, unknown routes, a database that is
down, a bug — is a JSON body ``{"error": {"code", "message"}}`` with the right status.
Services refuse with the errors of ``services.errors``; ``STATUSES`` below is the one
place that gives each its HTTP status.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeAlias, TypeVar
from urllib.parse import urlsplit

from tornado.web import HTTPError, RequestHandler

from config import Config
from services import Services
from services.accounts import Accounts, Login
from services.changes import Changes
from services.encoding import dumps, encode
from services.errors import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    KeyReused,
    LimitReached,
    NotAuthenticated,
    NotConfigured,
    NotFound,
    StaleVersion,
    TooManyRequests,
    UpstreamUnavailable,
    database_unavailable,
)
from services.lists import Lists, Person
from services.live import Hub
from services.miniprogram import MiniProgramLogin
from services.scores import Scores
from services.tasks import Tasks

from .params import FORM_TYPES, media_type, parse_json, single_values

log = logging.getLogger(__name__)

LOGIN_COOKIE = "taskhub_session"  # the name browsers already hold
RETRY_AFTER_UNAVAILABLE = 5  # seconds a client should wait when the database is down

_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    426: "upgrade_required",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
}

ALLOWED_REQUEST_HEADERS = (
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, "
    "X-XSRFToken, X-Requested-With"
)
EXPOSED_RESPONSE_HEADERS = "ETag, Location, Retry-After, X-Request-Id"

# Each kind of domain error, and its status.
STATUSES: dict[type[DomainError], int] = {
    InvalidInput: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    StaleVersion: 412,
    KeyReused: 422,
    LimitReached: 403,
    TooManyRequests: 429,
    Busy: 503,
    NotConfigured: 501,
    UpstreamUnavailable: 502,
}
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="taskhub"'}

# A route as tornado.web.Application takes it: (pattern, handler), or
# (pattern, handler, initialize() arguments, name) for reverse_url().
Route: TypeAlias = (
    tuple[str, type[RequestHandler]] | tuple[str, type[RequestHandler], dict[str, Any], str]
)


class APIError(HTTPError):
    """An error meant for the client: its message is shown as it is.

    ``field`` names the offending input field; ``headers`` go out with the answer
    (``Retry-After``, say).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(status, reason=HTTPStatus(status).phrase)
        self.message = message
        self.code = code or _ERROR_CODES.get(status, "error")
        self.field = field
        self.headers = dict(headers or {})


def error_json(status: int, message: str, field: str | None = None) -> str:
    """The JSON error body, for handlers that are not APIHandlers."""
    error = {"code": _ERROR_CODES.get(status, "error"), "message": message}
    if field:
        error["field"] = field
    return dumps({"error": error})


def api_error(error: DomainError) -> APIError:
    """The HTTP answer to a service's refusal."""
    status = next(code for kind, code in STATUSES.items() if isinstance(error, kind))
    headers: dict[str, str] = {}
    if isinstance(error, NotAuthenticated):
        headers.update(BEARER_CHALLENGE)
    if isinstance(error, (TooManyRequests, UpstreamUnavailable, Busy)) and error.retry_after:
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, StaleVersion):
        headers["ETag"] = f'"{error.current["version"]}"'
    code = "limit_reached" if isinstance(error, LimitReached) else None
    return APIError(status, error.message, code=code, field=error.field, headers=headers)


class BaseHandler(RequestHandler):
    """Services from the application settings, the request id and safe logging."""

    # The database error a request failed with (answered 503), for the metrics.
    database_error: BaseException | None = None

    @property
    def services(self) -> Services:
        return self.application.settings["services"]

    @property
    def config(self) -> Config:
        return self.application.settings["config"]

    @property
    def accounts(self) -> Accounts:
        return self.services.accounts

    @property
    def tasks(self) -> Tasks:
        return self.services.tasks

    @property
    def lists(self) -> Lists:
        return self.services.lists

    @property
    def changes(self) -> Changes:
        return self.services.changes

    @property
    def scores(self) -> Scores:
        return self.services.scores

    @property
    def miniprogram(self) -> MiniProgramLogin:
        return self.services.miniprogram

    @property
    def live_hub(self) -> Hub | None:
        return self.services.live

    _request_id: str | None = None

    @property
    def request_id(self) -> str:
        """nginx's ``$request_id`` when it sent one, so that both logs agree. (Kept
        by hand: functools.cached_property takes a lock on every first read.)"""
        if self._request_id is None:
            given = self.request.headers.get("X-Request-Id", "")
            self._request_id = given if _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()
        return self._request_id

    @property
    def loggable_path(self) -> str:
        """The path without its query, which may carry passwords or tickets.
        Handlers whose path itself is a secret override this."""
        return self.request.path

    def set_default_headers(self) -> None:
        self.set_header("X-Request-Id", self.request_id)

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Tornado's own version logs the full URI; ours logs only the loggable path.
        where = f"{self.request.method} {self.loggable_path} (request {self.request_id})"
        if isinstance(value, (APIError, DomainError)):
            return  # the client's mistake; the access log already has it
        if isinstance(value, HTTPError):
            if value.log_message:
                log.warning("%d %s: %s", value.status_code, where, value.log_message % value.args)
        elif value is not None and database_unavailable(value):
            log.warning("%s: database unavailable: %s", where, value)
        else:
            # the exception carries tb as its __traceback__
            log.error("uncaught exception in %s", where, exc_info=value)


H = TypeVar("H", bound="APIHandler")
P = ParamSpec("P")
R = TypeVar("R")


def authenticated(
    method: Callable[Concatenate[H, P], Awaitable[R]],
) -> Callable[Concatenate[H, P], Awaitable[R]]:
    """Answers 401 (never a redirect) unless the request carries a valid login."""

    @functools.wraps(method)
    async def wrapper(self: H, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.current_user is None:
            raise APIError(
                401,
                "log in first: send Authorization: Bearer <token> or the login cookie",
                headers=BEARER_CHALLENGE,
            )
        return await method(self, *args, **kwargs)

    return wrapper


class APIHandler(BaseHandler):
    """A JSON route: logins, bodies, JSON errors and CORS."""

    current_user: Login | None

    # Routes that do not act on the caller's login (login, registration) take no
    # XSRF token even when a stale login cookie comes along.
    uses_login = True

    # --- authentication ---

    def bearer_token(self) -> str | None:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None

    def login_token(self) -> str | None:
        """The token a request authenticates with: a bearer token when an
        Authorization header is present (and then only it), else the login cookie."""
        if "Authorization" in self.request.headers:
            return self.bearer_token()
        value = self.get_signed_cookie(LOGIN_COOKIE)
        return value.decode() if value else None

    # Routes that log in, and so set the login cookie: a page of another site must not
    # sign the browser into an account of its choosing (login CSRF).
    starts_login = False

    async def prepare(self) -> None:
        if self.starts_login and self.request.method == "POST":
            self.refuse_foreign_login()
        # get_current_user cannot await, so the login is loaded here.
        token = self.login_token() if self.uses_login else None
        if token:
            self.current_user = await self.accounts.authenticate(token)

    def refused_origin(self) -> str | None:
        """A browser's Origin when it is neither ours nor configured, else None.
        Clients without an Origin (mini-programs, servers) are not browsers."""
        origin = self.request.headers.get("Origin")
        if origin is None:
            return None
        if self.request.headers.get("Sec-Fetch-Site") in ("same-origin", "none"):
            return None
        if urlsplit(origin).netloc.lower() == self.request.host.lower():
            return None
        return None if self.origin_allowed(origin) else origin

    def refuse_foreign_login(self) -> None:
        """403 for a login sent by a page of another origin, unless it carries our
        XSRF token; mini-programs and token clients send no Origin and pass."""
        refused = self.refused_origin()
        if refused is None:
            return
        try:
            super().check_xsrf_cookie()
        except HTTPError:
            raise APIError(
                403, f"pages from {refused} may not log in here", code="forbidden"
            ) from None

    @property
    def login(self) -> Login:
        """The current login, in methods that ``@authenticated`` guards."""
        assert self.current_user is not None
        return self.current_user

    @property
    def person(self) -> Person:
        """Who the current login acts as, on lists and tasks."""
        return Person(self.login.user_id, self.login.username)

    def check_xsrf_cookie(self) -> None:
        # Only requests a browser authenticates by cookie can be forged cross-site;
        # bearer-token calls, mini-programs and logins without a session cookie can't.
        if not self.uses_login:
            return
        if "Authorization" in self.request.headers or not self.get_cookie(LOGIN_COOKIE):
            return
        super().check_xsrf_cookie()

    async def log_in(self, user: Any) -> None:
        """Logs ``user`` in: a new token, the login cookie, and the login answer."""
        token, login = await self.accounts.log_in(
            user,
            client=self.request.remote_ip or "",
            user_agent=self.request.headers.get("User-Agent", ""),
        )
        self.current_user = login  # so the access log names who logged in
        self.set_signed_cookie(
            LOGIN_COOKIE,
            token,
            expires=login.expires_at,
            httponly=True,
            samesite="Lax",
            secure=self.request.protocol == "https",
        )
        _ = self.xsrf_token  # reading it sets the _xsrf cookie that browser pages send back
        self.write_json({"token": token, "user": user_json(user)})

    # --- request bodies and query strings ---

    def body_fields(self) -> dict[str, Any]:
        """The body as a dict: a JSON object, or form fields (each given once)."""
        body = self.request.body
        kind = self.media_type()
        if not body.strip():
            return {}
        if kind in FORM_TYPES:
            return single_values(self.request.body_arguments, "form field")
        if kind in ("", "application/json", "text/plain") or kind.endswith("+json"):
            value = parse_json(body)
            if not isinstance(value, dict):
                raise APIError(400, "the body must be a JSON object")
            return value
        raise APIError(
            415, f"send application/json or a form, not {kind}", code="unsupported_media_type"
        )

    def media_type(self) -> str:
        return media_type(self.request.headers.get("Content-Type", ""))

    def is_form(self) -> bool:
        return self.media_type() in FORM_TYPES

    def query_fields(self) -> dict[str, str]:
        return single_values(self.request.query_arguments, "query argument")

    # --- answers ---

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(encode(value))

    def no_content(self) -> None:
        """Answers 204: done, nothing to send back."""
        self.set_status(204)
        self.finish()

    def error_body(self, status: int, code: str, message: str, field: str | None) -> Any:
        """The JSON body of an error; representations with their own error shape override it."""
        error = {"code": code, "message": message}
        if field:
            error["field"] = field
        return {"error": error}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        field = None
        if isinstance(error, DomainError):
            error = api_error(error)
            status_code = error.status_code
            self.set_status(status_code)
        if isinstance(error, APIError):
            code, message, field = error.code, error.message, error.field
            for name, value in error.headers.items():
                self.set_header(name, value)
        elif error is not None and database_unavailable(error):
            self.database_error = error
            status_code = 503
            self.set_status(503)
            self.set_header("Retry-After", str(RETRY_AFTER_UNAVAILABLE))
            code, message = _ERROR_CODES[503], "the database is not answering; try again shortly"
        elif isinstance(error, HTTPError) and status_code < 500:
            code = _ERROR_CODES.get(status_code, "error")
            message = (error.log_message % error.args) if error.log_message else self._reason
        elif status_code >= 500:
            code = _ERROR_CODES.get(status_code, "internal_error")
            message = f"internal error; quote request {self.request_id} when reporting it"
        else:
            code, message = _ERROR_CODES.get(status_code, "error"), self._reason
        if status_code == 405 and "Allow" not in self._headers:
            self.set_header("Allow", ", ".join(self.implemented_methods()))  # RFC 9110
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        body = self.error_body(status_code, code, message, field)
        self.finish(encode(body))

    # --- CORS ---

    # "credentials": only the configured origins may call, with cookies and tokens.
    # "public": any origin may call, never with credentials; for URLs that carry
    # their own authority (Todo-Backend capability URLs) or need none.
    cors_policy = "credentials"

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")
        if self.cors_policy == "public":
            # the same answer for every origin: no Vary, no credentials
            self.set_header("Access-Control-Allow-Origin", "*")
            self.set_header("Access-Control-Expose-Headers", EXPOSED_RESPONSE_HEADERS)
            return
        # even without an Origin: a cache must not hand this answer to another origin
        self.set_header("Vary", "Origin")
        origin = self.request.headers.get("Origin")
        if origin is None:
            return
        if self.origin_allowed(origin):
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Allow-Credentials", "true")
            self.set_header("Access-Control-Expose-Headers", EXPOSED_RESPONSE_HEADERS)

    def origin_allowed(self, origin: str) -> bool:
        return origin.rstrip("/") in self.config.cors_origins

    def implemented_methods(self) -> list[str]:
        def implemented(method: str) -> bool:
            if method == "HEAD":  # answered wherever GET is (see head())
                method = "GET"
            return getattr(type(self), method.lower()) is not getattr(
                RequestHandler, method.lower()
            )

        return [m for m in self.SUPPORTED_METHODS if implemented(m)]

    async def head(self, *args: Any, **kwargs: Any) -> None:
        """HEAD wherever GET is answered, as uptime checkers and load balancers send
        it: the same status and headers; Tornado leaves the body out."""
        if "GET" not in self.implemented_methods():
            raise HTTPError(405)
        result = self.get(*args, **kwargs)
        if result is not None:
            await result

    async def options(self, *args: Any, **kwargs: Any) -> None:
        """A CORS preflight: allowed origins get the methods and headers they may use."""
        origin = self.request.headers.get("Origin")
        if origin and (self.cors_policy == "public" or self.origin_allowed(origin)):
            self.set_header("Access-Control-Allow-Methods", ", ".join(self.implemented_methods()))
            self.set_header("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS)
            self.set_header("Access-Control-Max-Age", "600")
        self.set_header("Allow", ", ".join(self.implemented_methods()))
        self.no_content()


def user_json(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "created_at": user.created_at,
        "admin": user.admin,
    }


class NotFoundHandler(APIHandler):
    """Every unknown path: a JSON 404, whatever the method."""

    async def prepare(self) -> None:
        raise APIError(404, f"no route {self.request.path}")


class PayloadTooLargeHandler(APIHandler):
    """What a request whose body passed the limit gets (server/body_limit.py)."""

    async def prepare(self) -> None:
        limit = self.config.max_body_size
        raise APIError(413, f"the body is larger than the limit of {limit} bytes")
