"""taskhub: ``make_app()`` builds the Tornado application; ``main()`` runs one process.

main() runs in small steps: read the settings, set up logging, prepare the data
directory and cookie secret, open the database (starting the embedded one when no
MongoDB is configured), serve, and on SIGTERM or Ctrl-C drain and stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

import tornado.web

import config as settings
from drain import DrainingHTTPServer
from handlers import auth, classic, health, miniprogram, scores, tasks, todo_backend
from handlers import live, pages
from handlers.base import NotFoundHandler
from handlers.body_limit import BodyLimit, PayloadTooLargeHandler, hard_cap
from handlers.live_hub import Hub
from handlers.logs import log_request
from store import EmbeddedMongo, EmbeddedUnavailable, Store, open_store
from store.change_stream import ChangeStreamsUnsupported

log = logging.getLogger("taskhub")

ROOT = Path(__file__).resolve().parent


class Application(tornado.web.Application):
    """Tornado's Application, with request bodies over the limit answered 413."""

    def find_handler(self, request, **kwargs):
        return BodyLimit(
            super().find_handler(request, **kwargs),
            lambda: self.get_handler_delegate(request, PayloadTooLargeHandler),
            self.settings["config"].max_body_size,
        )


def routes() -> list[Any]:
    return [
        *health.routes,
        *auth.routes,
        *miniprogram.routes,
        *scores.routes,
        *tasks.routes,
        *classic.routes,
        *todo_backend.routes,
    ]


def make_app(config: settings.Config, store: Store, cookie_secret: str) -> Application:
    """The whole application, with its services in its settings (tests build their own)."""
    # Live updates: one hub per process; its change streams start with start_live().
    hub = Hub(store, max_sockets_per_user=config.live_max_sockets) if config.live else None
    return Application(
        routes() + pages.routes + (live.routes if hub else []),
        config=config,
        store=store,
        live_hub=hub,
        # awaited in order on SIGTERM, after the listener stops: live sockets close (1001)
        shutdown_hooks=[hub.stop] if hub else [],
        cookie_secret=cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"samesite": "Lax"},
        default_handler_class=NotFoundHandler,
        log_function=log_request,
        template_path=str(ROOT / "templates"),
        static_path=str(ROOT / "static"),
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


def prepare_data_dir(config: settings.Config) -> Path:
    data_dir = Path(config.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise settings.ConfigError(f"data_dir = {str(data_dir)!r}: cannot create it: {e.strerror}") from e
    return data_dir


def load_cookie_secret(config: settings.Config, data_dir: Path) -> str:
    """The configured secret, or one generated once into the data directory, so that
    restarts and every local process share it."""
    if config.cookie_secret:
        return config.cookie_secret
    path = data_dir / "cookie_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    log.warning(
        "no cookie_secret configured: generated one into %s; set TASKHUB_COOKIE_SECRET "
        "in production",
        path,
    )
    return path.read_text().strip()


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
    hub = app.settings["live_hub"]
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
    cookie_secret = load_cookie_secret(config, data_dir)
    stop = stop_signals()
    store, embedded = await open_database(config, data_dir)
    try:
        app = make_app(config, store, cookie_secret)
        await start_live(app)
        server = DrainingHTTPServer(
            app, xheaders=config.xheaders, max_body_size=hard_cap(config.max_body_size)
        )
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
        if config.processes > 1:
            import stack  # the local stack: nginx in front of several of these processes

            return stack.main(config, sys.argv[1:] if argv is None else list(argv))
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
