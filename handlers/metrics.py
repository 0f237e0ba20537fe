"""``/metrics``: the process's Prometheus metrics, for a scraper on the same machine.

Only loopback clients get them; any other address is answered as an unknown route
(nginx, in front, answers 404 itself), so the metrics say nothing to the world.
"""

from __future__ import annotations

import ipaddress

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .base import APIError, APIHandler, Route


def is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class MetricsHandler(APIHandler):
    uses_login = False  # a scraper holds no login

    async def prepare(self) -> None:
        if not is_loopback(self.request.remote_ip):
            raise APIError(404, f"no route {self.request.path}")

    async def get(self) -> None:
        metrics = self.application.settings["metrics"]
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(metrics.registry))


routes: list[Route] = [(r"/metrics", MetricsHandler)]
