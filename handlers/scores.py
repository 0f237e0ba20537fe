"""The scoring flow of the classic scoring mini-program.

``POST /score`` takes ``acc_nbr``, ``grade1``-``grade3`` and ``txt1``-``txt3``, as a
form (the classic client) or JSON. The classic client ``JSON.stringify``s every value,
so a grade arrives as ``5`` or ``"5"`` and a comment as ``"很好"`` with its quotes;
plain values work too. Its answers are JSON strings, which the client shows in a
toast: ``"数据提交成功"``, or what is wrong.

``GET /api/scores?acc_nbr=`` gives the logged-in user the submissions they made for
that number, newest first, with the usual JSON errors.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from services.errors import InvalidInput
from services.scores import GRADE_FIELDS, TEXT_FIELDS

from .base import BEARER_CHALLENGE, APIError, APIHandler, Route, authenticated
from .params import bounded_int, reject_unknown, valid_unicode

SUBMITTED = "数据提交成功"

MAX_GRADE = 100
MAX_TEXT_LENGTH = 500
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 200

# digits with an optional leading +, after spaces and dashes are dropped
_ACC_NBR = re.compile(r"\+?[0-9]{5,20}")
_ACC_NBR_SEPARATORS = re.compile(r"[\s\-]")
_GRADE = re.compile(r"[0-9]{1,3}")


def unquote(value: Any) -> Any:
    """A value the classic client ``JSON.stringify``'d back to what it was:
    ``'"很好"'`` is ``很好``. Anything else is returned as it came."""
    if isinstance(value, str):
        stripped = value.strip()
        if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
            try:
                decoded = json.loads(stripped)
            except ValueError:
                return value
            if isinstance(decoded, str):
                return decoded
    return value


def integral(value: Any) -> Any:
    """A JSON number without a fraction as the integer it is (JSON has one kind of
    number: 5.0 is the integer 5); anything else as it came."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def acc_nbr(value: Any, name: str = "acc_nbr") -> str:
    """A phone-number-like account number, without spaces or dashes."""
    value = integral(unquote(value))
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        number = _ACC_NBR_SEPARATORS.sub("", value)
        if _ACC_NBR.fullmatch(number):
            return number
    raise InvalidInput(f"{name} 须为电话号码（5 到 20 位数字）", field=name)


def stored_acc_nbr(query: Mapping[str, str]) -> str | None:
    """``acc_nbr`` of a query over stored submissions, as they hold it (and as the
    results give it back): 5 to 20 ASCII digits, perhaps after a ``+``. None when
    absent."""
    if "acc_nbr" not in query:
        return None
    if not _ACC_NBR.fullmatch(query["acc_nbr"]):
        raise InvalidInput(
            "acc_nbr must be 5 to 20 digits, perhaps after a + (written %2B in a URL)",
            field="acc_nbr",
        )
    return query["acc_nbr"]


def grade(fields: Mapping[str, Any], name: str) -> int:
    if name not in fields:
        raise InvalidInput(f"{name} 必填", field=name)
    value = integral(unquote(fields[name]))
    if isinstance(value, str) and _GRADE.fullmatch(value.strip()):
        value = int(value.strip())
    if type(value) is not int or not 0 <= value <= MAX_GRADE:
        raise InvalidInput(f"{name} 须为 0 到 {MAX_GRADE} 的整数", field=name)
    return value


def comment(fields: Mapping[str, Any], name: str) -> str:
    value = unquote(fields.get(name, ""))
    if not isinstance(value, str):
        raise InvalidInput(f"{name} 须为文字", field=name)
    valid_unicode(value, name)
    value = value.strip()
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"{name} 不能超过 {MAX_TEXT_LENGTH} 字", field=name)
    return value


def score_json(score: Mapping[str, Any]) -> dict[str, Any]:
    """A submission as its submitter sees it (they know who they are)."""
    return {name: value for name, value in score.items() if name != "user_id"}


class ScoreHandler(APIHandler):
    """``POST /score``: one submission of the scoring form."""

    allowed_fields = frozenset(("acc_nbr", *GRADE_FIELDS, *TEXT_FIELDS))

    def error_body(self, status: int, code: str, message: str, field: str | None) -> Any:
        return message  # the classic client shows the body as it is

    async def post(self) -> None:
        # the address is nginx's X-Real-IP when taskhub runs with --xheaders
        await self.scores.admit(self.request.remote_ip or "")
        if "Authorization" in self.request.headers and self.current_user is None:
            # a stale token: tell the client to log in again rather than file the
            # submission as anonymous
            raise APIError(401, "登录已失效，请重新登录", headers=BEARER_CHALLENGE)
        fields = self.body_fields()
        reject_unknown(fields, self.allowed_fields, message="未知字段 {name}")
        number = acc_nbr(fields.get("acc_nbr", ""))
        grades = [grade(fields, name) for name in GRADE_FIELDS]
        texts = [comment(fields, name) for name in TEXT_FIELDS]
        user_id = self.current_user.user_id if self.current_user else None
        await self.scores.submit(number, grades, texts, user_id, self.request.remote_ip or "")
        self.write_json(SUBMITTED)


class ScoresHandler(APIHandler):
    """``GET /api/scores?acc_nbr=``: the caller's own submissions for that number."""

    @authenticated
    async def get(self) -> None:
        query = self.query_fields()
        if "acc_nbr" not in query:
            raise InvalidInput("acc_nbr is required", field="acc_nbr")
        try:
            number = acc_nbr(query["acc_nbr"])
        except InvalidInput as e:
            raise InvalidInput(
                "acc_nbr must be a phone number (5 to 20 digits)", field="acc_nbr"
            ) from e
        limit = bounded_int(query, "limit", low=1, high=MAX_LIST_LIMIT, default=DEFAULT_LIST_LIMIT)
        assert limit is not None
        scores = await self.scores.submitted_by(self.login.user_id, number, limit)
        self.write_json({"scores": [score_json(s) for s in scores]})


routes: list[Route] = [
    (r"/score", ScoreHandler),
    (r"/api/scores", ScoresHandler),
]
