"""taskhub applications served in the test's own event loop, on loopback ports, the
way app.serve() serves them (body limit and drain included)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from tornado.netutil import bind_sockets

import services
from app import Application, make_app, make_server
from server.drain import DrainingHTTPServer
from services.live import Hub
from store import Store, make_client

from .settings import make_config


@dataclass
class Served:
    url: str
    app: Application
    server: DrainingHTTPServer

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :] + "/api/live"

    @property
    def services(self) -> services.Services:
        return self.app.settings["services"]

    @property
    def hub(self) -> Hub | None:
        return self.services.live


class Apps:
    """Starts applications on one database; ``separate=True`` gives one its own
    database client, as a second process would have. ``close()`` stops them all."""

    def __init__(self, store: Store, mongodb_uri: str):
        self.store = store
        self.mongodb_uri = mongodb_uri
        self.served: list[Served] = []
        self.stores: list[Store] = []

    async def start(
        self,
        *,
        separate: bool = False,
        store: Store | None = None,
        handlers: list[Any] | None = None,
        follow: bool = True,
        **overrides: Any,
    ) -> Served:
        """Serves an application; its live hub follows the change streams from the
        start unless ``follow`` is False (then from its first socket on)."""
        store = store or self.store
        if separate:
            store = Store(make_client(self.mongodb_uri), self.store.db.name)
            self.stores.append(store)
        config = make_config(**overrides)
        app = make_app(config, services.build(config, store))
        if handlers:
            app.add_handlers(r".*", handlers)
        if follow and app.settings["services"].live is not None:
            await app.settings["services"].live.start()
        server = make_server(app)
        sockets = bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        served = Served(f"http://127.0.0.1:{sockets[0].getsockname()[1]}", app, server)
        self.served.append(served)
        return served

    async def url(self, **overrides: Any) -> str:
        """The URL of an application for HTTP tests: no change streams until a socket opens."""
        return (await self.start(follow=False, **overrides)).url

    async def close(self) -> None:
        """Stops every application once (a test may close before the fixture does)."""
        from .live import close_clients

        close_clients()
        # let the servers see their sockets close, so none outlives the test's loop
        hubs = [s.hub for s in self.served if s.hub is not None]
        for _ in range(100):
            if not any(hub.by_owner for hub in hubs):
                break
            await asyncio.sleep(0.02)
        served_all, self.served = self.served, []
        for served in served_all:
            served.server.stop()
            for hook in served.app.settings["shutdown_hooks"]:
                await hook()
            await served.server.close_all_connections()
        stores, self.stores = self.stores, []
        for store in stores:
            await store.close()


def route_paths(routes: list[Any], *values: str) -> list[str]:
    """One concrete path for every route: each group of a pattern is filled with the
    next of ``values``, or with an id-shaped placeholder."""
    paths = []
    for route in routes:
        pattern = route[0] if isinstance(route, tuple) else route.regex.pattern
        parts = re.split(r"\([^)]*\)", pattern.rstrip("$"))
        fills = [*values, *["0123456789abcdef01234567"] * len(parts)]
        path = "".join(
            part + (fills[i] if i < len(parts) - 1 else "") for i, part in enumerate(parts)
        )
        paths.append(path.replace("\\", "").replace("?", ""))
    return paths
