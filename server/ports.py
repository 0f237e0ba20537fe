"""Whether a port is free to listen on, asked before anything starts, so that a busy
port is named at once instead of failing later in some child process."""

from __future__ import annotations

import errno
import socket
import time


class PortBusy(OSError):
    """The port cannot be listened on; the message names it and says why."""


# A port its previous holder has just let go of (a restart) may still be taken for a
# moment; a busy port is one that stays taken this long.
BUSY_AFTER_SECONDS = 2.0


def check_port_free(address: str, port: int, what: str = "") -> None:
    """Binds ``address:port`` (every address it resolves to, as Tornado's listen does)
    and lets go at once; raises PortBusy naming the port when that fails for
    BUSY_AFTER_SECONDS. ``what`` says who wanted the port ("nginx", "taskhub process 2")."""
    deadline = time.monotonic() + BUSY_AFTER_SECONDS
    while True:
        try:
            return _bind_once(address, port, what)
        except PortBusy as e:
            if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _bind_once(address: str, port: int, what: str) -> None:
    who = f" (for {what})" if what else ""
    try:
        infos = socket.getaddrinfo(
            address, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror as e:
        raise PortBusy(f"cannot listen on {address}:{port}{who}: {e.strerror}") from e
    seen: set[tuple[int, object]] = set()
    for family, kind, proto, _, sockaddr in infos:
        if (family, sockaddr) in seen:
            continue
        seen.add((family, sockaddr))
        with socket.socket(family, kind, proto) as s:
            # as Tornado does: a port left in TIME_WAIT by a process that just stopped
            # is free to listen on again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind(sockaddr)
            except OSError as e:
                if e.errno == errno.EADDRNOTAVAIL and address == "localhost":
                    continue  # no IPv6 loopback here: Tornado skips ::1 too
                if e.errno == errno.EADDRINUSE:
                    message = f"port {port} on {address}{who} is already in use"
                else:
                    message = f"cannot listen on port {port} on {address}{who}: {e.strerror or e}"
                busy = PortBusy(message)
                busy.errno = e.errno  # EADDRINUSE: check_port_free looks again
                raise busy from e
