"""BaseHandler and APIHandler: current user, JSON bodies, JSON errors, CORS, logs.

Every JSON route derives from APIHandler, so that every error a client can meet —
bad input, authentication, unknown routes, a database that is down, a bug — is a
JSON body ``{"error": {"code", "message"}}`` with the right status.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Mapping, TypeVar

from bson import ObjectId
from tornado.web import HTTPError, RequestHandler

from config import Config
from store import Session, Store, is_unavailable

log = logging.getLogger(__name__)

SESSION_COOKIE = "taskhub_session"
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


def to_json(value: Any) -> Any:
    """The JSON form of store values: ids and times become strings here, at the edge."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, ObjectId):
        return str(value)
    return value


class BaseHandler(RequestHandler):
    """Services from the application settings, the request id and safe logging."""

    @property
    def store(self) -> Store:
        return self.application.settings["store"]

    @property
    def config(self) -> Config:
        return self.application.settings["config"]

    @functools.cached_property
    def request_id(self) -> str:
        """nginx's ``$request_id`` when it sent one, so that both logs agree."""
        given = self.request.headers.get("X-Request-Id", "")
        return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @property
    def loggable_path(self) -> str:
        """The path without its query, which may carry passwords or tickets.
        Handlers whose path itself is a secret override this."""
        return self.request.path

    def set_default_headers(self) -> None:
        self.set_header("X-Request-Id", self.request_id)

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[override]
        # Tornado's own version logs the full URI; ours logs only the loggable path.
        where = f"{self.request.method} {self.loggable_path} (request {self.request_id})"
        if isinstance(value, APIError):
            return  # the client's mistake; the access log already has it
        if isinstance(value, HTTPError):
            if value.log_message:
                log.warning("%d %s: %s", value.status_code, where, value.log_message % value.args)
        elif is_unavailable(value):
            log.warning("%s: database unavailable: %s", where, value)
        else:
            log.error("uncaught exception in %s", where, exc_info=(typ, value, tb))


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def authenticated(method: F) -> F:
    """Answers 401 (never a redirect) unless the request carries a valid session."""

    @functools.wraps(method)
    async def wrapper(self: "APIHandler", *args: Any, **kwargs: Any) -> Any:
        if self.current_user is None:
            raise APIError(
                401,
                "log in first: send Authorization: Bearer <token> or the session cookie",
                headers={"WWW-Authenticate": 'Bearer realm="taskhub"'},
            )
        return await method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class APIHandler(BaseHandler):
    """A JSON route: sessions, bodies, JSON errors and CORS."""

    current_user: Session | None

    # Routes that do not act on the caller's session (login, registration) take no
    # XSRF token even when a stale session cookie comes along.
    uses_session = True

    # --- authentication ---

    def bearer_token(self) -> str | None:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None

    def session_token(self) -> str | None:
        """The token a request authenticates with: a bearer token when an
        Authorization header is present (and then only it), else the session cookie."""
        if "Authorization" in self.request.headers:
            return self.bearer_token()
        value = self.get_signed_cookie(SESSION_COOKIE)
        return value.decode() if value else None

    async def prepare(self) -> None:
        # get_current_user cannot await, so the session is loaded here.
        token = self.session_token() if self.uses_session else None
        if token:
            self.current_user = await self.store.tokens.lookup(token)

    def check_xsrf_cookie(self) -> None:
        # Only requests a browser authenticates by cookie can be forged cross-site;
        # bearer-token calls, mini-programs and logins without a session cookie can't.
        if not self.uses_session:
            return
        if "Authorization" in self.request.headers or not self.get_cookie(SESSION_COOKIE):
            return
        super().check_xsrf_cookie()

    async def start_session(self, user: Any) -> None:
        """Logs ``user`` in: a new token, the session cookie, and the login answer."""
        token, session = await self.store.tokens.issue(user, self.config.token_ttl)
        self.current_user = session  # so the access log names who logged in
        self.set_signed_cookie(
            SESSION_COOKIE,
            token,
            expires=session.expires_at,
            httponly=True,
            samesite="Lax",
            secure=self.request.protocol == "https",
        )
        self.xsrf_token  # sets the _xsrf cookie that browser pages send back
        self.write_json({"token": token, "user": user_json(user)})

    # --- request bodies and query strings ---

    def body_fields(self) -> dict[str, Any]:
        """The body as a dict: a JSON object, or form fields (each given once)."""
        body = self.request.body
        media_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not body.strip():
            return {}
        if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            return single_values(self.request.body_arguments, "form field")
        if media_type in ("", "application/json", "text/plain") or media_type.endswith("+json"):
            try:
                value = json.loads(body)
            except (ValueError, UnicodeDecodeError) as e:
                raise APIError(400, f"the body is not valid JSON: {e}") from e
            if not isinstance(value, dict):
                raise APIError(400, "the body must be a JSON object")
            return value
        raise APIError(
            415, f"send application/json or a form, not {media_type}", code="unsupported_media_type"
        )

    def query_fields(self) -> dict[str, str]:
        return single_values(self.request.query_arguments, "query argument")

    # --- answers ---

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(to_json(value), ensure_ascii=False, separators=(",", ":")))

    def error_body(self, status: int, code: str, message: str, field: str | None) -> Any:
        """The JSON body of an error; representations with their own error shape override it."""
        error = {"code": code, "message": message}
        if field:
            error["field"] = field
        return {"error": error}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        field = None
        if isinstance(error, APIError):
            code, message, field = error.code, error.message, error.field
            for name, value in error.headers.items():
                self.set_header(name, value)
        elif error is not None and is_unavailable(error):
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
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":")))

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
        return [
            m
            for m in self.SUPPORTED_METHODS
            if getattr(type(self), m.lower()) is not getattr(RequestHandler, m.lower())
        ]

    async def options(self, *args: Any, **kwargs: Any) -> None:
        """A CORS preflight: allowed origins get the methods and headers they may use."""
        origin = self.request.headers.get("Origin")
        if origin and (self.cors_policy == "public" or self.origin_allowed(origin)):
            self.set_header("Access-Control-Allow-Methods", ", ".join(self.implemented_methods()))
            self.set_header("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS)
            self.set_header("Access-Control-Max-Age", "600")
        self.set_header("Allow", ", ".join(self.implemented_methods()))
        self.set_status(204)
        self.finish()


def single_values(arguments: Mapping[str, list[bytes]], what: str) -> dict[str, str]:
    """Form or query arguments as one string each; a repeated name is an error."""
    out = {}
    for name, values in arguments.items():
        if len(values) != 1:
            raise APIError(400, f"{what} {name!r} is given more than once", field=name)
        try:
            out[name] = values[0].decode("utf-8")
        except UnicodeDecodeError as e:
            raise APIError(400, f"{what} {name!r} is not UTF-8", field=name) from e
    return out


def user_json(user: Any) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "created_at": user.created_at}


class NotFoundHandler(APIHandler):
    """Every unknown path: a JSON 404, whatever the method."""

    async def prepare(self) -> None:
        raise APIError(404, f"no route {self.request.path}")
