"""Everything that talks to MongoDB. Nothing outside this package imports pymongo."""

from .backup import BackupError
from .change_stream import ChangeStreamsUnsupported
from .database import Store, bounded, make_client, open_store, wait_until_reachable
from .errors import Conflict, is_unavailable
from .lists import Person
from .tokens import Login, LoginDetails
from .users import User

__all__ = [
    "BackupError",
    "ChangeStreamsUnsupported",
    "Conflict",
    "Login",
    "LoginDetails",
    "Person",
    "Store",
    "User",
    "bounded",
    "is_unavailable",
    "make_client",
    "open_store",
    "wait_until_reachable",
]
