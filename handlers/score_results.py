"""The scoring form's results, for its owner: admin accounts only (403 for others).

``GET /api/scores/summary?acc_nbr=`` counts one number's submissions and averages
each grade, in all and by UTC day. ``GET /api/scores/export.csv[?acc_nbr=]`` streams
every submission (or one number's) as CSV, a batch at a time.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from typing import Any, cast

from tornado.iostream import StreamClosedError

from services.encoding import to_json
from services.errors import InvalidInput
from services.scores import GRADE_FIELDS, TEXT_FIELDS, Summary, Tally

from .base import APIHandler, Route, authenticated
from .params import reject_unknown
from .scores import stored_acc_nbr

log = logging.getLogger(__name__)

EXPORT_COLUMNS = ("id", "created_at", "acc_nbr", *GRADE_FIELDS, *TEXT_FIELDS, "user_id")

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's CSV
# injection list); a leading apostrophe makes it text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Excel reads a CSV file as UTF-8 (the comments are Chinese) only after this mark.
_BYTE_ORDER_MARK = "\ufeff"


def tally_json(tally: Tally) -> dict[str, Any]:
    return {"count": tally.count, "means": tally.means}


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "acc_nbr": summary.acc_nbr,
        **tally_json(summary.total),
        "days": [{"day": day, **tally_json(tally)} for day, tally in summary.days],
    }


def safe_cell(value: Any) -> Any:
    """A value as a spreadsheet may open it: text that would start a formula is
    prefixed with ``'``; numbers, and None (an empty cell), stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)  # quotes commas, quotes and line breaks; lines end in \r\n
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()


def export_row(score: Mapping[str, Any]) -> list[Any]:
    return [to_json(score[column]) for column in EXPORT_COLUMNS]


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


class ExportHandler(APIHandler):
    """``GET /api/scores/export.csv[?acc_nbr=]``."""

    @authenticated
    async def get(self) -> None:
        number = checked_query(self)
        reader = await self.accounts.user(self.login)
        batches = await self.scores.export(reader, number)
        name = f"scores-{number}.csv" if number else "scores.csv"
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.write(_BYTE_ORDER_MARK + csv_text([EXPORT_COLUMNS]))
        sent = False
        try:
            async for batch in batches:
                self.write(csv_text(export_row(score) for score in batch))
                await self.flush()
                sent = True
        except StreamClosedError:
            return  # the client went away: nobody to answer
        except Exception:
            if not sent:
                raise  # nothing sent yet: answered as any other error (503, 500)
            # Part of the file is out, so no error status can follow. Dropping the
            # connection before the last chunk shows the client a cut-short download
            # rather than a file that looks whole.
            log.warning("export of scores cut short (request %s)", self.request_id, exc_info=True)
            # HTTP1Connection.close(), seen through server/drain.py's wrapper; the
            # handler's finish() then writes nothing more
            cast(Any, self.request.connection).close()
        finally:
            await batches.aclose()  # its cursor closes now, however the loop ended


routes: list[Route] = [
    (r"/api/scores/summary", SummaryHandler),
    (r"/api/scores/export\.csv", ExportHandler),
]
