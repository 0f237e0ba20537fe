"""taskhub: ``make_app()`` builds the Tornado application; ``main()`` runs one process.

main() runs in small steps: read the settings, set up logging, prepare the data
directory and cookie secret, open the database (starting the embedded one when no
MongoDB is configured), serve, and on SIGTERM or Ctrl-C drain and stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tornado.web
from tornado import httputil

import config as settings
import services
from handlers import auth, classic, health, live, miniprogram, pages, scores, tasks, todo_backend
from handlers.base import NotFoundHandler, PayloadTooLargeHandler, Route
from server.access_log import log_request
from server.body_limit import BodyLimit, hard_cap
from server.data_dir import load_cookie_secret, prepare_data_dir
from server.drain import DrainingHTTPServer
from server.embedded_db import EmbeddedMongo, EmbeddedUnavailable
from store import ChangeStreamsUnsupported, Store, open_store

log = logging.getLogger("taskhub")

ROOT = Path(__file__).resolve().parent


class Application(tornado.web.Application):
    """Tornado's Application, with request bodies over the limit answered 413."""

    # Tornado annotates its find_handler as returning its private _HandlerDelegate,
    # though the router calling it needs only an HTTPMessageDelegate, as BodyLimit is.
    def find_handler(  # type: ignore[override]
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate:
        return BodyLimit(
            super().find_handler(request, **kwargs),
            lambda: self.get_handler_delegate(request, PayloadTooLargeHandler),
            self.settings["config"].max_body_size,
        )


def routes(config: settings.Config) -> list[Route]:
    return [
        *health.routes,
        *auth.routes,
        *miniprogram.routes,
        *scores.routes,
        *tasks.routes,
        *classic.routes,
        *todo_backend.routes,
        *pages.routes,
        *(live.routes if config.live else []),
    ]


def make_app(config: settings.Config, services: services.Services) -> Application:
    """The whole application, with its services in its settings (tests build their own)."""
    if not config.cookie_secret:
        raise settings.ConfigError("cookie_secret: make_app needs one (main() loads it)")
    hub = services.live
    return Application(
        routes(config),
        config=config,
        services=services,
        # awaited in order on SIGTERM, after the listener stops: live sockets close (1001)
        shutdown_hooks=[hub.stop] if hub else [],
        cookie_secret=config.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax"},
        default_handler_class=NotFoundHandler,
        log_function=log_request,
        template_path=str(ROOT / "templates"),
        static_path=str(ROOT / "static"),
        static_handler_class=pages.StaticFiles,
    )


def make_server(app: Application) -> DrainingHTTPServer:
    config: settings.Config = app.settings["config"]
    return DrainingHTTPServer(
        app, xheaders=config.xheaders, max_body_size=hard_cap(config.max_body_size)
    )


# --- the steps of main() ---


class StartupError(Exception):
    """Start-up cannot go on; the message says why in one line."""


def setup_logging(config: settings.Config) -> None:
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The driver's debug log prints query values: token digests and capability URLs.
    logging.getLogger("pymongo").setLevel(logging.INFO)


async def open_database(
    config: settings.Config, data_dir: Path
) -> tuple[Store, EmbeddedMongo | None]:
    embedded = None
    uri = config.mongodb_uri
    if uri is None:
        embedded = EmbeddedMongo(data_dir)
        try:
            uri = await embedded.start(timeout=config.startup_timeout)
        except EmbeddedUnavailable as e:
            raise StartupError(str(e)) from e
    try:
        store = await open_store(uri, config.database, config.startup_timeout)
    except Exception as e:
        if embedded:
            await embedded.stop()
        raise StartupError(
            f"cannot reach the database within {config.startup_timeout:g}s: {e}"
        ) from e
    return store, embedded


async def start_live(app: Application) -> None:
    """Opens the live hub's change streams, so that a database without them stops
    start-up here rather than failing every socket later."""
    hub = app.settings["services"].live
    if hub is None:
        return
    try:
        await hub.start()
    except ChangeStreamsUnsupported as e:
        raise StartupError(
            "live updates need MongoDB change streams, which this server lacks (a "
            "standalone mongod): run it as a replica set, as conf/mongod.conf and the "
            "README's replica-set steps show, or start with --live=false"
        ) from e


async def run_shutdown_hooks(app: Application) -> None:
    for hook in app.settings["shutdown_hooks"]:
        try:
            await hook()
        except Exception:
            log.exception("shutdown step %r failed", hook)


def stop_signals() -> asyncio.Event:
    """An event set by SIGTERM (systemd) or SIGINT (Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(config: settings.Config) -> None:
    data_dir = prepare_data_dir(config)
    config = config.replace(cookie_secret=load_cookie_secret(config, data_dir))
    stop = stop_signals()
    store, embedded = await open_database(config, data_dir)
    try:
        app = make_app(config, services.build(config, store))
        await start_live(app)
        server = make_server(app)
        try:
            server.listen(config.port, config.address)
        except OSError as e:
            raise StartupError(
                f"cannot listen on {config.address}:{config.port}: {e.strerror}"
            ) from e
        log.info("taskhub serving on http://%s:%d", config.address, config.port)
        await stop.wait()
        log.info("stopping: no new connections; draining for up to %gs", config.drain_timeout)
        server.stop_accepting()
        await run_shutdown_hooks(app)
        await server.drain(config.drain_timeout)
    finally:
        await store.close()
        if embedded:
            await embedded.stop()
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = settings.load(argv)
        setup_logging(config)
        asyncio.run(serve(config))
    except settings.ConfigError as e:
        print(f"taskhub: bad setting: {e}", file=sys.stderr)
        return 2
    except StartupError as e:
        log.error("cannot start: %s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
