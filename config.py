"""Every taskhub setting, declared once with its default and help text.

A setting named ``allow_get_login`` is set by the flag ``--allow-get-login`` or
the environment variable ``TASKHUB_ALLOW_GET_LOGIN``; the flag wins.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "TASKHUB_"


class ConfigError(ValueError):
    """A setting has a value taskhub cannot use; the message names the setting."""


# --- value parsers: each takes the raw string and returns the typed value ---


def parse_str(raw: str) -> str:
    return raw


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_port(raw: str) -> int:
    if not re.fullmatch(r"\s*[0-9]+\s*", raw) or not 1 <= int(raw) <= 65535:
        raise ValueError("must be a whole number from 1 to 65535")
    return int(raw)


def parse_address(raw: str) -> str:
    if raw != "localhost":
        ipaddress.ip_address(raw)
    return raw


def positive_int(raw: str) -> int:
    if not re.fullmatch(r"\s*[0-9]+\s*", raw) or int(raw) < 1:
        raise ValueError("must be a whole number of 1 or more")
    return int(raw)


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(raw: str) -> int:
    """Bytes, with an optional k/m/g suffix (powers of 1024), as nginx writes them."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)i?b?\s*", raw.lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError("expected a size such as 1048576, 512k or 1m")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: str) -> float:
    """Seconds, with an optional s/m/h/d suffix."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", raw.lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError("expected a duration such as 30, 15m or 30d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
    return origins


def parse_db_timeout(raw: str) -> float:
    seconds = parse_duration(raw)
    if seconds < 2:
        # a change stream's getMore waits up to a second for news, within this bound
        raise ValueError("expected 2 seconds or more")
    return seconds


REGISTRATION_MODES = ("open", "closed", "invite")


def parse_registration(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in REGISTRATION_MODES:
        raise ValueError("expected open, closed or invite")
    return mode


def parse_log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected debug, info, warning or error")
    return level


def parse_log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("text", "json"):
        raise ValueError("expected text or json")
    return value


def parse_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^\s]+", raw):
        raise ValueError("expected an http:// or https:// URL")
    return raw.rstrip("/")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[Network, ...]:
    """Comma-separated addresses (one host each) or networks in CIDR notation."""
    networks = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an address or network such as 10.0.0.5 or 10.0.0.0/24"
            ) from None
    return tuple(networks)


def parse_mongodb_uri(raw: str) -> str:
    if not raw.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("expected a URI starting with mongodb:// or mongodb+srv://")
    return raw


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # written as on the command line; None means unset
    parse: Callable[[str], Any]
    help: str
    secret: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def setting(
    default: str | None, parse: Callable[[str], Any], help: str, *, secret: bool = False
) -> Any:
    """Declares one setting as a field of Config: its default as written on the
    command line, the parser that types it, and its help text."""
    return field(metadata={"setting": (default, parse, help, secret)})


@dataclass(frozen=True)
class Config:
    """The settings' values, typed; made by ``load()``, changed only by ``replace()``."""

    # serving
    address: str = setting("127.0.0.1", parse_address, "address to listen on")
    port: int = setting("8000", parse_port, "port to listen on")
    xheaders: bool = setting(
        "false",
        parse_bool,
        "take the client's address and scheme from X-Real-IP and X-Forwarded-Proto, "
        "as the proxy in front (nginx) sends them, on connections from --trusted-proxies",
    )
    trusted_proxies: tuple[Network, ...] = setting(
        "127.0.0.0/8,::1",
        parse_networks,
        "comma-separated addresses or networks of the proxies in front, whose X-Real-IP "
        "and X-Forwarded-Proto --xheaders believes; any other peer's are ignored",
    )
    max_body_size: int = setting("1m", parse_size, "largest request body accepted; larger gets 413")
    drain_timeout: float = setting(
        "10", parse_duration, "on SIGTERM, how long requests in flight may take to finish"
    )
    # data
    mongodb_uri: str | None = setting(
        None,
        parse_mongodb_uri,
        "MongoDB to use; unset starts the embedded server with its files in --data-dir",
        secret=True,
    )
    database: str = setting("taskhub", parse_str, "name of the MongoDB database")
    data_dir: str = setting(
        "./var", parse_str, "directory for the embedded database and generated secrets"
    )
    startup_timeout: float = setting(
        "20", parse_duration, "how long to wait for the database at start-up before giving up"
    )
    db_timeout: float = setting(
        "5",
        parse_db_timeout,
        "longest a request waits on the database, retries included; then it answers 503",
    )
    # security
    cookie_secret: str | None = setting(
        None,
        parse_str,
        "key signing login cookies; unset: generated once into --data-dir",
        secret=True,
    )
    cors_origins: tuple[str, ...] = setting(
        "",
        parse_origins,
        "comma-separated origins allowed to call with credentials (cookies, tokens)",
    )
    token_ttl: float = setting("30d", parse_duration, "how long a login token stays valid")
    allow_get_login: bool = setting(
        "false",
        parse_bool,
        "accept GET /login?username=&pwd= from classic clients (puts passwords in URLs)",
    )
    # OWASP's argon2id parameters (Password Storage Cheat Sheet: 19 MiB, 2 passes, 1
    # lane), where argon2-cffi's own defaults, taskhub's before, are 64 MiB, 3, 4
    password_hash_memory: int = setting(
        "19456", positive_int, "argon2id memory cost of password hashes, in KiB"
    )
    password_hash_iterations: int = setting(
        "2", positive_int, "argon2id time cost (passes over the memory) of password hashes"
    )
    password_hash_lanes: int = setting(
        "1", positive_int, "argon2id parallelism (lanes) of password hashes"
    )
    password_checks: int = setting(
        "2",
        positive_int,
        "password verifications run at once (each takes a core); more wait, up to 16 each",
    )
    password_checks_per_minute: int = setting(
        "30",
        positive_int,
        "password verifications one client address may ask of a process in a minute",
    )
    registration: str = setting(
        "open",
        parse_registration,
        "who may create accounts: open, closed, or invite (one-time codes: taskhub invite create)",
    )
    # limits
    max_tasks_per_user: int = setting(
        "10000", positive_int, "most tasks the lists one user owns may hold"
    )
    max_lists_per_user: int = setting("100", positive_int, "most lists one user may own")
    max_members_per_list: int = setting(
        "50", positive_int, "most members a list may have, its owner included"
    )
    max_scores_per_day: int = setting(
        "1000", positive_int, "most scoring-form submissions per user (or address) in a day"
    )
    log_level: str = setting("info", parse_log_level, "debug, info, warning or error")
    log_format: str = setting(
        "text", parse_log_format, "text, or json: one JSON object per line for every log record"
    )
    # live updates
    live: bool = setting(
        "true", parse_bool, "serve /api/live (needs a MongoDB with change streams: a replica set)"
    )
    live_max_sockets: int = setting("20", positive_int, "most live sockets one user may hold open")
    live_ping_interval: float = setting(
        "25",
        parse_duration,
        "seconds between server pings on live sockets; below nginx's proxy_read_timeout",
    )
    # mini-programs
    wechat_appid: str | None = setting(None, parse_str, "WeChat mini-program appid")
    wechat_secret: str | None = setting(
        None, parse_str, "WeChat mini-program app secret", secret=True
    )
    wechat_api_base: str = setting(
        "https://api.weixin.qq.com", parse_url, "base URL of WeChat's code2Session API"
    )
    toutiao_appid: str | None = setting(None, parse_str, "Toutiao (Douyin) mini-program appid")
    toutiao_secret: str | None = setting(
        None, parse_str, "Toutiao mini-program app secret", secret=True
    )
    toutiao_api_base: str = setting(
        "https://developer.toutiao.com", parse_url, "base URL of Toutiao's code2Session API"
    )

    def __repr__(self) -> str:  # never shows secrets
        shown = {
            s.name: ("***" if s.secret and getattr(self, s.name) else getattr(self, s.name))
            for s in SETTINGS
        }
        return f"Config({shown})"

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, *f.metadata["setting"]) for f in dataclasses.fields(Config)
)


def build_parser(prog: str = "app.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="taskhub: tasks, login and live updates over HTTP and WebSocket.",
        epilog=f"Every flag can also be set by an environment variable: {ENV_PREFIX}<NAME>.",
    )
    add_settings(parser)
    return parser


def add_settings(parser: argparse.ArgumentParser) -> None:
    """Every setting as a flag of ``parser`` (the taskhub command's subcommands too)."""
    for setting in SETTINGS:
        default = "unset" if setting.default is None else setting.default
        kwargs: dict[str, Any] = {
            "dest": setting.name,
            "default": None,
            "metavar": "VALUE",
            "help": f"{setting.help} (default: {default}; env {setting.env})",
        }
        if setting.parse is parse_bool:
            kwargs.update(nargs="?", const="true", metavar="BOOL")
        parser.add_argument(setting.flag, **kwargs)


def load(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Reads every setting from flags, then the environment, then the default.

    argparse exits with status 2 on an unknown flag; a bad value raises ConfigError.
    """
    return resolve(vars(build_parser().parse_args(argv)), environ)


def resolve(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """The settings from parsed ``flags`` (None where not given), then ``environ``,
    then the defaults; ConfigError naming the first bad value."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if flags[setting.name] is not None:
            raw, source = flags[setting.name], setting.flag
        elif setting.env in environ:
            raw, source = environ[setting.env], setting.env
        else:
            raw, source = setting.default, "default"
        if raw is None or (raw == "" and setting.default is None):
            values[setting.name] = None
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as e:
            shown = "***" if setting.secret else repr(raw)
            raise ConfigError(f"{setting.name} ({source}) = {shown}: {e}") from None
    check_pairs(values)
    return Config(**values)


def check_pairs(values: Mapping[str, Any]) -> None:
    """Settings that only make sense together."""
    for platform in ("wechat", "toutiao"):
        appid, secret = values[f"{platform}_appid"], values[f"{platform}_secret"]
        if bool(appid) != bool(secret):
            raise ConfigError(f"{platform}_appid and {platform}_secret must be set together")
