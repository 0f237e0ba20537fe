"""Graceful stop: one process drains (in-process tests of drain.DrainingHTTPServer),
and whole stacks behind real nginx lose nothing in a rolling restart and no
acknowledged write to a SIGKILL, with their live counts printed; live sockets are
closed with 1001 and reconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest
import tornado.web
from harness.stacks import Load, Writes, explain, running_stack
from harness.users import register_and_login
from tornado.httpclient import HTTPRequest
from tornado.netutil import bind_sockets
from tornado.websocket import websocket_connect

from server.drain import DrainingHTTPServer

pytestmark = pytest.mark.integration

# --- one server, in process ---


class Slow(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_query_argument("s", "1")))
        self.write("done")


class Fast(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("fast")


@pytest.fixture
async def draining_server():
    app = tornado.web.Application([(r"/slow", Slow), (r"/fast", Fast)])
    server = DrainingHTTPServer(app)
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    yield server, f"http://127.0.0.1:{port}"
    server.stop()
    await server.close_all_connections()


async def wait_in_flight(server: DrainingHTTPServer, count: int) -> None:
    deadline = time.monotonic() + 5
    while server.in_flight != count:
        assert time.monotonic() < deadline, f"in_flight={server.in_flight}, expected {count}"
        await asyncio.sleep(0.01)


async def test_drain_finishes_requests_in_flight_and_refuses_new_connections(draining_server):
    server, url = draining_server
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        slow = asyncio.create_task(client.get("/slow", params={"s": "1"}))
        await wait_in_flight(server, 1)
        started = time.monotonic()
        server.stop_accepting()
        drained = asyncio.create_task(server.drain(5))
        async with httpx.AsyncClient(base_url=url, timeout=5) as other:
            with pytest.raises(httpx.ConnectError):
                await other.get("/fast")
        response = await slow
        assert response.status_code == 200 and response.text == "done"
        assert response.headers["Connection"] == "close"  # nginx must not reuse it
        assert await drained is True
        assert 0.9 < time.monotonic() - started < 4
        assert server.in_flight == 0


async def test_requests_on_kept_alive_connections_are_answered_while_draining(draining_server):
    server, url = draining_server
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        assert (await client.get("/fast")).headers.get("Connection") != "close"
        server.stop_accepting()
        drained = asyncio.create_task(server.drain(5))
        # the kept-alive connection still works, and is told to close
        again = await client.get("/fast")
        assert again.status_code == 200 and again.headers["Connection"] == "close"
        assert await drained is True


async def test_drain_timeout_cuts_what_is_still_running(draining_server):
    server, url = draining_server
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        slow = asyncio.create_task(client.get("/slow", params={"s": "5"}))
        await wait_in_flight(server, 1)
        server.stop_accepting()
        started = time.monotonic()
        assert await server.drain(0.3) is False
        assert time.monotonic() - started < 2
        with pytest.raises(httpx.TransportError):
            await slow


async def test_connections_queued_in_the_kernel_are_served_not_reset(draining_server):
    # A connection the kernel has completed but Tornado not yet accepted: nginx may
    # have sent a request on it. Closing the listening socket would reset it.
    server, url = draining_server
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
    server.stop_accepting()  # in the same IOLoop turn: nothing was accepted yet
    drained = asyncio.create_task(server.drain(5))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    data = b""
    while b"fast" not in data:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
        assert chunk, f"connection closed with {data!r}"
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in data
    assert await drained is True


# --- whole stacks behind nginx ---


async def start_load(stack) -> Load:
    load = Load(stack, Writes(stack), workers=6, limit=60)
    await load.start()
    return load


async def finish_load(stack, load: Load, shown_failures: int | None = None):
    """Stops the load and reads every acknowledged write back: the tally, the writes
    missing, and a summary for assertion messages (with what taskhub logged for 500s)."""
    await load.flowing()
    tally = await load.stop()
    stored = await load.writes.stored(tally.acknowledged)
    missing = set(tally.acknowledged) - stored
    print(f"  after: {tally}; acknowledged writes stored: {len(stored)}/{len(tally.acknowledged)}")
    failures = explain(stack, tally.failures[:shown_failures])
    return tally, missing, f"{tally}; missing writes: {len(missing)}; failures: {failures}"


async def test_rolling_restart_under_load_loses_nothing(tmp_path, mongodb_uri):
    with running_stack(tmp_path, mongodb_uri, processes=3, drain_timeout=5) as stack:
        load = await start_load(stack)
        print("\nrolling restart of 3 processes under load, writes are task creates")
        await load.flowing()
        print(f"  before: {load.tally}")
        at_start = load.tally.requests
        codes = []
        for index, port in enumerate(stack.ports):
            codes.append(await asyncio.to_thread(stack.restart, index))
            print(f"  restarted :{port} (exit status {codes[-1]}): {load.tally}")
        during = load.tally.requests - at_start
        tally, missing, summary = await finish_load(stack, load, shown_failures=5)
        assert codes == [0] * len(stack.ports), f"exit statuses {codes}; {summary}"
        assert tally.failures == [], summary
        assert not missing, summary
        # the load kept flowing through every restart (slow machines write less)
        assert during >= load.workers and tally.acknowledged, f"too little load: {summary}"
        for index in range(len(stack.ports)):
            log = (tmp_path / "logs" / f"{stack.process_name(index)}.log").read_text()
            assert "stopping: no new connections" in log and "stopped" in log


async def test_sigkill_costs_at_most_the_requests_in_flight(tmp_path, mongodb_uri):
    with running_stack(tmp_path, mongodb_uri, processes=3, drain_timeout=5) as stack:
        load = await start_load(stack)
        print(f"\nSIGKILL one of 3 processes under load ({load.workers} clients)")
        await load.flowing()
        print(f"  before: {load.tally}")
        at_start = load.tally.requests
        status = await asyncio.to_thread(stack.kill, 0)
        print(f"  killed :{stack.ports[0]} (status {status}): {load.tally}")
        await load.flowing()
        await asyncio.to_thread(stack.start_process, 0)
        await asyncio.to_thread(stack.wait_ready, 0)
        print(f"  started :{stack.ports[0]} again: {load.tally}")
        during = load.tally.requests - at_start
        tally, missing, summary = await finish_load(stack, load)
        # each client has at most one request in flight
        assert len(tally.failures) <= load.workers, summary
        assert all(" 502 " in f for f in tally.failures), summary  # nginx's JSON 502, nothing else
        assert not missing, summary
        assert during >= load.workers and tally.acknowledged, f"too little load: {summary}"


async def test_live_sockets_get_1001_in_a_rolling_restart_and_reconnect(tmp_path, mongodb_uri):
    with running_stack(tmp_path, mongodb_uri, processes=2, drain_timeout=5) as stack:
        async with httpx.AsyncClient(base_url=stack.url, timeout=20) as c:
            _, headers = await register_and_login(c)
        url = stack.url.replace("http://", "ws://") + "/api/live"

        async def connect():
            conn = await asyncio.wait_for(websocket_connect(HTTPRequest(url, headers=headers)), 10)
            assert json.loads(await asyncio.wait_for(conn.read_message(), 10))["type"] == "ready"
            return conn

        async def until_closed(conn) -> int | None:
            while await conn.read_message() is not None:
                pass
            return conn.close_code

        sockets = [await connect() for _ in range(4)]  # spread over both processes by nginx
        try:
            closed = [asyncio.create_task(until_closed(conn)) for conn in sockets]
            for index in range(len(stack.ports)):
                assert await asyncio.to_thread(stack.restart, index) == 0
            codes = await asyncio.wait_for(asyncio.gather(*closed), 20)
            print(f"\nlive sockets closed with {codes} during the rolling restart")
            assert codes == [1001] * len(sockets)
            sockets.append(await connect())  # a client reconnects to either process
        finally:
            for conn in sockets:
                conn.close()


# systemctl for scripts/rolling-restart.sh: the "units" are the stack's processes.
FAKE_SYSTEMCTL = """#!{python}
import json, os, signal, subprocess, sys, time
from pathlib import Path

state = Path({state!r})
args = sys.argv[1:]
if args[0] == "show":  # show --property=Wants --value taskhub.target
    ports = json.loads((state / "ports.json").read_text())
    print(" ".join(f"taskhub@{{p}}.service" for p in ports))
    sys.exit(0)
assert args[0] == "restart", args
port = args[1].removeprefix("taskhub@").removesuffix(".service")
unit = json.loads((state / f"{{port}}.json").read_text())


def running(pid):
    try:
        return "State:\\tZ" not in Path(f"/proc/{{pid}}/status").read_text()
    except OSError:
        return False


os.kill(unit["pid"], signal.SIGTERM)
deadline = time.monotonic() + 30
while running(unit["pid"]):
    assert time.monotonic() < deadline, "did not stop"
    time.sleep(0.05)
with open(unit["log"], "ab") as log:
    process = subprocess.Popen(unit["argv"], env=unit["env"], stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
unit["pid"] = process.pid
(state / f"{{port}}.json").write_text(json.dumps(unit))
"""


async def test_rolling_restart_script_under_load(tmp_path, mongodb_uri):
    root = Path(__file__).resolve().parent.parent
    with running_stack(tmp_path, mongodb_uri, processes=2, drain_timeout=5) as stack:
        state, bin_dir = tmp_path / "units", tmp_path / "bin"
        state.mkdir()
        bin_dir.mkdir()
        (state / "ports.json").write_text(json.dumps(stack.ports))
        for index, port in enumerate(stack.ports):
            argv, env = stack.command(index)
            log = stack.log_dir / f"{stack.process_name(index)}.log"
            unit = {"pid": stack.processes[index].pid, "argv": argv, "env": env, "log": str(log)}
            (state / f"{port}.json").write_text(json.dumps(unit))
        systemctl = bin_dir / "systemctl"
        systemctl.write_text(FAKE_SYSTEMCTL.format(python=sys.executable, state=str(state)))
        systemctl.chmod(0o755)
        try:
            load = await start_load(stack)
            await load.flowing()
            print(f"\nscripts/rolling-restart.sh under load; before: {load.tally}")
            at_start = load.tally.requests
            script = await asyncio.create_subprocess_exec(
                "bash", str(root / "scripts" / "rolling-restart.sh"),
                env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            output, _ = await asyncio.wait_for(script.communicate(), 120)
            print(f"  script done (status {script.returncode}): {load.tally}")
            during = load.tally.requests - at_start
            tally, missing, summary = await finish_load(stack, load, shown_failures=5)
            assert script.returncode == 0, output.decode()
            assert f"restarted {len(stack.ports)} processes" in output.decode()
            assert tally.failures == [], summary
            assert not missing, summary
            assert during >= load.workers, f"too little load: {summary}"
        finally:
            for port in stack.ports:  # the processes the fake systemctl started
                pid = json.loads((state / f"{port}.json").read_text())["pid"]
                if pid not in [p.pid for p in stack.processes if p]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                    deadline = time.monotonic() + 20
                    while Path(f"/proc/{pid}").exists() and "State:\tZ" not in _status(pid):
                        assert time.monotonic() < deadline
                        await asyncio.sleep(0.05)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "State:\tZ"
