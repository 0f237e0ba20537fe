"""Several VMs behind one load balancer, on one database: two hosts (network
namespaces, each with its own address on a bridge) run taskhub, one nginx in the root
namespace balances across both hosts' addresses with the shipped site, and the
embedded database listens on the bridge's address, where both reach it. It stands in
for the MongoDB replica set that real VMs share; it has change streams too.

Shown: a live socket on one host gets a change made through the other; a rolling
restart under writes loses no write and no change; an address a client claims is
never believed, through the balancer or straight to a host."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from harness.database import EmbeddedServer, free_port
from harness.hosts import HostsUnavailable, host_network
from harness.live import Follower, connect
from harness.processes import TaskhubProcess
from harness.stacks import Load, Writes, client_from, running_stack
from harness.users import login_as_seen, register_and_login

from devstack.stack import host_port

pytestmark = pytest.mark.integration

# What a client might send to pass for someone else.
CLAIMS = {"X-Forwarded-For": "198.51.100.1", "X-Real-IP": "203.0.113.9"}


@pytest.fixture(scope="module")
def network():
    """Hosts a and b, and this machine's address on their network (the balancer's)."""
    try:
        with host_network(2) as network:
            yield network
    except HostsUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def database(network, tmp_path_factory):
    server = EmbeddedServer(tmp_path_factory.mktemp("shared-db"), host=network.address)
    try:
        yield server.start().uri
    finally:
        server.stop()


@pytest.fixture
async def hosts(network, database, tmp_path):
    """One taskhub per host, on the same port, as a VM's unit would run it (the
    README's "Several VMs": every address, trusting the balancer), on the shared
    database, with the cookie secret they all share."""
    port, name = free_port(), "two_hosts_" + uuid.uuid4().hex[:8]
    processes = []
    for host in network.hosts:
        (tmp_path / host.namespace).mkdir()
        processes.append(
            TaskhubProcess(
                *("--address", "0.0.0.0", "--xheaders", "true"),
                *("--trusted-proxies", network.address),
                *("--drain-timeout", "5"),
                data_dir=tmp_path / host.namespace / "var",
                port=port,
                mongodb_uri=database,
                database=name,
                host=host,
            )
        )
    try:
        await asyncio.gather(*(p.started() for p in processes))
        yield processes
    finally:
        for process in processes:
            if process.process is not None and process.process.poll() is None:
                await process.stopped()
            process.kill()  # reaps it, whatever happened


@pytest.fixture
def balancer(hosts, database, tmp_path):
    """nginx with the shipped site, its upstream listing both hosts' addresses."""
    upstreams = [host_port(p.address, p.port) for p in hosts]
    with running_stack(tmp_path / "balancer", database, processes=0, upstreams=upstreams) as s:
        yield s


async def test_a_socket_on_host_a_gets_a_change_made_through_host_b(hosts):
    a, b = hosts
    async with httpx.AsyncClient(base_url=b.url, timeout=20) as through_b:
        _, auth = await register_and_login(through_b)
        # the login cookie host B signed is good on host A: one cookie secret for all
        cookie = {"Cookie": f"taskhub_session={through_b.cookies['taskhub_session']}"}
        async with httpx.AsyncClient(base_url=a.url, timeout=20) as on_a:
            assert (await on_a.get("/api/me", headers=cookie)).status_code == 200
        live = await connect(a.ws_url, headers=auth)
        try:
            await live.ready()
            created = await through_b.post("/api/tasks", json={"title": "made on b"}, headers=auth)
            assert created.status_code == 201, created.text
            change = await live.until(lambda m: m.get("type") == "task.created")
            assert change["task"]["id"] == created.json()["task"]["id"]
        finally:
            live.close()


async def test_a_rolling_restart_loses_no_write_and_no_change(hosts, balancer):
    writes = Writes(balancer)
    load = Load(balancer, writes, workers=1, reads=1, limit=90)  # one client, writing on
    await load.start()
    follower = Follower(balancer.url.replace("http://", "ws://") + "/api/live", writes.tokens[0])
    stopped = False
    try:
        await follower.start(since=0)  # the load is writing already
        await load.flowing()
        for host in hosts:  # host a, then host b
            assert await host.stopped() == 0, host.output()
            await load.flowing(requests=10)  # through the other host meanwhile
            await host.started()
            await load.flowing()
        tally = await load.stop()
        stopped = True
        assert tally.failures == [], tally.failures[:5]
        assert set(tally.acknowledged) == await writes.stored(tally.acknowledged)
        async with httpx.AsyncClient(base_url=balancer.url, timeout=20) as c:
            log = await c.get("/api/changes", headers=writes.headers(0))
        last = log.json()["seq"]
        assert last == len(tally.acknowledged)  # one change per task created
        await follower.reached(last, timeout=15)
        assert follower.problems == []
        assert [c["seq"] for c in follower.changes] == list(range(1, last + 1))
        assert {c["task"]["id"] for c in follower.changes} == set(tally.acknowledged)
        # its socket was cut by a restart at least once, and caught up with ?since=
        assert follower.closes and set(follower.closes) == {1001}, follower.closes
        for host in hosts:  # nginx balanced the writes across both
            assert "POST /api/tasks 201" in host.output()
        print(f"\n  {tally}; live socket closed {len(follower.closes)}x, caught up to {last}")
    finally:
        await follower.stop()
        if not stopped:
            await load.stop()


async def test_an_address_a_client_claims_is_never_believed(network, hosts, balancer):
    a, _ = hosts
    # through the balancer, which overwrites X-Real-IP and X-Forwarded-For
    async with client_from("127.0.0.7", balancer.url) as c:
        _, seen = await login_as_seen(c, CLAIMS)
    assert seen == "127.0.0.7"
    # straight to host a from another machine on the network: a hop it does not trust
    other = network.other_machine()
    async with client_from(other, a.url) as c:
        _, seen = await login_as_seen(c, CLAIMS)
    assert seen == other
    logged = "".join(p.output() for p in hosts)
    assert f"client={other}" in logged and "client=127.0.0.7" in logged
    assert not any(claimed in logged for claimed in CLAIMS.values())
