"""``./run --processes N``: the whole local stack from one command, and the rendering of
the shipped nginx site that it (and every end-to-end test) runs."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from harness.processes import TaskhubProcess
from harness.stacks import free_port_block
from harness.users import PASSWORD

from devstack.stack import SITE, TLS, StackError, render_site

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


def render(**overrides) -> str:
    kwargs = dict(
        upstreams=["127.0.0.1:9101", "127.0.0.1:9102", "198.18.0.10:9103"],
        address="127.0.0.1",
        port=9100,
        static_dir=Path("/tmp/static-here"),
        log_dir=Path("/tmp/logs-here"),
        acme_root=Path("/tmp/acme-here"),
        max_body_size=1048576,
        live_ping_interval=25.0,
    )
    return render_site(SITE.read_text(), **{**kwargs, **overrides})


def test_rendering_changes_only_upstreams_ports_paths_and_the_body_limit():
    shipped = SITE.read_text().splitlines()
    rendered = render().splitlines()
    added = [line.strip() for line in rendered if line not in shipped]
    assert added == [
        "server 127.0.0.1:9101 max_fails=0;",
        "server 127.0.0.1:9102 max_fails=0;",
        "server 198.18.0.10:9103 max_fails=0;",
        "listen 127.0.0.1:9100;",
        "access_log /tmp/logs-here/taskhub.access.log taskhub;",
        "client_max_body_size 1048576;",
        "alias /tmp/static-here/;",
    ]
    removed = [line.strip() for line in shipped if line not in rendered]
    # without TLS: no certificates, and no HTTP → HTTPS redirect server
    assert all(
        line.startswith(("server 127.0.0.1:80", "listen", "ssl_", "access_log", "client_max", "alias"))
        or line in ("server {", "}", "server_name taskhub.example.com;", "location / {",
                    "root /var/www/html;", "location /.well-known/acme-challenge/ {",
                    "return 301 https://$host$request_uri;", "")
        for line in removed
    ), removed  # fmt: skip
    assert "ssl" not in "\n".join(rendered).replace("ssl_", "")  # no ssl listen either


def test_rendering_with_tls_keeps_the_https_server_and_the_redirect():
    tls = TLS(certificate=Path("/tmp/c.pem"), key=Path("/tmp/k.pem"), redirect_port=9099)
    text = render(tls=tls)
    assert "listen 127.0.0.1:9100 ssl http2;" in text
    assert "listen 127.0.0.1:9099;" in text
    assert 'ssl_certificate "/tmp/c.pem";' in text and 'ssl_certificate_key "/tmp/k.pem";' in text
    assert "return 301 https://$host$request_uri;" in text
    assert "[::]" not in text


def test_a_ping_interval_nginx_would_time_out_is_refused():
    with pytest.raises(StackError, match="live_ping_interval"):
        render(live_ping_interval=75.0)


def test_a_changed_site_shape_fails_loudly():
    with pytest.raises(StackError, match="listen 443"):
        render_site(SITE.read_text().replace("listen 443 ssl http2;", "listen 443 ssl;"),
                    upstreams=["127.0.0.1:1"], address="127.0.0.1", port=2, static_dir=Path("/s"),
                    log_dir=Path("/l"), acme_root=Path("/a"), max_body_size=1, live_ping_interval=1)  # fmt: skip


# --- the real command ---


class Output:
    """Lines a child prints, read in a thread so that waiting for one has a timeout."""

    def __init__(self, process: subprocess.Popen):
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = process
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def close(self) -> None:
        self.thread.join(10)  # the child has exited: its output ends
        if not self.thread.is_alive():  # else something it started holds the pipe open
            self.process.stdout.close()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no {pattern!r} within {timeout}s in:\n{''.join(self.seen)}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_listening_on(port: int) -> int:
    """The pid of the stack's taskhub child serving ``port`` (its unique command line)."""
    wanted = f"--port\0{port}\0"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "app.py" in cmdline and wanted in cmdline:
                return int(entry.name)
    raise AssertionError(f"no taskhub process with --port {port}")


def test_run_processes_starts_the_stack_restarts_a_dead_process_and_ctrl_c_stops_all(tmp_path):
    port = free_port_block(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKHUB_")}
    env["TMPDIR"] = str(tmp_path)  # nginx's prefix: inside the test session's directory
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--processes", "2", "--port", str(port),
         "--data-dir", str(tmp_path / "var")],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = Output(process)
    try:
        database = output.wait_for(r"embedded database on mongodb://127\.0\.0\.1:(\d+)", 60)
        output.wait_for(rf"taskhub: http://127\.0\.0\.1:{port} ", 60)
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=20) as c:
            assert c.get("/healthz").json() == {"status": "ok", "db": "ok"}
            created = c.post("/api/users", json={"username": "stack_user", "password": PASSWORD})
            assert created.status_code == 201, created.text
            # a process that dies is started again, as systemd would
            os.kill(pid_listening_on(port + 1), signal.SIGKILL)
            output.wait_for(rf"taskhub on port {port + 1} exited .* starting it again", 20)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (
                        httpx.get(f"http://127.0.0.1:{port + 1}/healthz", timeout=2).status_code
                        == 200
                    ):
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the killed process did not come back"
                time.sleep(0.2)
            login = c.post("/api/login", json={"username": "stack_user", "password": PASSWORD})
            assert login.status_code == 200
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(60) == 0, "".join(output.seen)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        output.close()
    # nothing is left listening: nginx, both processes, the embedded database
    for p in (port, port + 1, port + 2, int(database.group(1))):
        assert not port_open(p), p
    assert (tmp_path / "var" / "cookie_secret").exists()


def devstack(tmp_path: Path, port: int, processes: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKHUB_")}
    env["TMPDIR"] = str(tmp_path)  # nginx's prefix: inside the test session's directory
    return subprocess.Popen(
        [sys.executable, "-m", "devstack", "--processes", str(processes), "--port", str(port),
         "--data-dir", str(tmp_path / "var"), "--password-hash-memory", "64",
         "--password-hash-iterations", "1", "--password-hash-lanes", "1"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    "offset, named", [(0, "nginx"), (2, "taskhub process 2 of 3")], ids=["nginx", "process"]
)
def test_a_busy_port_is_named_before_anything_starts(tmp_path, offset, named):
    port = free_port_block(4)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port + offset))
        busy.listen()
        started = time.monotonic()
        process = devstack(tmp_path, port, 3)
        try:
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 1, output
    assert f"port {port + offset} on 127.0.0.1 (for {named}) is already in use" in output, output
    assert "embedded database on" not in output and "keep exiting" not in output, output
    assert time.monotonic() - started < 20


def embedded_db_pid(port: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if any("nx-27017" in a for a in args) and f"{port}" in args:
                return int(entry.name)
    raise AssertionError(f"no embedded database on port {port}")


def test_run_processes_restarts_a_dead_database_and_locks_its_data_dir(tmp_path):
    port = free_port_block(3)
    process = devstack(tmp_path, port, 2)
    output = Output(process)
    try:
        database = int(output.wait_for(r"embedded database on mongodb://127\.0\.0\.1:(\d+)", 60)[1])
        output.wait_for(rf"taskhub: http://127\.0\.0\.1:{port} ", 60)
        # the stack runs the embedded database: the data directory is its alone
        second = TaskhubProcess(data_dir=tmp_path / "var")
        second.launch()
        assert second.exited(15) == 1, second.output()
        assert f"pid {process.pid}" in second.output(), second.output()
        assert str((tmp_path / "var").resolve()) in second.output(), second.output()

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as c:
            created = c.post("/api/users", json={"username": "stack_db", "password": PASSWORD})
            assert created.status_code == 201, created.text
            os.kill(embedded_db_pid(database), signal.SIGKILL)
            output.wait_for(r"embedded database exited .*starting it again", 20)
            output.wait_for(rf"embedded database is back on mongodb://127\.0\.0\.1:{database}", 60)
            deadline = time.monotonic() + 30
            while True:  # the processes reconnect by themselves, nginx in front all along
                login = c.post("/api/login", json={"username": "stack_db", "password": PASSWORD})
                if login.status_code == 200:
                    break
                assert time.monotonic() < deadline, login.text
                time.sleep(0.2)
        assert process.poll() is None, "".join(output.seen)
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(60) == 0, "".join(output.seen)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # it stops what it started
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        output.close()
    for p in (port, port + 1, port + 2, database):
        assert not port_open(p), p
