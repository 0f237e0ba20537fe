"""taskhub: ``make_app()`` builds the Tornado application; ``main()`` runs one process.

main() runs in small steps: read the settings, set up logging, prepare the data
directory and cookie secret, check the port is free, open the database (starting the
embedded one when no MongoDB is configured: then the data directory is locked for this
process, and the database is started again if it exits), serve, and on SIGTERM, SIGHUP
or Ctrl-C drain and stop.
"""

from __future__ import annotations

import asyncio
import functools
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
from handlers import (
    auth,
    changes,
    classic,
    health,
    lists,
    live,
    me,
    metrics,
    miniprogram,
    pages,
    score_results,
    scores,
    tasks,
    todo_backend,
)
from handlers.base import NotFoundHandler, PayloadTooLargeHandler, Route
from server.access_log import JSONFormatter, log_request
from server.body_limit import BodyLimit, hard_cap
from server.data_dir import (
    DatabaseFilesLock,
    DataDirLocked,
    load_cookie_secret,
    lock_database_files,
    prepare_data_dir,
)
from server.drain import DrainingHTTPServer
from server.embedded_db import EmbeddedMongo, EmbeddedUnavailable
from server.metrics import install as install_metrics
from server.ports import PortBusy, check_port_free
from server.proxies import TrustedProxies, apply_proxy_headers
from store import ChangeStreamsUnsupported, Store, open_store
from store.database import DatabaseUnreachable

log = logging.getLogger("taskhub")

ROOT = Path(__file__).resolve().parent


class Application(tornado.web.Application):
    """Tornado's Application, with request bodies over the limit answered 413, and the
    client's address and scheme taken from trusted proxies' headers (--xheaders)."""

    # Tornado annotates its find_handler as returning its private _HandlerDelegate,
    # though the router calling it needs only an HTTPMessageDelegate, as BodyLimit is.
    def find_handler(  # type: ignore[override]
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate:
        config: settings.Config = self.settings["config"]
        if config.xheaders:  # before any handler reads request.remote_ip
            apply_proxy_headers(request, self.trusted_proxies)
        return BodyLimit(
            super().find_handler(request, **kwargs),
            lambda: self.get_handler_delegate(request, PayloadTooLargeHandler),
            config.max_body_size,
        )

    @functools.cached_property
    def trusted_proxies(self) -> TrustedProxies:
        return TrustedProxies(self.settings["config"].trusted_proxies)


def routes(config: settings.Config) -> list[Route]:
    return [
        *health.routes,
        *metrics.routes,
        *auth.routes,
        *me.routes,
        *miniprogram.routes,
        *scores.routes,
        *score_results.routes,
        *tasks.routes,
        *lists.routes,
        *changes.routes,
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
    app = Application(
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
    install_metrics(app)  # settings["metrics"]: this application's own registry
    return app


def make_server(app: Application) -> DrainingHTTPServer:
    config: settings.Config = app.settings["config"]
    # No Tornado xheaders: it would believe them from any peer. The application
    # applies them, from trusted proxies only (server/proxies.py).
    return DrainingHTTPServer(app, max_body_size=hard_cap(config.max_body_size))


# --- the steps of main() ---


class StartupError(Exception):
    """Start-up cannot go on; the message says why in one line."""


def setup_logging(config: settings.Config) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level, handlers=[handler])
    # The driver's debug log prints query values: token digests and capability URLs.
    logging.getLogger("pymongo").setLevel(logging.INFO)


def lock_data_dir(config: settings.Config, data_dir: Path) -> DatabaseFilesLock | None:
    """Whoever runs the embedded database locks its files, for the life of the process
    (and of the database, which inherits the lock): a second taskhub on the same data
    directory is refused at once. Processes given a MongoDB URI take no lock."""
    if config.mongodb_uri is not None:
        return None
    try:
        return lock_database_files(data_dir)
    except DataDirLocked as e:
        raise StartupError(str(e)) from e


def check_port(config: settings.Config) -> None:
    """Before the database starts: a busy port is named at once."""
    try:
        check_port_free(config.address, config.port)
    except PortBusy as e:
        raise StartupError(f"{e}: stop what listens there, or choose another --port") from e


async def open_database(
    config: settings.Config, data_dir: Path, lock: DatabaseFilesLock | None = None
) -> tuple[Store, EmbeddedMongo | None]:
    embedded = None
    uri = config.mongodb_uri
    if uri is None:
        embedded = EmbeddedMongo(data_dir, keep_fds=[lock.fileno()] if lock else [])
        try:
            uri = await embedded.start(timeout=config.startup_timeout)
        except EmbeddedUnavailable as e:
            raise StartupError(str(e)) from e
    try:
        store = await open_store(
            uri, config.database, config.startup_timeout, operation_timeout=config.db_timeout
        )
    except Exception as e:
        if embedded:
            await embedded.stop()
        if isinstance(e, DatabaseUnreachable):
            within = f" within {config.startup_timeout:g}s" if e.timed_out else ""
            message = f"cannot reach the database at {e.hosts}{within}: {e.reason}"
        else:
            message = f"cannot use the database: {str(e).split(', full error:')[0]}"
        raise StartupError(message) from e
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
    """An event set by SIGTERM (systemd), SIGINT (Ctrl-C) or SIGHUP (its terminal
    closed): each stops the process in order, the embedded database last."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    return stop


def supervise_database(
    embedded: EmbeddedMongo | None, config: settings.Config, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """Starts the embedded database again whenever it exits; once it keeps exiting,
    stops taskhub (exit status 1) rather than answer 503 for ever."""
    if embedded is None:
        return None
    task = asyncio.create_task(embedded.supervise(config.startup_timeout))

    def given_up(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("stopping: %s", task.exception())
            stop.set()

    task.add_done_callback(given_up)
    return task


async def serve(config: settings.Config) -> int:
    """Runs one process until a stop signal; its exit status."""
    data_dir = prepare_data_dir(config)
    config = config.replace(cookie_secret=load_cookie_secret(config, data_dir))
    stop = stop_signals()
    lock = lock_data_dir(config, data_dir)
    check_port(config)
    store, embedded = await open_database(config, data_dir, lock)
    supervisor = supervise_database(embedded, config, stop)
    await store.start_purging()  # expired documents, where no TTL index removes them
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
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await store.stop_purging()
        await store.close()
        if embedded:
            await embedded.stop()
        if lock:
            lock.release()
    log.info("stopped")
    lost = supervisor is not None and not supervisor.cancelled() and supervisor.exception()
    return 1 if lost else 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = settings.load(argv)
        setup_logging(config)
        return asyncio.run(serve(config))
    except settings.ConfigError as e:
        print(f"taskhub: bad setting: {e}", file=sys.stderr)
        return 2
    except StartupError as e:
        log.error("cannot start: %s", e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
