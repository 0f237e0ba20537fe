"""Ports for the servers tests start: below the kernel's range for outgoing
connections, so that no client's connection takes one between the check and the
server binding it."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def ephemeral_low() -> int:
    """Where the kernel's ports for outgoing connections start: a port above it, free
    now, may be taken by any client's connection before our server binds it."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(count: int) -> int:
    """A port P with P .. P+count-1 all free on 127.0.0.1 (nginx, then the processes),
    below the ephemeral range."""
    for _ in range(200):
        base = random.randrange(10000, max(ephemeral_low(), 10000 + 2 * count) - count)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports")


def free_port() -> int:
    """One free port on 127.0.0.1, below the ephemeral range."""
    return free_port_block(1)
