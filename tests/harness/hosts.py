"""Hosts of their own on this machine, standing in for VMs on a private network:
network namespaces, each with one address on a bridge in the root namespace. The
bridge's own address is where the hosts reach this machine (the load balancer, the
database); made and removed with iproute2's ``ip``, as root."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

# Addresses come from 198.18.0.0/15, set aside for benchmarking test networks (RFC
# 2544): they clash with no real network around this machine.
TEST_NETWORKS = ipaddress.ip_network("198.18.0.0/15")


class HostsUnavailable(RuntimeError):
    """This machine cannot make network namespaces; the message says why."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


def why_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed (./test installs it as root)"
    return None


def networks_in_use() -> list[ipaddress.IPv4Network]:
    routes = json.loads(ip("-j", "-4", "route", "show", "table", "all").stdout or "[]")
    found = []
    for route in routes:
        with contextlib.suppress(ValueError):  # "default", "broadcast ..." and the like
            found.append(ipaddress.ip_network(route["dst"], strict=False))
    return found


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 of the test range that no route on this machine touches (another test
    run may hold one)."""
    taken = networks_in_use()
    subnets = list(TEST_NETWORKS.subnets(new_prefix=24))
    for _ in range(100):
        subnet = secrets.choice(subnets)
        if not any(subnet.overlaps(used) for used in taken):
            return subnet
    raise HostsUnavailable(f"no free /24 left in {TEST_NETWORKS}")


@dataclass(frozen=True)
class Host:
    namespace: str
    address: str

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run on this host (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


@dataclass
class HostNetwork:
    """A bridge named ``{tag}-br`` with the first address of ``subnet``, and one
    namespace per host, ``{tag}-a``, ``{tag}-b``..., joined to it by a veth pair."""

    subnet: ipaddress.IPv4Network
    tag: str = field(default_factory=lambda: "th" + secrets.token_hex(3))
    hosts: list[Host] = field(default_factory=list)
    other_machines: list[str] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"{self.tag}-br"

    @property
    def address(self) -> str:
        """This machine's address on the network: where hosts reach the root namespace."""
        return str(self.subnet[1])

    def create(self, count: int) -> None:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.address}/{self.subnet.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for index in range(count):
            self._add_host(chr(ord("a") + index), str(self.subnet[10 + index]))

    def _add_host(self, letter: str, address: str) -> None:
        name = f"{self.tag}-{letter}"  # the namespace and its veth's root end
        ip("netns", "add", name)
        self.hosts.append(Host(name, address))
        ip("link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", name)
        ip("link", "set", name, "master", self.bridge, "up")
        ip("-n", name, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        ip("-n", name, "link", "set", "lo", "up")

    def other_machine(self) -> str:
        """Another address of the root namespace on the network: a machine there that
        is not the load balancer."""
        address = str(self.subnet[200 + len(self.other_machines)])
        ip("addr", "add", f"{address}/32", "dev", self.bridge)
        self.other_machines.append(address)
        return address

    def remove(self) -> list[str]:
        """Removes every namespace and link made; what could not be removed."""
        commands = []
        for host in self.hosts:
            # one end of a veth takes the other along
            commands += [("link", "delete", host.namespace), ("netns", "delete", host.namespace)]
        commands.append(("link", "delete", self.bridge))  # its addresses go with it
        failed = []
        for args in commands:
            result = ip(*args, check=False)
            gone = "Cannot find" in result.stderr or "No such file" in result.stderr
            if result.returncode != 0 and not gone:
                failed.append(f"ip {' '.join(args)}: {result.stderr.strip()}")
        return failed


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (kill, a CI's timeout) stops the test run as Ctrl-C does, so that every
    fixture's ``finally`` runs: namespaces and links outlive the processes in them."""
    previous = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done (removing what a test made,
    which an interruption would leave half done), then take effect."""
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda sig, _: caught.append(sig)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def host_network(count: int) -> Iterator[HostNetwork]:
    """``count`` hosts on a fresh network; everything removed on the way out, however
    the block ends (but SIGKILL). HostsUnavailable when this machine refuses
    namespaces."""
    reason = why_unavailable()
    if reason:
        raise HostsUnavailable(reason)
    network = HostNetwork(free_subnet())
    with sigterm_as_ctrl_c():
        try:
            try:
                network.create(count)
            except subprocess.CalledProcessError as e:
                if "Operation not permitted" in e.stderr or "Permission denied" in e.stderr:
                    command = " ".join(e.cmd)
                    raise HostsUnavailable(f"{command}: {e.stderr.strip()}") from e
                raise
            yield network
        finally:
            with signals_held():
                failed = network.remove()
    if failed:  # reached only when the block itself went well
        raise AssertionError(f"could not remove: {failed}")
