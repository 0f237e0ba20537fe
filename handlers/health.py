"""``/healthz``: is this process serving, and does its database answer?"""

from __future__ import annotations

from services.errors import database_unavailable

from .base import RETRY_AFTER_UNAVAILABLE, APIHandler, Route


class HealthHandler(APIHandler):
    uses_login = False  # a health check must not depend on credentials

    async def get(self) -> None:
        try:
            await self.services.ping()
        except Exception as e:
            if not database_unavailable(e):
                raise
            self.set_header("Retry-After", str(RETRY_AFTER_UNAVAILABLE))
            self.write_json({"status": "unavailable", "db": "unreachable"}, status=503)
            return
        self.write_json({"status": "ok", "db": "ok"})


routes: list[Route] = [(r"/healthz", HealthHandler)]
