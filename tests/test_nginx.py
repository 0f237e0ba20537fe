"""End to end through Debian's nginx running the shipped site (conf/nginx/taskhub.conf)
in front of real taskhub processes: the API, WebSocket upgrade, static files, JSON
errors nginx answers itself, the client address, login floods, and HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import shutil
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from harness.board import assert_served_as_javascript, board_modules
from harness.stacks import client_from, running_stack
from harness.users import PASSWORD, register_and_login
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from devstack.stack import TLS

pytestmark = pytest.mark.integration

STATIC_JS = "// taskhub test asset\n" + "console.log('static file served by nginx');\n" * 80
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mongodb_uri):
    tmp = tmp_path_factory.mktemp("nginx-stack")
    static = tmp / "static"
    static.mkdir()
    (static / "app.js").write_text(STATIC_JS)
    shutil.copytree(ROOT / "static" / "board", static / "board")
    with running_stack(tmp, mongodb_uri, processes=2, static_dir=static) as s:
        yield s


@pytest.fixture
async def client(stack):
    async with httpx.AsyncClient(base_url=stack.url, timeout=20) as c:
        yield c


def lines_with(paths, request_id: str) -> list[str]:
    """The log lines quoting ``request_id``; a log line may come just after the response."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for p in paths for line in p.read_text().splitlines() if request_id in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def taskhub_log_lines(stack, request_id: str) -> list[str]:
    return lines_with(list(stack.log_dir.glob("taskhub-*.log")), request_id)


def nginx_access_lines(stack, request_id: str) -> list[str]:
    return lines_with([stack.nginx_prefix / "logs" / "taskhub.access.log"], request_id)


async def test_api_through_nginx_with_one_request_id_in_both_logs(stack, client):
    username, headers = await register_and_login(client)
    response = await client.get("/api/me", headers=headers, params={"token": "secret-in-url"})
    assert response.status_code == 200
    assert response.json()["user"]["username"] == username
    assert response.headers["Server"] == "nginx"  # no version
    ids = response.headers.get_list("X-Request-Id")
    assert len(ids) == 1
    assert any("GET /api/me 200" in line for line in taskhub_log_lines(stack, ids[0]))
    logged = nginx_access_lines(stack, ids[0])
    assert len(logged) == 1 and "GET /api/me " in logged[0]
    assert "secret-in-url" not in logged[0]  # no query strings in nginx's log


async def test_todo_backend_capability_stays_out_of_both_logs(stack, client):
    _, headers = await register_and_login(client)
    todos_url = (await client.get("/api/me", headers=headers)).json()["todos_url"]
    capability = todos_url.rstrip("/").rsplit("/", 1)[1]
    response = await client.post(todos_url, json={"title": "secret list"})
    assert response.status_code == 201
    todo_response = await client.get(response.json()["url"])
    assert todo_response.status_code == 200
    for answer in (response, todo_response):
        request_id = answer.headers["X-Request-Id"]
        logged = nginx_access_lines(stack, request_id) + taskhub_log_lines(stack, request_id)
        assert len(logged) == 2, logged
        assert all("/todos/{capability}" in line for line in logged), logged
        assert not any(capability in line for line in logged), logged


async def test_client_address_comes_from_nginx_and_sent_headers_change_nothing(stack):
    async with client_from("127.0.0.7", stack.url) as c:
        response = await c.get(
            "/api/me",
            headers={
                "X-Real-IP": "203.0.113.9",
                "X-Forwarded-For": "198.51.100.1",
                "X-Scheme": "https",
            },
        )
    assert response.status_code == 401
    lines = taskhub_log_lines(stack, response.headers["X-Request-Id"])
    assert lines and all("client=127.0.0.7" in line for line in lines), lines
    assert not any("203.0.113.9" in line or "198.51.100.1" in line for line in lines)


async def test_a_client_cannot_claim_https_over_plain_http(stack):
    async with client_from("127.0.0.10", stack.url) as c:
        username = f"proto_{uuid.uuid4().hex[:8]}"
        assert (
            await c.post("/api/users", json={"username": username, "password": PASSWORD})
        ).status_code == 201
        login = await c.post(
            "/api/login",
            json={"username": username, "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https", "X-Scheme": "https"},
        )
    assert login.status_code == 200
    cookie = [v for v in login.headers.get_list("set-cookie") if "taskhub_session=" in v]
    assert cookie and "secure" not in cookie[0].lower()


async def test_malformed_requests_get_nginxs_json_400(stack):
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.config.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")  # two Hosts
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_request"


async def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, list[str]], bytes]:
    """Sends ``request`` byte for byte, as httpx cannot, on a connection of its own,
    and reads until nginx closes it: the status, the headers (lowercase names) and
    the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert b"<html" not in raw.lower(), raw[:500]
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    if "content-length" in headers:
        body = body[: int(headers["content-length"][0])]
    return int(status_line.split()[1]), headers, body


def http11(request_line: str, *headers: str, body: bytes = b"") -> bytes:
    return (
        "\r\n".join(
            [request_line, "Host: taskhub.test", *headers, "Connection: close", "", ""]
        ).encode()
        + body
    )


ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    412: "precondition_failed",
    414: "uri_too_long",
    416: "range_not_satisfiable",
    501: "not_implemented",
    505: "http_version_not_supported",
}
LOGIN = "Authorization: LOGIN"  # replaced by a real user's bearer token

# Requests that get an error, each with the status it must get, all answered in JSON.
ERRORS = {
    # methods: nginx refuses TRACE and CONNECT itself, and any method on a static file
    # but GET and HEAD; taskhub refuses the others, in its own JSON
    "TRACE": (http11("TRACE / HTTP/1.1"), 405),
    "CONNECT as curl -X sends it": (http11("CONNECT / HTTP/1.1"), 405),
    # an HTTP server that is not a proxy cannot parse an authority-form request line
    "CONNECT host:port": (http11("CONNECT taskhub.test:443 HTTP/1.1"), 400),
    "FOO to a static file": (http11("FOO /static/board/main.js HTTP/1.1"), 405),
    "FOO to taskhub": (http11("FOO / HTTP/1.1"), 405),
    "POST to a static file": (
        http11("POST /static/board/main.js HTTP/1.1", "Content-Length: 2", body=b"{}"),
        405,
    ),
    # static misses
    "missing static file": (http11("GET /static/missing.js HTTP/1.1"), 404),
    "static directory": (http11("GET /static/ HTTP/1.1"), 403),
    "nginx's internal error pages": (http11("GET /_taskhub_errors/bad_request HTTP/1.1"), 404),
    "stale If-Unmodified-Since": (
        http11(
            "GET /static/board/main.js HTTP/1.1",
            "If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT",
        ),
        412,
    ),
    "range past the end": (
        http11("GET /static/board/main.js HTTP/1.1", "Range: bytes=99999999-"),
        416,
    ),
    # /api/live takes WebSocket upgrades only; a logged-in plain GET reached Tornado's 400
    "plain GET of /api/live": (http11("GET /api/live HTTP/1.1", LOGIN), 400),
    # request lines nginx cannot parse: no URI, so no named location could answer
    "path above the root": (http11("GET /../../etc/passwd HTTP/1.1"), 400),
    "bad percent-encoding": (http11("GET /api/%zz HTTP/1.1"), 400),
    "TLS ClientHello on the HTTP port": (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(32),
        400,
    ),
    "request line too long": (http11("GET /" + "a" * 10000 + " HTTP/1.1"), 414),
    "HTTP/2.0 in plain text": (http11("GET / HTTP/2.0"), 505),
    "unknown Transfer-Encoding": (
        http11("POST /api/tasks HTTP/1.1", "Transfer-Encoding: gzip, chunked"),
        501,
    ),
}


@pytest.mark.parametrize("case", ERRORS)
async def test_every_error_through_nginx_is_json_with_its_status(stack, client, case):
    request, expected = ERRORS[case]
    if LOGIN.encode() in request:
        _, auth = await register_and_login(client)
        login = f"Authorization: {auth['Authorization']}".encode()
        request = request.replace(LOGIN.encode(), login)
    status, headers, body = await raw_exchange(stack.config.port, request)
    assert status == expected, (status, body)
    assert [v.split(";")[0] for v in headers["content-type"]] == ["application/json"], headers
    error = json.loads(body)["error"]
    assert error["code"] == ERROR_CODES[expected], error
    assert isinstance(error["message"], str) and error["message"], error


async def test_taskhubs_own_errors_pass_through_nginx_unchanged(stack):
    """nginx answers its own errors only: taskhub's bodies reach clients as they are."""
    login = http11("GET /api/me HTTP/1.1")
    unknown = http11("GET /api/no-such-route HTTP/1.1")
    method = http11("DELETE / HTTP/1.1")
    for request in (login, unknown, method):
        direct = await raw_exchange(stack.ports[0], request)
        through = await raw_exchange(stack.config.port, request)
        assert direct[0] >= 400
        assert through[0] == direct[0] and through[2] == direct[2], (direct, through)


async def test_an_http10_request_without_host_reaches_taskhub(stack):
    status, _, body = await raw_exchange(stack.config.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status == 200 and json.loads(body)["status"] == "ok", (status, body)


async def test_pages_and_static_files_may_not_be_framed(client):
    for path in ("/", "/static/app.js"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers.get_list("X-Frame-Options") == ["DENY"], path
    assert "frame-ancestors 'none'" in (await client.get("/")).headers["Content-Security-Policy"]


async def flood(
    address: str, url: str, count: int, headers: dict[str, str]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    transport = httpx.AsyncHTTPTransport(local_address=address, limits=limits)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=20) as c:
        return await asyncio.gather(
            *(c.post("/api/login", json={}, headers=headers) for _ in range(count))
        )


async def test_login_flood_gets_json_429_per_client_address(stack):
    # The requests claim another address; nginx limits by the connection's own.
    spoofed = {"X-Real-IP": "203.0.113.50", "X-Forwarded-For": "198.51.100.50"}
    responses = await flood("127.0.0.8", stack.url, 30, spoofed)
    statuses = [r.status_code for r in responses]
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) >= 10, statuses
    assert set(statuses) <= {400, 429}, statuses  # 400: taskhub saw an empty login
    for r in limited:
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.json()["error"]["code"] == "too_many_requests"
    # another client address is not affected
    async with client_from("127.0.0.9", stack.url) as c:
        assert (await c.post("/api/login", json={})).status_code == 400
    # and routes other than login are never limited
    async with client_from("127.0.0.8", stack.url) as c:
        assert (await c.get("/healthz")).status_code == 200


async def test_oversized_bodies_get_nginxs_json_413_and_the_limit_itself_passes(stack, client):
    limit = stack.config.max_body_size
    too_big = await client.post("/api/logout", content=b"x" * (limit + 1))
    assert too_big.status_code == 413
    assert too_big.headers["Content-Type"].startswith("application/json")
    assert too_big.json()["error"]["code"] == "payload_too_large"

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536

    chunked = await client.post("/api/logout", content=chunks())
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "payload_too_large"
    # exactly the limit reaches taskhub, which refuses it for want of a login, not for size
    at_limit = await client.post("/api/logout", content=b"x" * limit)
    assert at_limit.status_code == 401


async def test_static_files_are_nginxs_with_long_lives_for_versioned_urls(client):
    versioned = await client.get(
        "/static/app.js", params={"v": "abc123"}, headers={"Accept-Encoding": "gzip"}
    )
    assert versioned.status_code == 200
    assert versioned.text == STATIC_JS  # taskhub's own static directory has no such file
    assert versioned.headers["Content-Encoding"] == "gzip"
    assert versioned.headers["Cache-Control"] == "max-age=315360000"
    plain = await client.get("/static/app.js")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "no-cache"
    assert (await client.get("/static/missing.js")).status_code == 404


async def test_the_boards_modules_are_served_as_javascript(client):
    # module scripts load only with a JavaScript type, nested paths included
    modules = await board_modules(client)
    assert "/static/board/api.js" in modules, sorted(modules)
    assert_served_as_javascript(modules)


async def test_json_is_gzipped(client):
    # taskhub's JSON 404 repeats the path: a JSON body well over gzip_min_length
    path = "/api/" + "n" * 2000
    response = await client.get(path, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.json()["error"]["code"] == "not_found"
    raw = await client.get(path, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content)


async def test_websocket_upgrade_through_nginx(stack, client):
    _, headers = await register_and_login(client)
    ws_url = stack.url.replace("http://", "ws://") + "/api/live"
    conn = await asyncio.wait_for(websocket_connect(HTTPRequest(ws_url, headers=headers)), 10)
    try:
        first = json.loads(await asyncio.wait_for(conn.read_message(), 10))
        assert first["type"] == "ready"
        await conn.write_message(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(conn.read_message(), 10)) == {"type": "pong"}
        created = await client.post("/api/tasks", json={"title": "seen live"}, headers=headers)
        assert created.status_code == 201, created.text
        event = json.loads(await asyncio.wait_for(conn.read_message(), 10))
        assert event["type"] == "task.created"
        assert event["task"]["id"] == created.json()["task"]["id"]
    finally:
        conn.close()


async def test_websocket_without_credentials_is_refused_through_nginx(stack, client):
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    refused = await client.get("/api/live", headers=upgrade)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"


async def test_nginx_answers_json_502_when_no_process_answers(tmp_path, mongodb_uri):
    with running_stack(tmp_path, mongodb_uri, processes=2) as s:
        for index in range(2):
            s.stop_process(index)
        async with httpx.AsyncClient(base_url=s.url, timeout=20) as c:
            response = await c.get("/api/me")
        assert response.status_code == 502
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json()["error"]["code"] == "bad_gateway"


# --- HTTPS, as in production ---


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


async def test_https_redirect_hsts_and_secure_cookies(tmp_path, mongodb_uri, certificate):
    from harness.stacks import free_port_block

    cert, key = certificate
    tls = TLS(certificate=cert, key=key, redirect_port=free_port_block(1))
    with running_stack(tmp_path, mongodb_uri, processes=2, tls=tls) as s:
        assert s.url.startswith("https://")
        async with httpx.AsyncClient(timeout=20) as plain:
            moved = await plain.get(f"http://127.0.0.1:{tls.redirect_port}/api/me?x=1")
        assert moved.status_code == 301
        assert moved.headers["Location"] == "https://127.0.0.1/api/me?x=1"

        context = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(base_url=s.url, verify=context, timeout=20) as c:
            health = await c.get("/healthz")
            assert health.status_code == 200
            assert "max-age=" in health.headers["Strict-Transport-Security"]
            username = f"tls_{uuid.uuid4().hex[:8]}"
            assert (
                await c.post("/api/users", json={"username": username, "password": PASSWORD})
            ).status_code == 201
            login = await c.post("/api/login", json={"username": username, "password": PASSWORD})
            cookie = [v for v in login.headers.get_list("set-cookie") if "taskhub_session=" in v]
            # taskhub learns the scheme from nginx's X-Forwarded-Proto
            assert cookie and "secure" in cookie[0].lower()
