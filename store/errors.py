"""Errors the store raises, so that handlers never need to import pymongo."""

from pymongo.errors import ConnectionFailure, ExecutionTimeout

# The database did not answer: a request should get 503 and try again later.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure, ExecutionTimeout)


def is_unavailable(error: BaseException) -> bool:
    return isinstance(error, UNAVAILABLE_ERRORS)


class Conflict(Exception):
    """A unique value (a username, say) is already taken."""
