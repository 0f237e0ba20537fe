"""--xheaders and --trusted-proxies: the client's address and scheme come from the
proxy's X-Real-IP and X-Forwarded-Proto only on connections from a trusted proxy.
Seen where taskhub shows them: a login's recorded client, and the cookie's Secure
flag."""

from __future__ import annotations

import httpx
import pytest
from harness.stacks import client_from
from harness.users import login_as_seen

from config import parse_networks
from server.proxies import TrustedProxies, is_trusted

CLAIMS = {
    "X-Real-IP": "203.0.113.9",
    "X-Forwarded-For": "198.51.100.1",
    "X-Forwarded-Proto": "https",
}


async def log_in(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, bool]:
    """The client address a new login sending ``headers`` was recorded with, and
    whether its cookie was marked Secure."""
    response, address = await login_as_seen(client, headers)
    cookie = [v for v in response.headers.get_list("set-cookie") if "taskhub_session=" in v]
    return address, "secure" in cookie[0].lower()


async def test_a_trusted_proxy_names_the_client_and_the_scheme(apps):
    async with httpx.AsyncClient(base_url=await apps.url(xheaders=True)) as c:  # from loopback
        assert await log_in(c, CLAIMS) == ("203.0.113.9", True)


async def test_another_peer_is_not_believed(apps):
    url = await apps.url(xheaders=True, trusted_proxies=parse_networks("127.0.0.1"))
    async with client_from("127.0.0.5", url) as c:
        assert await log_in(c, CLAIMS) == ("127.0.0.5", False)


async def test_without_xheaders_nobody_is_believed(apps):
    async with httpx.AsyncClient(base_url=await apps.url()) as c:
        assert await log_in(c, CLAIMS) == ("127.0.0.1", False)


@pytest.mark.parametrize(
    "peer, trusted",
    [
        ("10.0.0.5", True),
        ("10.0.0.6", False),
        ("192.168.1.77", True),
        ("::ffff:10.0.0.5", True),  # an IPv4 peer on a dual-stack socket
        ("fd00::1", True),
        ("not an address", False),
        (None, False),
    ],
)
def test_trusted_peers_are_the_listed_addresses_and_networks(peer, trusted):
    proxies = parse_networks("10.0.0.5, 192.168.1.0/24,fd00::/64")
    assert is_trusted(peer, proxies) is trusted
    known = TrustedProxies(proxies)
    assert [peer in known for _ in range(2)] == [trusted, trusted]  # asked, then kept
