"""Whether a port is free to listen on, asked before anything starts, so that a busy
port is named at once instead of failing later in some child process."""

from __future__ import annotations

import errno
import socket


class PortBusy(OSError):
    """The port cannot be listened on; the message names it and says why."""


def check_port_free(address: str, port: int, what: str = "") -> None:
    """Binds ``address:port`` (every address it resolves to, as Tornado's listen does)
    and lets go at once; raises PortBusy naming the port when that fails.
    ``what`` says who wanted the port ("nginx", "taskhub process 2")."""
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
                raise PortBusy(message) from e
