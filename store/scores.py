"""The ``scores`` collection: submissions of the classic scoring form.

A submission rates one phone number (``acc_nbr``) with three grades and three
comments. Submissions made while logged in carry the user's id (as a string, like
every reference to a user), and only that user can read them back.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from .clock import utcnow
from .compat import exact, typed

GRADE_FIELDS = ("grade1", "grade2", "grade3")
TEXT_FIELDS = ("txt1", "txt2", "txt3")

_SCHEMA = {"acc_nbr": str, **{name: int for name in GRADE_FIELDS}}


def score(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored submission as plain, typed values."""
    doc = typed(doc, _SCHEMA)
    return {
        "id": str(doc["_id"]),
        "acc_nbr": doc["acc_nbr"],
        **{name: doc[name] for name in GRADE_FIELDS},
        **{name: doc[name] for name in TEXT_FIELDS},
        "user_id": doc.get("user_id"),
        "created_at": doc["created_at"],
    }


@dataclass(frozen=True)
class DayTotals:
    """A UTC day's submissions for one number: how many, and each grade's sum."""

    day: str  # 2026-11-22
    count: int
    sums: dict[str, int]  # by grade field


class Scores:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def create_indexes(self) -> None:
        # serves "this user's submissions for this number, newest first"
        await self.collection.create_index(
            [("user_id", ASCENDING), ("acc_nbr", ASCENDING), ("created_at", DESCENDING)]
        )
        # serve a number's totals and exports, and the export of everything, in the
        # order exported, without sorting in memory. No "_id" in these keys: with one,
        # the embedded server fails every insert ("JSON path error near '_id'").
        await self.collection.create_index([("acc_nbr", ASCENDING), ("created_at", ASCENDING)])
        await self.collection.create_index([("created_at", ASCENDING)])

    async def add(
        self,
        acc_nbr: str,
        grades: Sequence[int],
        texts: Sequence[str],
        user_id: str | None,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "acc_nbr": acc_nbr,
            **dict(zip(GRADE_FIELDS, grades, strict=True)),
            **dict(zip(TEXT_FIELDS, texts, strict=True)),
            "created_at": utcnow(),
        }
        if user_id is not None:
            doc["user_id"] = user_id
        result = await self.collection.insert_one(doc)
        return score({**doc, "_id": result.inserted_id})

    async def submitted_by(self, user_id: str, acc_nbr: str, limit: int) -> list[dict[str, Any]]:
        """``user_id``'s submissions for ``acc_nbr``, newest first."""
        cursor = (
            self.collection.find(exact({"user_id": user_id, "acc_nbr": acc_nbr}))
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [score(doc) async for doc in cursor]

    async def of_user(self, user_id: str) -> list[dict[str, Any]]:
        """Every submission ``user_id`` made, oldest first."""
        cursor = self.collection.find(exact({"user_id": user_id})).sort("created_at", ASCENDING)
        return [score(doc) async for doc in cursor]

    async def delete_of_user(self, user_id: str) -> int:
        result = await self.collection.delete_many(exact({"user_id": user_id}))
        return result.deleted_count

    async def daily_totals(self, acc_nbr: str) -> list[DayTotals]:
        """``acc_nbr``'s submissions grouped by UTC day, oldest day first.

        Grades are summed, not averaged, in the database: sums of whole numbers are
        exact, and the caller divides once. Days are UTC days: a real MongoDB takes a
        ``timezone`` in ``$dateToString``, but the embedded server ignores it.
        """
        pipeline: list[dict[str, Any]] = [
            {"$match": exact({"acc_nbr": acc_nbr})},
            {
                "$group": {
                    "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$created_at"}},
                    "count": {"$sum": 1},
                    **{name: {"$sum": f"${name}"} for name in GRADE_FIELDS},
                }
            },
            {"$sort": {"_id": ASCENDING}},
        ]
        cursor = await self.collection.aggregate(pipeline)
        return [
            DayTotals(
                day=doc["_id"],
                count=int(doc["count"]),
                sums={name: int(doc[name]) for name in GRADE_FIELDS},
            )
            async for doc in cursor
        ]

    async def batches(
        self, acc_nbr: str | None, size: int
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """Every submission (for ``acc_nbr`` when given), oldest first, ``size`` at a
        time, read from one cursor as the caller asks for more; ``aclose()`` it when
        done early."""
        match = exact({"acc_nbr": acc_nbr}) if acc_nbr is not None else {}
        cursor = self.collection.find(match).sort("created_at", ASCENDING).batch_size(size)
        try:
            batch = []
            async for doc in cursor:
                batch.append(score(doc))
                if len(batch) == size:
                    yield batch
                    batch = []
            if batch:
                yield batch
        finally:
            await cursor.close()  # also when the caller stops early
