"""Errors the store raises, so that handlers never need to import pymongo."""

from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError


class Unavailable(ConnectionFailure):
    """The database cannot take this operation now: no server is known to be up, or
    the operation could not start within its time."""


# The database did not answer: a request should get 503 and try again later.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure, ExecutionTimeout)


def is_unavailable(error: BaseException) -> bool:
    # an operation past its client-side time limit (timeoutMS) says so in .timeout
    return isinstance(error, UNAVAILABLE_ERRORS) or (
        isinstance(error, PyMongoError) and error.timeout
    )


class Conflict(Exception):
    """A unique value (a username, say) is already taken."""
