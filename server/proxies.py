"""Whose word taskhub takes for the client's address and scheme (``--xheaders``).

Behind nginx every connection comes from nginx, which names the client in X-Real-IP
and the scheme in X-Forwarded-Proto (conf/nginx/taskhub.conf). Tornado's own
``xheaders`` believes those headers from any peer; that is safe only while taskhub
listens on loopback. A process on a private network, behind a load balancer on
another VM, can be reached by other machines there too, and they could claim any
address: dodge the per-address login limits, or pass as loopback for /metrics. So
the headers count only on connections from ``--trusted-proxies``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from tornado.httputil import HTTPServerRequest
from tornado.netutil import is_valid_ip

from config import Network


def is_trusted(peer: str | None, proxies: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # an IPv4 peer of a dual-stack socket
    return any(address in network for network in proxies)


class TrustedProxies:
    """``is_trusted`` for one list of proxies, each peer parsed once: a process hears
    from few peers (nginx, a load balancer), and parsing one costs every request."""

    def __init__(self, proxies: Sequence[Network]):
        self.proxies = tuple(proxies)
        self._peers: dict[str | None, bool] = {}

    def __contains__(self, peer: str | None) -> bool:
        trusted = self._peers.get(peer)
        if trusted is None:
            if len(self._peers) >= MAX_PEERS_KEPT:
                self._peers.clear()
            trusted = self._peers[peer] = is_trusted(peer, self.proxies)
        return trusted


MAX_PEERS_KEPT = 1024


def apply_proxy_headers(request: HTTPServerRequest, proxies: TrustedProxies) -> None:
    """When the peer is a trusted proxy, takes the client's address and the scheme
    from its headers, read as Tornado's xheaders reads them: X-Real-IP, else the last
    X-Forwarded-For entry; X-Scheme, else X-Forwarded-Proto."""
    if request.remote_ip not in proxies:
        return
    headers = request.headers
    forwarded = headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    address = headers.get("X-Real-Ip", forwarded)
    if is_valid_ip(address):
        request.remote_ip = address
    scheme = headers.get("X-Scheme", headers.get("X-Forwarded-Proto", ""))
    scheme = scheme.split(",")[-1].strip()
    if scheme in ("http", "https"):
        request.protocol = scheme
