"""Settings: one declaration each, flag over environment over default, clear failures."""

from __future__ import annotations

import subprocess
import sys

import pytest
from harness.settings import ROOT

import config as settings


def run_app(*args, env=None, timeout=30):
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_defaults():
    config = settings.load([], environ={})
    assert (config.address, config.port, config.mongodb_uri) == ("127.0.0.1", 8000, None)
    assert config.max_body_size == 1024 * 1024
    assert config.allow_get_login is False
    assert config.data_dir == "./var"


def test_flag_wins_over_environment():
    environ = {"TASKHUB_PORT": "9001", "TASKHUB_ALLOW_GET_LOGIN": "true"}
    assert settings.load([], environ=environ).port == 9001
    assert settings.load(["--port", "9002"], environ=environ).port == 9002
    assert settings.load([], environ=environ).allow_get_login is True
    assert settings.load(["--allow-get-login=false"], environ=environ).allow_get_login is False
    assert settings.load(["--allow-get-login"], environ={}).allow_get_login is True


def test_every_setting_follows_one_naming_rule():
    parser_help = settings.build_parser().format_help()
    for setting in settings.SETTINGS:
        assert setting.flag == "--" + setting.name.replace("_", "-")
        assert setting.env == "TASKHUB_" + setting.name.upper()
        assert setting.flag in parser_help and setting.env in parser_help
        assert setting.help


@pytest.mark.parametrize(
    "raw, expected",
    [("1048576", 1048576), ("512k", 512 * 1024), ("2m", 2 * 1024**2), ("1MiB", 1024**2)],
)
def test_sizes(raw, expected):
    assert settings.load(["--max-body-size", raw], environ={}).max_body_size == expected


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--port", "http"], "port (--port)"),
        (["--port", "70000"], "port (--port)"),
        (["--address", "not-an-ip"], "address"),
        (["--allow-get-login=maybe"], "allow_get_login"),
        (["--max-body-size", "lots"], "max_body_size"),
        (["--cors-origins", "example.com"], "cors_origins"),
        (["--mongodb-uri", "postgres://x"], "mongodb_uri"),
        (["--trusted-proxies", "10.0.0.0/33"], "trusted_proxies"),
        (["--log-level", "chatty"], "log_level"),
        (["--token-ttl", "-5"], "token_ttl"),
        (["--wechat-appid", "wx123"], "wechat_appid and wechat_secret"),
    ],
)
def test_bad_values_name_the_setting(argv, named):
    with pytest.raises(settings.ConfigError) as e:
        settings.load(argv, environ={})
    assert named in str(e.value)


@pytest.mark.parametrize("raw", ["abc", "80.5", "8e3", "-1", "0", "65536", "70000", ""])
def test_a_bad_port_says_what_a_port_is(raw):
    with pytest.raises(settings.ConfigError) as e:
        settings.load(["--port", raw], environ={})
    assert str(e.value) == f"port (--port) = {raw!r}: must be a whole number from 1 to 65535"


def test_a_bad_port_on_the_command_line_is_one_plain_line():
    result = run_app("--port", "abc")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "taskhub: bad setting: port (--port) = 'abc': must be a whole number from 1 to 65535"
    )


def test_secrets_never_appear_in_errors_or_repr():
    with pytest.raises(settings.ConfigError) as e:
        settings.load(["--mongodb-uri", "redis://user:hunter2@db"], environ={})
    assert "hunter2" not in str(e.value)
    config = settings.load(["--cookie-secret", "s3cret-value"], environ={})
    assert "s3cret-value" not in repr(config)


def test_help_lists_every_setting():
    result = run_app("--help")
    assert result.returncode == 0
    for setting in settings.SETTINGS:
        assert setting.flag in result.stdout


def test_bad_flag_stops_startup_with_one_line_and_status_2():
    result = run_app("--port", "http")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "port" in lines[0] and "'http'" in lines[0]


def test_bad_environment_value_names_the_variable():
    result = run_app(env={"TASKHUB_MAX_BODY_SIZE": "huge"})
    assert result.returncode == 2
    assert "TASKHUB_MAX_BODY_SIZE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_flag_is_status_2():
    assert run_app("--no-such-setting").returncode == 2


def test_unusable_data_dir_is_status_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_app("--data-dir", str(blocker / "var"))
    assert result.returncode == 2
    assert "data_dir" in result.stderr


@pytest.mark.parametrize("raw", ["abc", "2.5", "0", "-3", "٣", ""])
def test_a_bad_count_says_what_a_count_is(raw):
    with pytest.raises(settings.ConfigError) as e:
        settings.load(["--max-tasks-per-user", raw], environ={})
    assert "must be a whole number of 1 or more" in str(e.value)
    assert "invalid literal" not in str(e.value)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--registration", "sometimes"], "expected open, closed or invite"),
        (["--db-timeout", "1"], "expected 2 seconds or more"),
    ],
)
def test_new_settings_refuse_what_they_cannot_use(argv, named):
    with pytest.raises(settings.ConfigError) as e:
        settings.load(argv, environ={})
    assert named in str(e.value)
