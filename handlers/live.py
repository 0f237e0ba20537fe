"""Live updates: ``/api/live`` (WebSocket) and ``POST /api/live/ticket``.

A socket is authenticated before the upgrade, by the session cookie (browsers on our
own origin), ``Authorization: Bearer`` (mini-programs), or a single-use ``?ticket=``
(browser pages on other origins); without one the upgrade is refused with 401, and a
browser ``Origin`` that is neither ours nor configured gets 403. ``?since=<seq>``
asks for the changes missed since the last one seen.

Server to client, each change with the user's ``seq``: ``task.created``,
``task.updated``, ``task.deleted`` with the ``task``; ``list.created``,
``list.updated``, ``list.deleted``, ``list.added`` (to a member just added),
``list.removed`` (to a member just removed) with the ``list`` as that user sees it;
``member.added``, ``member.updated``, ``member.removed`` with ``list_id`` and the
``member``; then ``{"type": "ready", "seq"}`` once caught up; ``{"type": "resync", "seq"}``
when the missed changes are gone and the list must be fetched again;
``{"type": "pong"}``; ``{"type": "error", "error": {...}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from tornado.websocket import WebSocketHandler

from services.errors import InvalidInput
from services.live import CLOSE_TRY_AGAIN, Hub, Subscriber

from .base import BEARER_CHALLENGE, APIError, APIHandler, Route, authenticated
from .params import bounded_int, parse_json, single_values

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # larger client messages close the socket with 1009
MAX_SEQ = 10**18 - 1  # the largest ?since= taken; a seq never gets near it


class LiveSocket(APIHandler, WebSocketHandler):
    """One live socket. APIHandler gives it logins and JSON errors before the
    upgrade; WebSocketHandler the rest."""

    subscriber: Subscriber | None = None
    since: int | None = None

    @property
    def hub(self) -> Hub:
        hub = self.live_hub
        assert hub is not None  # the route exists only with live updates on
        return hub

    # --- before the upgrade ---

    async def prepare(self) -> None:
        refused = self.refused_origin()
        if refused:
            raise APIError(403, f"pages from {refused} may not open live sockets here")
        query = single_values(self.request.query_arguments, "query argument")
        ticket = query.get("ticket")
        if ticket is not None:
            self.current_user = await self.accounts.redeem_live_ticket(ticket)
            if self.current_user is None:
                raise APIError(
                    401,
                    "this ticket is unknown, used or expired: get a new one from "
                    "POST /api/live/ticket",
                )
        else:
            await super().prepare()  # the login cookie or a bearer token
        if self.current_user is None:
            raise APIError(
                401,
                "log in first: send Authorization: Bearer <token>, the login cookie, "
                "or ?ticket= from POST /api/live/ticket",
                headers=BEARER_CHALLENGE,
            )
        self.since = bounded_int(query, "since", low=0, high=MAX_SEQ, empty_is_absent=True)
        self.subscriber = self.hub.attach(self.current_user, self)
        if self.subscriber is None:
            raise APIError(
                429,
                f"this account has {self.hub.max_sockets_per_user} live sockets open "
                "in this process already; close one first",
            )

    async def get(self, *args: Any, **kwargs: Any) -> None:
        self.check_upgrade()
        await super().get(*args, **kwargs)

    def check_upgrade(self) -> None:
        """A JSON refusal for requests that are no WebSocket upgrade, where Tornado
        would answer in plain text."""
        headers = self.request.headers
        connection = {s.strip().lower() for s in headers.get("Connection", "").split(",")}
        if headers.get("Upgrade", "").lower() != "websocket" or "upgrade" not in connection:
            raise APIError(400, "/api/live takes only WebSocket upgrades")
        if not headers.get("Sec-WebSocket-Key"):
            raise APIError(400, "a WebSocket upgrade needs Sec-WebSocket-Key")
        if headers.get("Sec-WebSocket-Version") not in ("7", "8", "13"):
            raise APIError(426, "use WebSocket version 13", headers={"Sec-WebSocket-Version": "13"})

    def check_origin(self, origin: str) -> bool:
        # Tornado asks this for apparently cross-origin upgrades after prepare(),
        # which has already refused origins that are not allowed.
        return self.origin_allowed(origin)

    def on_finish(self) -> None:
        if self.get_status() != 101 and self.subscriber is not None:
            self.hub.detach(self.subscriber)  # the upgrade did not happen

    # --- the socket ---

    @property
    def ping_interval(self) -> float:
        return self.config.live_ping_interval

    @property
    def max_message_size(self) -> int:
        return MAX_MESSAGE_BYTES

    async def open(self) -> None:
        assert self.subscriber is not None
        self.set_nodelay(True)
        try:
            await self.hub.start()
        except Exception as e:
            log.error("live updates unavailable: %s", e)
            self.subscriber.close(CLOSE_TRY_AGAIN, "live updates unavailable")
            return
        await self.subscriber.catch_up(self.since)

    async def on_message(self, message: str | bytes) -> None:
        """Answers one client message, then waits until the answer has left: Tornado
        reads the client's next message only after that, so a client that sends a
        burst of pings is answered at its own pace, never cut off for it."""
        assert self.subscriber is not None
        self.answer(message)
        await self.subscriber.drained()

    def answer(self, message: str | bytes) -> None:
        assert self.subscriber is not None
        if isinstance(message, bytes):
            self.subscriber.send(error_message("send text: JSON, or plain text"))
            return
        if not message.lstrip().startswith(("{", "[")):
            # plain text, as the classic test pages send: answered in plain text
            self.subscriber.send(f"You said: {message}")
            return
        try:
            value = parse_json(message, "the message")
        except InvalidInput as e:
            self.subscriber.send(error_message(e.message))
            return
        if isinstance(value, dict) and value.get("type") == "ping":
            self.subscriber.send({"type": "pong"})
        else:
            self.subscriber.send(error_message('unknown message; send {"type": "ping"}'))

    def on_close(self) -> None:
        if self.subscriber is not None:
            self.subscriber.closed = True
            self.hub.detach(self.subscriber)


def error_message(message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"code": "bad_request", "message": message}}


class LiveTicketHandler(APIHandler):
    """``POST /api/live/ticket``: a ticket that opens one live socket, soon."""

    @authenticated
    async def post(self) -> None:
        ticket, expires_at = await self.accounts.live_ticket(self.login)
        scheme = "wss" if self.request.protocol == "https" else "ws"
        self.write_json(
            {
                "ticket": ticket,
                "expires_at": expires_at,
                "url": f"{scheme}://{self.request.host}/api/live?ticket={ticket}",
            }
        )


routes: list[Route] = [
    (r"/api/live", LiveSocket),
    (r"/api/live/ticket", LiveTicketHandler),
]
