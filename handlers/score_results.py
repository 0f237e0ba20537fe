"""The scoring form's results, for its owner: admin accounts only (403 for others).

``GET /api/scores/summary?acc_nbr=`` counts one number's submissions and averages
each grade, in all and by UTC day.
"""

from __future__ import annotations

from typing import Any

from services.errors import InvalidInput
from services.scores import Summary, Tally

from .base import APIHandler, Route, authenticated
from .params import reject_unknown
from .scores import stored_acc_nbr


def tally_json(tally: Tally) -> dict[str, Any]:
    return {"count": tally.count, "means": tally.means}


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "acc_nbr": summary.acc_nbr,
        **tally_json(summary.total),
        "days": [{"day": day, **tally_json(tally)} for day, tally in summary.days],
    }


def checked_query(handler: APIHandler) -> str | None:
    """The query's ``acc_nbr`` (None when absent); 400 for any other argument."""
    query = handler.query_fields()
    reject_unknown(query, ("acc_nbr",), what="query argument")
    return stored_acc_nbr(query)


class SummaryHandler(APIHandler):
    """``GET /api/scores/summary?acc_nbr=``."""

    @authenticated
    async def get(self) -> None:
        number = checked_query(self)
        if number is None:
            raise InvalidInput("acc_nbr is required", field="acc_nbr")
        reader = await self.accounts.user(self.login)
        self.write_json(summary_json(await self.scores.summary(reader, number)))


routes: list[Route] = [
    (r"/api/scores/summary", SummaryHandler),
]
