"""Everything that talks to MongoDB. Nothing outside this package imports pymongo."""

from .database import Store, open_store
from .embedded import EmbeddedMongo, EmbeddedUnavailable
from .errors import Conflict, is_unavailable
from .tokens import Session
from .users import User

__all__ = [
    "Conflict",
    "EmbeddedMongo",
    "EmbeddedUnavailable",
    "Session",
    "Store",
    "User",
    "is_unavailable",
    "open_store",
]
