"""The scoring form's rules: flood control per client address, and who may read
which submissions: a user their own, an admin account everyone's (the form's owner
reading the results)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from store import Store, User
from store.scores import GRADE_FIELDS, TEXT_FIELDS

from .accounts import seconds_until
from .errors import Forbidden, TooManyRequests

__all__ = ["GRADE_FIELDS", "TEXT_FIELDS", "Scores", "Summary"]

# submissions per client address within the store's window (a minute)
FLOOD_LIMIT = 20

# submissions an export reads from the database at a time
EXPORT_BATCH = 500


@dataclass(frozen=True)
class Tally:
    """How many submissions, and the mean of each grade over them (None for none),
    to two decimals."""

    count: int
    means: dict[str, float | None]

    @classmethod
    def of(cls, count: int, sums: dict[str, int]) -> Tally:
        return cls(
            count=count,
            means={name: round(sums[name] / count, 2) if count else None for name in GRADE_FIELDS},
        )


@dataclass(frozen=True)
class Summary:
    """One number's results: all days together, and each UTC day with submissions."""

    acc_nbr: str
    total: Tally
    days: list[tuple[str, Tally]]  # ("2026-11-22", its tally), oldest first


def require_admin(reader: User) -> None:
    if not reader.admin:
        raise Forbidden(
            "only admin accounts may read every user's scores "
            "(an operator makes one with: taskhub user admin NAME --on)"
        )


class Scores:
    def __init__(self, store: Store, *, max_per_day: int = 1000):
        self.store = store
        self.max_per_day = max_per_day

    async def admit(self, address: str) -> None:
        """Counts one submission from ``address``; TooManyRequests once it sent
        FLOOD_LIMIT within the window. Counted in MongoDB, so every process agrees."""
        flood = self.store.score_flood
        until = await flood.locked_until(address, FLOOD_LIMIT)
        if until is not None:
            raise TooManyRequests("提交过于频繁，请稍后再试", retry_after=seconds_until(until))
        await flood.record(address)

    async def submit(
        self,
        acc_nbr: str,
        grades: Sequence[int],
        texts: Sequence[str],
        user_id: str | None,
        address: str,
    ) -> dict[str, Any]:
        """Stores one submission; TooManyRequests past ``max_per_day`` in a day from
        the user (or, anonymous, from the address)."""
        submitter = f"user:{user_id}" if user_id else f"address:{address}"
        daily = self.store.score_daily
        until = await daily.locked_until(submitter, self.max_per_day)
        if until is not None:
            raise TooManyRequests(
                f"每天最多提交 {self.max_per_day} 次 (max_scores_per_day)，请明天再试",
                retry_after=seconds_until(until),
            )
        await daily.record(submitter)
        return await self.store.scores.add(acc_nbr, grades, texts, user_id)

    async def submitted_by(self, user_id: str, acc_nbr: str, limit: int) -> list[dict[str, Any]]:
        """``user_id``'s own submissions for ``acc_nbr``, newest first."""
        return await self.store.scores.submitted_by(user_id, acc_nbr, limit)

    async def summary(self, reader: User, acc_nbr: str) -> Summary:
        """Every submission's count and grade means for ``acc_nbr``, in all and by UTC
        day; Forbidden unless ``reader`` is an admin."""
        require_admin(reader)
        days = await self.store.scores.daily_totals(acc_nbr)
        count = sum(day.count for day in days)
        sums = {name: sum(day.sums[name] for day in days) for name in GRADE_FIELDS}
        return Summary(
            acc_nbr=acc_nbr,
            total=Tally.of(count, sums),
            days=[(day.day, Tally.of(day.count, day.sums)) for day in days],
        )

    async def export(
        self, reader: User, acc_nbr: str | None
    ) -> AsyncGenerator[list[dict[str, Any]], None]:
        """Every submission (for ``acc_nbr`` when given), oldest first, in batches to
        write out one by one; Forbidden unless ``reader`` is an admin (checked here,
        before the first batch is asked for)."""
        require_admin(reader)
        return self.store.scores.batches(acc_nbr, EXPORT_BATCH)
