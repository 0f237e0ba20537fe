"""Where a loaded taskhub process spends its CPU: py-spy samples it while clients send
one kind of request, and each sample counts for the part of the code it was in
(its innermost Python frame): Tornado, PyMongo, bson, JSON (the json module and
services/encoding.py), asyncio, taskhub's own code, the rest of the standard library
and other packages, or system calls on sockets; samples of the event loop waiting
are left out.

    .venv/bin/python -m bench.profile [--load get_tasks,post_tasks,healthz] [--seconds 20]
                                      [--keep FOLDER]

It starts what it needs (bench/stage.py: the embedded database, taskhub, a reader
with 50 tasks) and stops it however it ends. py-spy reads another process's memory:
run it as root (or with ptrace allowed).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from .processes import ROOT, Processes, cpu_seconds
from .stage import Stage, open_stage, stop_stage

LOADS = ("get_tasks", "post_tasks", "healthz")
CLIENTS = 4  # requests in flight at once
SAMPLES_PER_SECOND = 200

# The part a file belongs to, by the first pattern its path contains; checked in order.
PARTS = (
    ("Tornado", "/tornado/"),
    ("PyMongo", "/pymongo/"),
    ("bson", "/bson/"),
    ("JSON", "/json/"),
    ("JSON", "/services/encoding.py"),
    ("asyncio", "/asyncio/"),
    ("other packages", "/site-packages/"),
    ("standard library", sysconfig.get_paths()["stdlib"]),
    ("taskhub", str(ROOT)),
)


# Innermost frames that are the kernel's work rather than Python's: a sample there is
# a system call on a socket, or the event loop waiting for one (not counted: py-spy
# takes a process that waits on a busy machine for a running one).
SOCKET_CALLS = frozenset(
    {
        "_SelectorSocketTransport.write",
        "_SelectorSocketTransport._read_ready__get_buffer",
        "_SelectorSocketTransport._read_ready__data_received",
        "IOStream.write_to_fd",
        "IOStream.read_from_fd",
    }
)
WAITING = "EpollSelector.select"
SOCKETS = "socket system calls"


def part_of(frame: str) -> str | None:
    """The part of a frame as py-spy writes it, ``function (path:line)``; None while
    the event loop waits."""
    function, _, path = frame.rpartition(" (")
    if function == WAITING:
        return None
    if function in SOCKET_CALLS:
        return SOCKETS
    for part, pattern in PARTS:
        if pattern in path:
            return part
    return "other"


def shares(raw: str) -> Counter[str]:
    """Samples per part, from py-spy's raw output (one ``frame;frame;… count`` a line,
    the innermost frame last)."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            part = part_of(stack.rsplit(";", 1)[-1])
            if part is not None:
                counts[part] += int(count)
    return counts


def loads(stage: Stage) -> dict[str, tuple[str, str, dict]]:
    """Each load's method, URL, and what its requests carry."""
    assert stage.reader and stage.writer
    return {
        "get_tasks": ("GET", f"{stage.taskhub}/api/tasks", {"headers": stage.reader.auth}),
        "post_tasks": (
            "POST",
            f"{stage.taskhub}/api/tasks",
            {"headers": stage.writer.auth, "json": {"title": "profiled"}},
        ),
        "healthz": ("GET", f"{stage.taskhub}/healthz", {}),
    }


async def profile(stage: Stage, name: str, seconds: int, keep: Path | None) -> None:
    method, url, kwargs = loads(stage)[name]
    output = stage.work / f"{name}.txt"
    spy = stage.processes.start(
        f"py-spy-{name}",
        [
            str(Path(sys.executable).parent / "py-spy"),
            *("record", "--pid", str(stage.taskhub_pid), "--format", "raw"),
            *("--rate", str(SAMPLES_PER_SECOND), "--duration", str(seconds)),
            *("--nonblocking", "--full-filenames", "--output", str(output)),
        ],
    )
    sent = 0
    deadline = time.monotonic() + seconds
    cpu_before = cpu_seconds(stage.taskhub_pid)
    async with httpx.AsyncClient(timeout=30) as http:

        async def client() -> None:
            nonlocal sent
            while time.monotonic() < deadline:
                (await http.request(method, url, **kwargs)).raise_for_status()
                sent += 1

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    cpu = cpu_seconds(stage.taskhub_pid) - cpu_before
    await asyncio.to_thread(spy.wait, 30)
    if spy.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy failed: see {stage.work / f'py-spy-{name}.log'}")
    counts = shares(output.read_text())
    total = sum(counts.values()) or 1
    print(
        f"profile {name}: {sent} requests in {seconds} s, "
        f"{cpu / max(sent, 1) * 1000:.2f} ms taskhub CPU each, {total} samples"
    )
    for part, count in counts.most_common():
        print(f"  {count / total * 100:5.1f} %  {part}")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(output, keep / output.name)


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="taskhub-profile-"))
    processes = Processes(work)
    stage = None
    try:
        stage = await open_stage(work, processes)
        for name in args.load.split(","):
            await profile(stage, name, args.seconds, args.keep)
    finally:
        if stage is not None:
            await stop_stage(stage)
        else:
            processes.stop_all()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    parser.add_argument(
        "--load", default="get_tasks,post_tasks", help=f"comma-separated, of: {', '.join(LOADS)}"
    )
    parser.add_argument("--seconds", type=int, default=20, help="how long each load runs")
    parser.add_argument(
        "--keep", type=Path, help="a folder to keep py-spy's stacks in (LOAD.txt, for flame graphs)"
    )
    args = parser.parse_args()
    unknown = set(args.load.split(",")) - set(LOADS)
    if unknown:
        parser.error(f"unknown loads: {', '.join(sorted(unknown))}")
    if args.seconds < 1:
        parser.error("--seconds: at least 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
