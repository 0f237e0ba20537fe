"""What conf/ ships: the systemd units pass systemd's own checks, the nginx site says
what the deployment relies on and loads in Debian's nginx, mongod.conf is a loopback
replica set, and the README's deployment checklist names every piece."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conf_files import parse_nginx, parse_unit, parse_yaml_2, unit_values, walk

import config as settings
from devstack.stack import live_read_timeout

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"
SITE = CONF / "nginx" / "taskhub.conf"
SERVICE = CONF / "systemd" / "taskhub@.service"
TARGET = CONF / "systemd" / "taskhub.target"
DEFAULTS = settings.load([], environ={})

LOGIN_ROUTES = ["/api/login", "/api/login/wechat", "/api/login/toutiao", "/login", "/api/users"]


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.fail("systemd-analyze is missing: ./test installs it (Debian package systemd)")
    return found


@pytest.fixture
def units(tmp_path) -> Path:
    """The units as shipped, in a directory of their own, with the checkout's path
    (/srv/taskhub) pointing at a stand-in whose python exists, as systemd checks that."""
    checkout = tmp_path / "srv-taskhub"
    (checkout / ".venv" / "bin").mkdir(parents=True)
    (checkout / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (checkout / ".venv" / "bin" / "taskhub").symlink_to(Path(sys.executable).with_name("taskhub"))
    out = tmp_path / "units"
    out.mkdir()
    text = SERVICE.read_text()
    assert "/srv/taskhub" in text
    (out / "taskhub@8001.service").write_text(text.replace("/srv/taskhub", str(checkout)))
    shutil.copy(TARGET, out / "taskhub.target")
    return out


def test_units_pass_systemd_analyze_verify_without_a_warning(units):
    result = subprocess.run(
        [systemd_analyze(), "verify", "taskhub@8001.service", "taskhub.target"],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", output


def test_service_exposure_is_two_or_lower(units):
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", "taskhub@8001.service"],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(
        r"Overall exposure level for taskhub@8001\.service: (\d+\.\d+)", result.stdout
    )
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    print(f"\nsystemd-analyze security: exposure {exposure}")
    assert exposure <= 2.0, result.stdout


def test_service_restarts_drains_and_runs_hardened():
    unit = parse_unit(SERVICE.read_text())

    def one(key: str) -> str:
        values = unit_values(unit, "Service", key)
        assert len(values) == 1, f"{key}: {values}"
        return values[0]

    assert one("Restart") == "on-failure"
    assert one("EnvironmentFile").startswith("/etc/")
    exec_start = one("ExecStart")
    assert exec_start.split()[:2] == ["/srv/taskhub/.venv/bin/taskhub", "serve"]
    for flag in ("--port %i", "--address 127.0.0.1", "--xheaders true"):
        assert flag in exec_start
    # systemd kills only after the drain has had its time
    assert float(one("TimeoutStopSec")) > DEFAULTS.drain_timeout + 5
    assert one("User") not in ("", "root") or one("DynamicUser") == "yes"
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict"
    assert one("StateDirectory")  # the data directory, writable under ProtectSystem=strict
    assert "${STATE_DIRECTORY}" in exec_start
    assert one("PrivateTmp") == "yes"
    assert one("CapabilityBoundingSet") == ""
    assert "AF_INET" in one("RestrictAddressFamilies")
    assert "@system-service" in unit_values(unit, "Service", "SystemCallFilter")
    assert unit_values(unit, "Unit", "PartOf") == ["taskhub.target"]


def upstream_ports(site_text: str) -> list[int]:
    upstream = [d for d in parse_nginx(site_text) if d.name == "upstream"]
    assert [u.args for u in upstream] == [["taskhub"]]
    return [int(d.args[0].rsplit(":", 1)[1]) for d in upstream[0].block if d.name == "server"]


def test_target_starts_the_processes_the_nginx_upstream_lists():
    unit = parse_unit(TARGET.read_text())
    wants = " ".join(unit_values(unit, "Unit", "Wants")).split()
    ports = [int(re.fullmatch(r"taskhub@(\d+)\.service", w).group(1)) for w in wants]
    assert ports == upstream_ports(SITE.read_text())
    assert len(ports) >= 2


# --- the nginx site ---


@pytest.fixture(scope="module")
def site():
    return parse_nginx(SITE.read_text())


def servers(site):
    return [d for d in site if d.name == "server"]


def https_server(site):
    found = [
        s for s in servers(site) if any("ssl" in d.args for d in s.block if d.name == "listen")
    ]
    assert len(found) == 1
    return found[0]


def test_upstream_keeps_connections_alive_and_never_marks_a_process_down(site):
    upstream = next(d for d in site if d.name == "upstream")
    assert int(upstream.first("keepalive").args[0]) >= 8
    for server in (d for d in upstream.block if d.name == "server"):
        assert server.args[0].startswith("127.0.0.1:")
        assert "max_fails=0" in server.args


def test_websocket_upgrade_and_proxy_headers(site):
    maps = {d.args[1]: d for d in site if d.name == "map"}
    upgrade = maps["$connection_upgrade"]
    assert upgrade.args[0] == "$http_upgrade"
    entries = {d.name: d.args for d in upgrade.block}
    assert entries["default"] == ["upgrade"]
    assert entries[""] == [""]  # no "close": keep-alive to taskhub survives
    server = https_server(site)
    assert server.first("proxy_http_version").args == ["1.1"]
    headers = {d.args[0]: d.args[1] for d in server.block if d.name == "proxy_set_header"}
    assert headers["Upgrade"] == "$http_upgrade"
    # the client's Host, or nginx's when an HTTP/1.0 client sends none (an empty
    # Host header is left out, and Tornado refuses HTTP/1.1 without one)
    assert headers["Host"] == "$taskhub_host"
    host = maps["$taskhub_host"]
    assert host.args[0] == "$http_host"
    assert {d.name: d.args for d in host.block} == {"": ["$host"], "default": ["$http_host"]}
    assert headers["Connection"] == "$connection_upgrade"
    assert headers["X-Real-IP"] == "$remote_addr"
    # overwritten with nginx's own view, so a client's own value changes nothing
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    # no location sets its own headers, which would drop all of these
    for location in (d for d in server.block if d.name == "location"):
        assert not location.find("proxy_set_header"), location.args
        assert not location.find("add_header"), location.args


def test_retries_only_where_no_request_reached_taskhub(site):
    server = https_server(site)
    retry = server.first("proxy_next_upstream").args
    assert "error" in retry and "non_idempotent" not in retry
    assert not any(a.startswith("http_") for a in retry)  # a 5xx answer is never resent
    assert int(server.first("proxy_next_upstream_tries").args[0]) >= 2
    for d in walk(site):
        if d.name == "proxy_next_upstream":
            assert "non_idempotent" not in d.args


def test_body_limit_matches_taskhub(site):
    limits = [d for d in walk(site) if d.name == "client_max_body_size"]
    assert len(limits) == 1
    assert settings.parse_size(limits[0].args[0]) == DEFAULTS.max_body_size


def test_live_read_timeout_is_above_the_ping_interval(site):
    server = https_server(site)
    live = [d for d in server.block if d.name == "location" and d.args == ["=", "/api/live"]]
    assert len(live) == 1
    timeout = live[0].first("proxy_read_timeout").args[0]
    assert settings.parse_duration(timeout) > DEFAULTS.live_ping_interval
    assert settings.parse_duration(server.first("proxy_read_timeout").args[0]) > 0
    assert live_read_timeout(SITE.read_text()) == settings.parse_duration(timeout)


def test_live_passes_only_websocket_upgrades_to_taskhub(site):
    """Tornado answers anything else at /api/live with an HTML 400 of its own."""
    live = next(
        d for d in https_server(site).block if d.name == "location" and d.args[-1] == "/api/live"
    )
    assert live.first("default_type").args == ["application/json"]
    check = live.first("if")
    assert "".join(check.args) == "($http_upgrade!~*^websocket$)"  # Tornado's own test
    status, body = check.first("return").args
    assert status == "400"
    error = json.loads(body.replace("\\n", ""))["error"]
    assert error["code"] == "bad_request" and error["message"]


def test_login_routes_and_only_they_are_rate_limited(site):
    server = https_server(site)
    limited = [
        d for d in server.block if d.name == "location" and d.find("limit_req") and d.args[0] == "~"
    ]
    assert len(limited) == 1
    modifier, pattern = limited[0].args
    assert modifier == "~"
    regex = re.compile(pattern)
    for path in LOGIN_ROUTES:
        assert regex.search(path), path
    from harness.settings import make_config

    from app import routes

    others = [r[0] for r in routes(make_config()) if isinstance(r, tuple) and "(" not in r[0]]
    others += [
        "/api/logout",
        "/api/me",
        "/api/live",
        "/api/tasks",
        "/healthz",
        "/api/users/x",
        "/loginx",
    ]
    for path in others:
        if path not in LOGIN_ROUTES:
            assert not regex.search(path), path
    assert limited[0].first("limit_req_status").args == ["429"]
    zone = next(d for d in site if d.name == "limit_req_zone")
    assert zone.args[0] == "$binary_remote_addr"  # the connection's address, not a header


def test_basic_logins_on_the_classic_routes_are_rate_limited_per_address(site):
    server = https_server(site)
    (classic,) = [d for d in server.block if d.name == "location" and d.args == ["/todo/api/"]]
    assert classic.first("limit_req").args[0] == "zone=taskhub_basic"
    assert classic.first("limit_req_status").args == ["429"]
    zone = next(
        d for d in site if d.name == "limit_req_zone" and "zone=taskhub_basic:10m" in d.args
    )
    key = zone.args[0]
    (mapping,) = [d for d in site if d.name == "map" and d.args[1] == key]
    assert mapping.args[0] == "$http_authorization"


# Every error status nginx itself answers with in this site: request parsing (400,
# 494 for headers too large, 414, 501, 505), static files (403, 404, 405, 412, 416),
# body size, login floods, and the upstream (500, 502, 503, 504).
NGINX_ERRORS = (400, 403, 404, 405, 412, 413, 414, 416, 429, 494, 500, 501, 502, 503, 504, 505)
# Errors that can come before nginx has parsed the request line, when the request has
# no URI: nginx cannot redirect those to a named location ("empty URI in redirect to
# named location", answered with its HTML 500), so they go to internal URIs.
REQUEST_LINE_ERRORS = (400, 414, 505)


def test_errors_nginx_answers_itself_are_json(site):
    server = https_server(site)
    pages = {}
    for d in server.block:
        if d.name == "error_page":
            *codes, target = d.args
            overwrite = int(codes.pop()[1:]) if codes[-1].startswith("=") else None
            for code in codes:
                assert int(code) not in pages, code
                pages[int(code)] = (target, overwrite)
    assert set(NGINX_ERRORS) <= set(pages), sorted(set(NGINX_ERRORS) - set(pages))
    for code, (target, overwrite) in pages.items():
        location = next(d for d in server.block if d.name == "location" and d.args[-1] == target)
        if code in REQUEST_LINE_ERRORS:
            assert location.args == ["=", target], code
        if target.startswith("/"):
            assert location.find("internal"), target  # not a page a client can ask for
        assert location.first("types").block == []  # no type from the URI's extension
        assert location.first("default_type").args == ["application/json"]
        status, body = location.first("return").args
        # 494 is nginx's own name for a 400, never a status on the wire
        assert int(status) == (overwrite or code) and int(status) != 494
        assert overwrite in (None, int(status)), code
        error = json.loads(body.replace("\\n", ""))["error"]
        assert set(error) == {"code", "message"}
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error["code"]), error
    # taskhub's own errors reach clients as taskhub wrote them
    for d in walk(site):
        if d.name.endswith("_intercept_errors"):
            assert d.args == ["off"], d


def test_https_hsts_and_the_redirect_from_http(site):
    server = https_server(site)
    assert server.first("ssl_certificate").args[0].endswith(".pem")
    assert server.first("ssl_certificate_key").args[0].endswith(".pem")
    hsts = [
        d
        for d in server.block
        if d.name == "add_header" and d.args[0] == "Strict-Transport-Security"
    ]
    assert hsts and "max-age=" in hsts[0].args[1] and "always" in hsts[0].args
    # for browsers without CSP's frame-ancestors, on every answer, once
    frames = [d for d in server.block if d.name == "add_header" and d.args[0] == "X-Frame-Options"]
    assert [d.args for d in frames] == [["X-Frame-Options", "DENY", "always"]]
    hidden = [d.args for d in server.block if d.name == "proxy_hide_header"]
    assert ["X-Frame-Options"] in hidden
    plain = [s for s in servers(site) if s is not server]
    assert len(plain) == 1
    assert [d.args for d in plain[0].block if d.name == "listen"] == [["80"], ["[::]:80"]]
    redirect = [d for d in walk(plain[0].block) if d.name == "return"]
    assert [r.args for r in redirect] == [["301", "https://$host$request_uri"]]


def test_static_files_served_by_nginx_with_long_lives_for_versioned_urls(site):
    server = https_server(site)
    static = next(d for d in server.block if d.name == "location" and d.args == ["/static/"])
    assert static.first("alias").args[0].endswith("/static/")
    assert static.first("expires").args == ["$taskhub_static_expires"]
    versions = next(d for d in site if d.name == "map" and d.args[1] == "$taskhub_static_expires")
    assert versions.args[0] == "$arg_v"
    assert {d.name: d.args for d in versions.block} == {"": ["epoch"], "default": ["max"]}
    gzip_types = server.first("gzip_types").args
    assert "application/json" in gzip_types and "text/css" in gzip_types


def test_access_log_has_no_query_strings(site):
    log_format = next(d for d in site if d.name == "log_format")
    text = " ".join(log_format.args)
    assert "$request " not in text and "$request_uri" not in text and "$args" not in text
    assert "$taskhub_logged_uri" in text and "$request_id" in text
    # the logged path is $uri with any Todo-Backend capability hidden
    logged_uri = next(
        d for d in site if d.name == "map" and d.args[:2] == ["$uri", "$taskhub_logged_uri"]
    )
    patterns = [d.name for d in logged_uri.block]
    assert any(p.strip('"').startswith("~^/todos/") for p in patterns), patterns


@pytest.mark.skipif(os.geteuid() != 0, reason="nginx -t on Debian's nginx.conf needs root")
def test_site_loads_in_debians_nginx_conf(tmp_path):
    """The site as an operator installs it, in Debian's own nginx.conf: only the
    certificate and log paths point elsewhere, as the test has neither."""
    from devstack.stack import find_nginx

    main = Path("/etc/nginx/nginx.conf")
    if not main.exists():
        pytest.skip("no /etc/nginx/nginx.conf (not Debian's nginx)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    text = SITE.read_text()
    text = re.sub(r"ssl_certificate /\S+;", f"ssl_certificate {cert};", text)
    text = re.sub(r"ssl_certificate_key /\S+;", f"ssl_certificate_key {key};", text)
    text = text.replace("/var/log/nginx/", f"{tmp_path}/")
    site_copy = tmp_path / "taskhub.conf"
    site_copy.write_text(text)
    main_text = main.read_text()
    assert "include /etc/nginx/sites-enabled/*;" in main_text
    main_copy = tmp_path / "nginx.conf"
    main_copy.write_text(
        main_text.replace("include /etc/nginx/sites-enabled/*;", f"include {site_copy};")
    )
    result = subprocess.run(
        [find_nginx(), "-t", "-q", "-e", str(tmp_path / "error.log"), "-c", str(main_copy)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


# --- MongoDB and the README ---


def test_mongod_is_a_loopback_replica_set_without_server_side_javascript():
    conf = parse_yaml_2((CONF / "mongod.conf").read_text())
    assert conf["net"]["bindIp"] in ("127.0.0.1", "localhost", "127.0.0.1,::1")
    assert conf["replication"]["replSetName"]
    assert conf["security"]["javascriptEnabled"] == "false"
    assert conf["security"]["authorization"] == "enabled"
    assert conf["security"]["keyFile"]


def test_readme_has_the_deployment_checklist():
    readme = (ROOT / "README.md").read_text()
    assert "## Deploy on a VM" in readme
    section = readme.split("## Deploy on a VM", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "useradd",
        "/srv/taskhub",
        "python3 -m venv",
        "--require-hashes -r /srv/taskhub/requirements/runtime.txt",
        "--no-deps -e /srv/taskhub",
        "/etc/taskhub/taskhub.env",
        "conf/systemd/taskhub@.service",
        "conf/systemd/taskhub.target",
        "conf/nginx/taskhub.conf",
        "certbot",
        "conf/mongod.conf",
        "rs.initiate",
        "scripts/rolling-restart.sh",
    ):
        assert needle in section, needle
