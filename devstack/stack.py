"""The local production-like stack: ``Stack`` runs it, for ``./run --processes N``
and for the tests.

One database (the embedded server, or the configured MongoDB), N taskhub processes on
127.0.0.1 at the ports after --port, and nginx on --port running conf/nginx/taskhub.conf:
the shipped site, rendered for these ports and paths under a temporary prefix, so no
root is needed for ports from 1024 up. Ctrl-C stops nginx, then the processes
(each drains), then the database. Every port is checked free before anything starts;
the embedded database's data directory is locked as taskhub itself locks it, and the
database dies with the stack (its parent-death signal).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import config as settings
from server.data_dir import (
    DatabaseFilesLock,
    DataDirLocked,
    load_cookie_secret,
    lock_database_files,
    prepare_data_dir,
)
from server.embedded_db import EmbeddedMongo
from server.ports import PortBusy, check_port_free
from store import make_client, wait_until_reachable

log = logging.getLogger("taskhub.stack")

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "conf" / "nginx" / "taskhub.conf"
STATIC = ROOT / "static"

# The local stack restarts a process that exits, as systemd restarts a failed unit,
# but gives up on one that keeps dying (systemd's StartLimitBurst in an interval).
RESTART_LIMIT = 5
RESTART_INTERVAL = 60.0


class StackError(RuntimeError):
    """The stack cannot start or keep running; the message says why."""


# --- rendering the shipped nginx site for local ports and paths ---


@dataclass(frozen=True)
class TLS:
    """Serve the site's HTTPS server with these files, and its HTTP → HTTPS redirect
    server on ``redirect_port``, as in production."""

    certificate: Path
    key: Path
    redirect_port: int


def host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _sub(text: str, pattern: str, replacement: str, what: str, count: int = 0) -> str:
    new, n = re.subn(pattern, lambda _: replacement, text, count=count, flags=re.M)
    if n == 0:
        raise StackError(f"{SITE.name}: cannot find {what} to render (pattern {pattern!r})")
    return new


def _block_end(text: str, open_brace: int) -> int:
    """The index just past the brace closing the block opened at ``open_brace``,
    skipping quoted strings and comments."""
    depth, i = 0, open_brace
    while i < len(text):
        c = text[i]
        if c == "#":
            i = text.find("\n", i)
            if i < 0:
                break
        elif c in "'\"":
            i = text.find(c, i + 1)
            if i < 0:
                break
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise StackError(f"{SITE.name}: unbalanced braces")


def _remove_server_block(text: str, containing: str) -> str:
    """Removes the ``server { ... }`` block that contains the line ``containing``."""
    at = re.search(rf"^[ \t]*{re.escape(containing)}[ \t]*$", text, flags=re.M)
    if not at:
        raise StackError(f"{SITE.name}: no server block with {containing!r}")
    start = text.rfind("\nserver {", 0, at.start())
    if start < 0:
        raise StackError(f"{SITE.name}: {containing!r} is not inside a server block")
    start += 1
    end = _block_end(text, text.index("{", start))
    return text[:start] + text[end:].lstrip("\n")


def live_read_timeout(site_text: str) -> float:
    """proxy_read_timeout in the site's /api/live location, in seconds."""
    match = re.search(
        r"location (?:= )?/api/live \{[^}]*?proxy_read_timeout (\d+)s;", site_text, flags=re.S
    )
    if not match:
        raise StackError(f"{SITE.name}: no proxy_read_timeout in location /api/live")
    return float(match.group(1))


def render_site(
    text: str,
    *,
    upstreams: Sequence[str],
    address: str,
    port: int,
    static_dir: Path,
    log_dir: Path,
    acme_root: Path,
    max_body_size: int,
    live_ping_interval: float,
    tls: TLS | None = None,
) -> str:
    """The shipped site with its upstream (``upstreams``: each process's address:port),
    listen lines, paths and body limit substituted; without ``tls`` its HTTPS server
    serves plain HTTP on ``port`` and the redirect server is left out. Fails when the
    shipped site changed shape."""
    if live_read_timeout(text) <= live_ping_interval:
        raise StackError(
            f"live_ping_interval ({live_ping_interval:g}s) must stay below nginx's "
            f"proxy_read_timeout for /api/live ({live_read_timeout(text):g}s) in {SITE}"
        )
    servers = list(
        re.finditer(r"^([ \t]*)server 127\.0\.0\.1:\d+([^;\n]*);[ \t]*\n", text, flags=re.M)
    )
    if not servers:
        raise StackError(f"{SITE.name}: no 'server 127.0.0.1:PORT' lines in the upstream")
    if text[servers[0].start() : servers[-1].end()].count(";") != len(servers):
        raise StackError(f"{SITE.name}: the upstream's server lines must stand together")
    indent, params = servers[0].group(1), servers[0].group(2)
    lines = "".join(f"{indent}server {upstream}{params};\n" for upstream in upstreams)
    text = text[: servers[0].start()] + lines + text[servers[-1].end() :]

    main = host_port(address, port)
    if tls:
        text = _sub(
            text, r"^([ \t]*)listen 443 ssl http2;", f"    listen {main} ssl http2;", "listen 443"
        )
        text = _sub(
            text,
            r"^[ \t]*ssl_certificate .*;",
            f'    ssl_certificate "{tls.certificate}";',
            "ssl_certificate",
        )
        text = _sub(
            text,
            r"^[ \t]*ssl_certificate_key .*;",
            f'    ssl_certificate_key "{tls.key}";',
            "ssl_certificate_key",
        )
        redirect = host_port(address, tls.redirect_port)
        text = _sub(text, r"^[ \t]*listen 80;", f"    listen {redirect};", "listen 80")
    else:
        text = _sub(text, r"^[ \t]*listen 443 ssl http2;", f"    listen {main};", "listen 443")
        text = _sub(text, r"^[ \t]*ssl_\w+ .*;[ \t]*\n", "", "ssl_ directives")
        text = _remove_server_block(text, "listen 80;")
    text = _sub(text, r"^[ \t]*listen \[::\]:443 ssl http2;[ \t]*\n", "", "listen [::]:443")
    if tls:
        text = _sub(text, r"^[ \t]*listen \[::\]:80;[ \t]*\n", "", "listen [::]:80")
        text = _sub(text, r"root /var/www/html;", f'root "{acme_root}";', "the ACME root")
    text = _sub(text, r"/srv/taskhub/static/", f"{static_dir}/", "the static directory")
    text = _sub(text, r"/var/log/nginx/", f"{log_dir}/", "the log directory")
    text = _sub(
        text,
        r"client_max_body_size \w+;",
        f"client_max_body_size {max_body_size};",
        "client_max_body_size",
    )
    return text


def render_main(prefix: Path, site: Path) -> str:
    """The main context that Debian's /etc/nginx/nginx.conf gives in production, with
    every path inside ``prefix``."""
    # As root (tests in CI), workers stay root: nginx's default "nobody" could not
    # reach a prefix or checkout under a private directory. Production runs Debian's
    # nginx.conf, whose workers are www-data.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = prefix / "temp"
    return f"""# Generated by stack.py for a local stack; the site is conf/nginx/taskhub.conf.
{user}worker_processes auto;
# Ctrl-C stops nginx first; open WebSockets would keep its workers alive until the
# processes behind them stop, so they get a few seconds, not forever.
worker_shutdown_timeout 3s;
daemon off;
pid "{prefix}/nginx.pid";
error_log "{prefix}/logs/error.log" notice;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    access_log "{prefix}/logs/access.log";
    client_body_temp_path "{temp}/client_body";
    proxy_temp_path "{temp}/proxy";
    fastcgi_temp_path "{temp}/fastcgi";
    uwsgi_temp_path "{temp}/uwsgi";
    scgi_temp_path "{temp}/scgi";

    include "{site}";
}}
"""


def find_nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if not found:
        raise StackError(
            "nginx is not installed: apt-get install nginx (./test and ./run do as root)"
        )
    return found


# --- the processes ---


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _healthy(port: int) -> bool:
    # http.client rather than urlopen: a connection the process drops mid-answer (it
    # is stopping) is closed here too, not left to the garbage collector
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except (http.client.HTTPException, OSError):
        return False
    finally:
        connection.close()


def _stop(process: subprocess.Popen, sig: int, timeout: float) -> int:
    """Sends ``sig``, waits up to ``timeout`` seconds, then kills; the exit status."""
    if process.poll() is None:
        try:
            process.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop within %gs; killing it", process.pid, timeout)
            process.kill()
    return process.wait()


async def _ping_database(uri: str, timeout: float) -> None:
    client = make_client(uri, serverSelectionTimeoutMS=500)
    try:
        await wait_until_reachable(client, timeout)
    finally:
        await client.close()


def _wait_for_database(uri: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Blocks until the database answers; raises StackError at once when ``process``
    (the server) exits meanwhile. Works whether or not this thread runs an event loop
    (a test's, say), as each check gets a loop of its own in a thread."""
    deadline = time.monotonic() + timeout
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        while True:
            wait = max(min(1.0, deadline - time.monotonic()), 0.0)
            try:
                pool.submit(asyncio.run, _ping_database(uri, wait)).result()
                return
            except Exception:
                if process is not None and process.poll() is not None:
                    raise StackError(
                        f"the embedded database exited with status {process.returncode}"
                    ) from None
                if time.monotonic() >= deadline:
                    raise


class Stack:
    """nginx in front of ``processes`` taskhub processes and one database.

    ``child_args`` go to every taskhub process before the stack's own flags (port,
    address, xheaders, data directory), which win. With ``log_dir``, each program
    writes its output to a file there instead of this process's terminal.
    ``upstreams`` (address:port) are processes the stack does not run, on other
    hosts, that nginx balances across as well: a load balancer for several VMs.
    """

    def __init__(
        self,
        config: settings.Config,
        processes: int,
        *,
        child_args: Sequence[str] = (),
        run_dir: Path | None = None,
        log_dir: Path | None = None,
        static_dir: Path = STATIC,
        tls: TLS | None = None,
        python: str = sys.executable,
        upstreams: Sequence[str] = (),
    ):
        self.config = config
        self.upstreams = list(upstreams)
        self.child_args = list(child_args)
        self.own_run_dir = run_dir is None
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="taskhub-stack-"))
        self.log_dir = log_dir
        self.static_dir = static_dir.resolve()
        self.tls = tls
        self.python = python
        self.data_dir = Path(config.data_dir).resolve()
        self.ports = [config.port + i for i in range(1, processes + 1)]
        self.processes: list[subprocess.Popen | None] = [None] * processes
        self.nginx: subprocess.Popen | None = None
        self.database: subprocess.Popen | None = None
        self.embedded: EmbeddedMongo | None = None
        self.lock: DatabaseFilesLock | None = None
        self.mongodb_uri: str | None = config.mongodb_uri
        self.cookie_secret: str | None = None

    @property
    def url(self) -> str:
        host = self.config.address
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host_port(host, self.config.port)}"

    @property
    def nginx_prefix(self) -> Path:
        return self.run_dir / "nginx"

    # --- starting ---

    def start(self) -> Stack:
        try:
            # first: a site that cannot work, a data directory in use or a busy port
            # stops us before anything runs
            nginx_command = self._render_nginx()
            self._lock_data_dir()
            self.check_ports()
            self._start_database()
            for index in range(len(self.ports)):
                self.start_process(index)
            for index in range(len(self.ports)):
                self.wait_ready(index)
            self._start_nginx(nginx_command)
        except BaseException:
            self.stop()
            raise
        return self

    def _output(self, name: str) -> int | BinaryIO | None:
        """Where the program ``name`` writes: subprocess.DEVNULL, a log file, or None
        (this terminal)."""
        if self.log_dir is None:
            # the embedded database keeps its own log file; its chatter stays off the terminal
            return subprocess.DEVNULL if name == "embedded-db" else None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"{name}.log", "ab")

    def _spawn(
        self, argv: list[str], name: str, env: dict[str, str] | None = None, **options: Any
    ) -> subprocess.Popen:
        # Its own session: Ctrl-C reaches only the stack, which stops all in order.
        options.setdefault("start_new_session", True)
        out = self._output(name)
        try:
            return subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=None if out is None else subprocess.STDOUT,
                **options,
            )
        finally:
            if out is not None and not isinstance(out, int):  # a log file, not DEVNULL
                out.close()

    def log_tail(self, name: str, lines: int = 20) -> str:
        if self.log_dir is None:
            return ""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _lock_data_dir(self) -> None:
        """As taskhub does when it runs the embedded database: one per data directory.
        The processes, given the database's URI, take no lock."""
        if self.mongodb_uri:
            return
        data_dir = prepare_data_dir(self.config.replace(data_dir=str(self.data_dir)))
        try:
            self.lock = lock_database_files(data_dir)
        except DataDirLocked as e:
            raise StackError(str(e)) from e

    def check_ports(self) -> None:
        """Every port the stack will listen on is free, or StackError names the busy one."""
        wanted = [(self.config.address, self.config.port, "nginx")]
        if self.tls:
            wanted.append((self.config.address, self.tls.redirect_port, "nginx's redirect"))
        count = len(self.ports)
        wanted += [
            ("127.0.0.1", port, f"taskhub process {i} of {count}")
            for i, port in enumerate(self.ports, 1)
        ]
        for address, port, what in wanted:
            try:
                check_port_free(address, port, what)
            except PortBusy as e:
                raise StackError(
                    f"{e}: stop what listens there, or choose another --port (the stack "
                    f"uses {self.config.port} for nginx and the {count} after it)"
                ) from e

    def _start_database(self) -> None:
        data_dir = prepare_data_dir(self.config.replace(data_dir=str(self.data_dir)))
        self.cookie_secret = load_cookie_secret(self.config, data_dir)
        if self.mongodb_uri:
            return
        self.embedded = EmbeddedMongo(data_dir, keep_fds=[self.lock.fileno()] if self.lock else [])
        self._run_database()
        self.mongodb_uri = self.embedded.uri
        log.info("embedded database on %s, files in %s", self.embedded.uri, data_dir)

    def _run_database(self) -> None:
        """Starts the embedded server (from the main thread: it dies with this process)
        and waits until it answers."""
        embedded = self.embedded
        assert embedded is not None
        timeout = self.config.startup_timeout
        try:
            check_port_free("127.0.0.1", embedded.port, "the embedded database")
        except PortBusy as e:
            raise StackError(str(e)) from e
        self.database = self._spawn(embedded.command(), "embedded-db", **embedded.spawn_options())
        try:
            _wait_for_database(embedded.uri, timeout, self.database)
        except StackError as e:
            raise StackError(f"{e}; see {embedded.log_path}") from e
        except Exception as e:
            _stop(self.database, signal.SIGTERM, 10)
            raise StackError(
                f"the embedded database did not answer within {timeout:g}s; see {embedded.log_path}"
            ) from e

    def restart_database(self) -> None:
        """Starts the embedded database again after it exited: the same port and files,
        so that the processes' clients reconnect by themselves."""
        if self.embedded is None:
            raise StackError("the stack runs no embedded database")
        self._run_database()
        log.warning("the embedded database is back on %s", self.embedded.uri)

    def process_name(self, index: int) -> str:
        return f"taskhub-{self.ports[index]}"

    def command(self, index: int) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of the process on ``self.ports[index]``."""
        assert self.mongodb_uri and self.cookie_secret
        argv = [
            self.python,
            str(ROOT / "app.py"),
            *self.child_args,
            "--port",
            str(self.ports[index]),
            "--address",
            "127.0.0.1",
            "--xheaders",
            "true",
            "--data-dir",
            str(self.data_dir),
        ]
        # Secrets go by environment, not on command lines that ps shows; flags in
        # child_args still win.
        env = {
            **os.environ,
            "TASKHUB_MONGODB_URI": self.mongodb_uri,
            "TASKHUB_COOKIE_SECRET": self.cookie_secret,
        }
        return argv, env

    def start_process(self, index: int) -> subprocess.Popen:
        argv, env = self.command(index)
        process = self._spawn(argv, self.process_name(index), env)
        self.processes[index] = process
        return process

    def wait_ready(self, index: int, timeout: float | None = None) -> None:
        """Waits until the process answers /healthz with 200."""
        process, port = self.processes[index], self.ports[index]
        assert process is not None
        deadline = time.monotonic() + (timeout or self.config.startup_timeout + 10)
        while not _healthy(port):
            if process.poll() is not None:
                raise StackError(
                    f"taskhub on port {port} exited with status {process.returncode}\n"
                    + self.log_tail(self.process_name(index))
                )
            if time.monotonic() > deadline:
                raise StackError(f"taskhub on port {port} is not healthy in time")
            time.sleep(0.1)

    def _render_nginx(self) -> list[str]:
        """Writes the rendered site and main configuration into the prefix, checks them
        with ``nginx -t``, and returns nginx's command line."""
        nginx = find_nginx()
        prefix = self.nginx_prefix
        for sub in ("conf", "logs", "temp", "acme"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        site = prefix / "conf" / "taskhub.conf"
        site.write_text(
            render_site(
                SITE.read_text(),
                upstreams=[host_port("127.0.0.1", p) for p in self.ports] + self.upstreams,
                address=self.config.address,
                port=self.config.port,
                static_dir=self.static_dir,
                log_dir=prefix / "logs",
                acme_root=prefix / "acme",
                max_body_size=self.config.max_body_size,
                live_ping_interval=self.config.live_ping_interval,
                tls=self.tls,
            )
        )
        main = prefix / "conf" / "nginx.conf"
        main.write_text(render_main(prefix, site))
        command = [
            nginx,
            "-p",
            str(prefix),
            "-e",
            str(prefix / "logs" / "error.log"),
            "-c",
            str(main),
        ]
        check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
        if check.returncode != 0:
            raise StackError(f"nginx rejects the rendered {site}:\n{check.stderr.strip()}")
        return command

    def _start_nginx(self, command: list[str]) -> None:
        prefix = self.nginx_prefix
        self.nginx = self._spawn(command, "nginx")
        host = "127.0.0.1" if self.config.address in ("0.0.0.0", "::") else self.config.address
        deadline = time.monotonic() + 10
        while not _port_open(host, self.config.port):
            if self.nginx.poll() is not None or time.monotonic() > deadline:
                errors = (prefix / "logs" / "error.log").read_text(errors="replace")
                raise StackError(
                    f"nginx did not start on port {self.config.port}:\n{errors[-2000:]}"
                )
            time.sleep(0.05)

    # --- changing and stopping ---

    @property
    def stop_timeout(self) -> float:
        """As TimeoutStopSec in the unit: longer than the drain."""
        return self.config.drain_timeout + 10

    def stop_process(self, index: int, sig: int = signal.SIGTERM) -> int:
        process = self.processes[index]
        if process is None:
            return 0
        code = _stop(process, sig, self.stop_timeout)
        self.processes[index] = None
        return code

    def restart(self, index: int) -> int:
        """Stops one process as systemd does (SIGTERM, it drains), starts it again and
        waits until it is healthy; returns the old process's exit status."""
        code = self.stop_process(index)
        self.start_process(index)
        self.wait_ready(index)
        return code

    def kill(self, index: int) -> int:
        """SIGKILL: a crash, nothing drained."""
        return self.stop_process(index, signal.SIGKILL)

    def stop(self) -> None:
        """nginx first (it finishes the requests it has), then every taskhub process
        together (each drains), then the embedded database."""
        if self.nginx is not None:
            _stop(self.nginx, signal.SIGQUIT, self.stop_timeout)
            self.nginx = None
        running = [(i, p) for i, p in enumerate(self.processes) if p is not None]
        for _, process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for index, _ in running:
            self.stop_process(index)
        if self.database is not None:
            _stop(self.database, signal.SIGTERM, 10)
            self.database = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self.own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
