"""Domain errors: what a service refuses, and why, in words a client can be shown.

Services raise these; ``handlers/base.py`` gives each kind its HTTP status. Nothing
here knows about HTTP, so the same rules serve every route and the live socket.
"""

from __future__ import annotations

from typing import Any

from store import is_unavailable


class DomainError(Exception):
    """A refusal with a message meant for the client, and the input ``field`` at
    fault when there is one."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """The request's content breaks a rule (a name taken by format, a bad value)."""


class NotAuthenticated(DomainError):
    """Wrong or missing credentials, or a login that has ended."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class NotFound(DomainError):
    """No such thing for this caller: missing, someone else's, or a malformed id."""


class Conflict(DomainError):
    """A unique value is taken, or the request clashes with what is stored."""


class StaleVersion(DomainError):
    """A conditional write named a version the resource is no longer at."""

    def __init__(self, message: str, *, current: Any):
        super().__init__(message)
        self.current = current  # the resource as it is now


class KeyReused(DomainError):
    """An idempotency key came back with a different request."""


class LimitReached(DomainError):
    """The caller holds as many of something as one account may (``limit`` names the
    setting); more needs some removed first."""

    def __init__(self, message: str, *, limit: str):
        super().__init__(message)
        self.limit = limit


class TooManyRequests(DomainError):
    """A limit was reached; ``retry_after`` seconds until it lifts."""

    def __init__(self, message: str, *, retry_after: int | None = None, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Busy(DomainError):
    """The service is saturated for a moment; ``retry_after`` seconds is a fair wait."""

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class NotConfigured(DomainError):
    """The operator has not set up what this needs (a mini-program's appid, say)."""


class UpstreamUnavailable(DomainError):
    """A service on the internet that this needs did not give a usable answer."""

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database did not answer (try again later)."""
    return is_unavailable(error)
