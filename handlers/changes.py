"""``GET /api/changes?since=&limit=``: sync without a socket.

The same messages as ``/api/live`` (``seq``, ``task.*``), oldest first:
``{"changes": [...], "seq": <ask after this next>, "more": bool}``, or
``{"resync": true, "seq": n}`` when ``since`` is older than the change log keeps
(fetch the lists again, then follow from ``n``). Without ``since``: no changes, and
the ``seq`` where the log stands. A client that remembers ``seq`` may mix this and
the socket freely.
"""

from __future__ import annotations

from services.changes import Resync

from .base import APIHandler, Route, authenticated
from .params import bounded_int, reject_unknown

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SEQ = 10**18 - 1


class ChangesHandler(APIHandler):
    @authenticated
    async def get(self) -> None:
        query = self.query_fields()
        reject_unknown(query, ("since", "limit", "_"), "query argument")
        since = bounded_int(query, "since", low=0, high=MAX_SEQ)
        limit = bounded_int(query, "limit", low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
        assert limit is not None
        answer = await self.changes.since(self.login.user_id, since, limit)
        if isinstance(answer, Resync):
            self.write_json({"resync": True, "seq": answer.seq})
            return
        self.write_json({"changes": answer.changes, "seq": answer.seq, "more": answer.more})


routes: list[Route] = [(r"/api/changes", ChangesHandler)]
