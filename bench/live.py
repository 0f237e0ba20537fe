"""Live-update delivery latency, side by side with a bare Tornado baseline, in one run.

For each N (100 and 1000 by default), N subscribers of one user are spread over two
taskhub processes sharing one database; each round changes one task through the task
API (PATCH /api/tasks/{id}) and times, per subscriber, from just before the request to
the arrival of the change. The baseline, measured in the same rounds, is a bare
Tornado process whose handler writes the same message to N sockets in a loop when
POSTed to. Everything runs on loopback and stops by itself within --time-limit.

    .venv/bin/python bench/live.py [--subscribers 100,1000] [--rounds 20]

Without --mongodb-uri the embedded database is started in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import tornado.web  # noqa: E402
import tornado.websocket  # noqa: E402
from tornado.httpclient import HTTPRequest  # noqa: E402
from tornado.websocket import websocket_connect  # noqa: E402

from bench.processes import stop, wait_http  # noqa: E402
from server.embedded_db import EmbeddedMongo, die_with_parent, free_port  # noqa: E402

PASSWORD = "bench password 123"


# --- the baseline: a bare Tornado handler writing one message to N sockets ---


class BaselineSocket(tornado.websocket.WebSocketHandler):
    sockets: ClassVar[set[BaselineSocket]] = set()

    def open(self) -> None:
        self.set_nodelay(True)
        self.sockets.add(self)

    def on_close(self) -> None:
        self.sockets.discard(self)


class Publish(tornado.web.RequestHandler):
    def post(self) -> None:
        message = self.request.body.decode()
        for socket in list(BaselineSocket.sockets):
            socket.write_message(message)
        self.set_status(204)


async def baseline_server(port: int) -> None:
    app = tornado.web.Application([(r"/ws", BaselineSocket), (r"/publish", Publish)])
    app.listen(port, "127.0.0.1")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


# --- processes ---


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def spawn(args: list[str], log_path: Path) -> subprocess.Popen:
    # the child keeps its own copy of the file descriptor; ours can close; it dies with us
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=die_with_parent(),
        )


# --- subscribers ---


class Subscribers:
    """N WebSocket clients in this process; each arrival is timed as it comes."""

    def __init__(self) -> None:
        self.connections: list[tornado.websocket.WebSocketClientConnection] = []
        self.arrivals: list[float] = []
        self.expected = 0
        self.all_arrived = asyncio.Event()
        self.match: str | None = None  # a substring the awaited message contains

    def on_message(self, message: str | bytes | None) -> None:
        if message is None or self.match is None or self.match not in message:
            return
        self.arrivals.append(time.perf_counter())
        if len(self.arrivals) >= self.expected:
            self.all_arrived.set()

    async def connect(self, urls: list[str], n: int, headers: dict[str, str]) -> None:
        batch = 50  # connect in batches: a burst of 1000 SYNs overflows the accept queue
        for start in range(0, n, batch):
            self.connections += await asyncio.gather(
                *(
                    websocket_connect(
                        HTTPRequest(urls[i % len(urls)], headers=headers, connect_timeout=30),
                        on_message_callback=self.on_message,
                    )
                    for i in range(start, min(n, start + batch))
                )
            )

    def expect(self, match: str) -> float:
        self.arrivals = []
        self.expected = len(self.connections)
        self.all_arrived.clear()
        self.match = match
        return time.perf_counter()

    async def latencies(self, started: float, timeout: float) -> list[float]:
        try:
            await asyncio.wait_for(self.all_arrived.wait(), timeout)
        except TimeoutError:
            pass
        missing = self.expected - len(self.arrivals)
        if missing:
            raise SystemExit(f"{missing} of {self.expected} subscribers got nothing in {timeout}s")
        return [(t - started) * 1000 for t in self.arrivals]

    def close(self) -> None:
        for c in self.connections:
            c.close()
        self.connections = []


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- the run ---


def taskhub_command(port: int, uri: str, database: str, work: Path, *extra: str) -> list[str]:
    """A taskhub process's arguments for ``spawn``: on ``database``, quiet, with
    ``extra`` settings."""
    return [
        "app.py",
        *("--port", str(port), "--mongodb-uri", uri, "--database", database),
        *("--data-dir", str(work), f"--cookie-secret={secrets.token_urlsafe(32)}"),
        *("--log-level", "warning"),
        *extra,
    ]


async def run(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.time_limit
    limit = raise_open_files_limit()
    sizes = [int(n) for n in args.subscribers.split(",")]
    if limit < 2 * max(sizes) + 200:
        raise SystemExit(f"open-files limit {limit} is too low for {max(sizes)} subscribers")

    work = Path(tempfile.mkdtemp(prefix="taskhub-bench-"))
    embedded = None
    uri = args.mongodb_uri
    if uri is None:
        embedded = EmbeddedMongo(work / "db")
        uri = await embedded.start()
    processes: list[subprocess.Popen] = []
    try:
        ports = [free_port(), free_port()]
        database = "bench_" + secrets.token_hex(4)
        for port in ports:
            processes.append(
                spawn(
                    taskhub_command(
                        port, uri, database, work, "--live-max-sockets", str(max(sizes))
                    ),
                    work / f"taskhub-{port}.log",
                )
            )
        baseline_port = free_port()
        processes.append(
            spawn([__file__, "--baseline-server", str(baseline_port)], work / "baseline.log")
        )
        # the baseline process, last, has no port in ``ports``
        for port, process in zip(ports, processes, strict=False):
            await wait_http(f"http://127.0.0.1:{port}/healthz", process)
        await wait_http(f"http://127.0.0.1:{baseline_port}/publish", processes[2])

        api = f"http://127.0.0.1:{ports[0]}"
        async with httpx.AsyncClient(base_url=api, timeout=30) as http:
            await http.post("/api/users", json={"username": "bench", "password": PASSWORD})
            token = (
                await http.post("/api/login", json={"username": "bench", "password": PASSWORD})
            ).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            task = (await http.post("/api/tasks", json={"title": "bench"}, headers=auth)).json()[
                "task"
            ]

            print(
                "live: 2 taskhub processes; baseline: 1 bare Tornado process; "
                f"{args.rounds} rounds each"
            )
            print(
                f"{'N':>6} {'live p50':>10} {'live p99':>10} {'base p50':>10} {'base p99':>10} "
                f"{'p50 ratio':>10} {'p99 ratio':>10}"
            )
            for n in sizes:
                live, base = Subscribers(), Subscribers()
                live_urls = [f"ws://127.0.0.1:{p}/api/live" for p in ports]
                await live.connect(live_urls, n, auth)
                await base.connect([f"ws://127.0.0.1:{baseline_port}/ws"], n, {})
                await asyncio.sleep(1)  # let every socket finish catching up
                live_ms: list[float] = []
                base_ms: list[float] = []
                for round_ in range(args.rounds + 1):  # round 0 warms up
                    if time.monotonic() > deadline:
                        print(f"  (time limit reached after {round_} rounds)")
                        break
                    title = f"round {n}-{round_} {secrets.token_hex(4)}"
                    started = live.expect(title)
                    answer = await http.patch(
                        f"/api/tasks/{task['id']}", json={"title": title}, headers=auth
                    )
                    answer.raise_for_status()
                    got = await live.latencies(started, 10)
                    message = json.dumps(
                        {"type": "task.updated", "task": answer.json()["task"], "seq": 0},
                        separators=(",", ":"),
                        ensure_ascii=False,
                    ).replace(title, title + " base")
                    started = base.expect(title + " base")
                    await http.post(f"http://127.0.0.1:{baseline_port}/publish", content=message)
                    got_base = await base.latencies(started, 10)
                    if round_:
                        live_ms += got
                        base_ms += got_base
                    await asyncio.sleep(0.1)
                live.close()
                base.close()
                if not live_ms:
                    continue
                lp50, lp99 = percentile(live_ms, 50), percentile(live_ms, 99)
                bp50, bp99 = percentile(base_ms, 50), percentile(base_ms, 99)
                print(
                    f"{n:>6} {lp50:>8.1f}ms {lp99:>8.1f}ms {bp50:>8.1f}ms {bp99:>8.1f}ms "
                    f"{lp50 / bp50:>9.2f}x {lp99 / bp99:>9.2f}x"
                )
                print(f"bench live_p99_{n}: {lp99:.1f} ms vs {bp99:.1f} ms = {lp99 / bp99:.2f}")
                print(
                    f"       (live mean {statistics.mean(live_ms):.1f}ms, baseline mean "
                    f"{statistics.mean(base_ms):.1f}ms, {len(live_ms)} deliveries each)"
                )
                await asyncio.sleep(0.5)
    finally:
        stop(processes)
        if embedded:
            await embedded.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="100,1000", help="comma-separated values of N")
    parser.add_argument("--rounds", type=int, default=20, help="changes timed per N")
    parser.add_argument("--mongodb-uri", help="a MongoDB replica set; default: the embedded server")
    parser.add_argument(
        "--time-limit", type=float, default=300, help="seconds the whole run may take"
    )
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        asyncio.run(baseline_server(args.baseline_server))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
