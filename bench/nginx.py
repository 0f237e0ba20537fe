"""nginx in front of one taskhub process, with the shipped site (conf/nginx/taskhub.conf)
rendered as the local stack renders it (devstack/stack.py), for nginx_vs_direct_cpu."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from devstack.stack import SITE, STATIC, find_nginx, host_port, render_main, render_site
from server.embedded_db import free_port

from .processes import Processes


def nginx_pids(master: int) -> list[int]:
    """The master and its workers (the processes whose parent it is)."""
    pids = [master]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            pids.append(int(entry.name))
    return pids


def start_nginx(processes: Processes, prefix: Path, upstream_port: int) -> tuple[int, list[int]]:
    """Starts nginx proxying to 127.0.0.1:``upstream_port``; its port and its pids."""
    for sub in ("conf", "logs", "temp", "acme"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    site = prefix / "conf" / "taskhub.conf"
    site.write_text(
        render_site(
            SITE.read_text(),
            upstreams=[host_port("127.0.0.1", upstream_port)],
            address="127.0.0.1",
            port=port,
            static_dir=STATIC.resolve(),
            log_dir=prefix / "logs",
            acme_root=prefix / "acme",
            max_body_size=1 << 20,
            live_ping_interval=25,
        )
    )
    main = prefix / "conf" / "nginx.conf"
    main.write_text(render_main(prefix, site))
    command = [find_nginx(), "-p", str(prefix), "-e", str(prefix / "logs/error.log")]
    command += ["-c", str(main)]
    check = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejects the rendered {site}:\n{check.stderr.strip()}")
    master = processes.start("nginx", command)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if master.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start; see {prefix}/logs/error.log") from None
            time.sleep(0.05)
    time.sleep(0.2)  # its workers are forked by now
    return port, nginx_pids(master.pid)
