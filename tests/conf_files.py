"""Small readers for the files in conf/, so tests check their structure rather than
their spelling: nginx's block syntax, systemd's unit files, a two-level YAML file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None
    parents: tuple[str, ...] = field(default=(), repr=False)  # "server", "location /x", ...

    def find(self, name: str) -> list[Directive]:
        return [d for d in walk(self.block or []) if d.name == name]

    def first(self, name: str) -> Directive:
        found = [d for d in self.block or [] if d.name == name]
        assert found, f"no {name} directly in {self.name} {' '.join(self.args)}"
        return found[0]


def _tokens(text: str) -> Iterator[str]:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            yield c
            i += 1
        elif c in "'\"":
            j, out = i + 1, []
            while text[j] != c:
                if text[j] == "\\":
                    out.append(text[j : j + 2])
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            yield "\0" + "".join(out)  # marks a quoted token
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "{};":
                j += 1
            yield text[i:j]
            i = j


def parse_nginx(text: str) -> list[Directive]:
    """nginx's configuration syntax: directives, arguments (quotes removed) and blocks."""
    tokens = list(_tokens(text))
    pos = 0

    def block(parents: tuple[str, ...]) -> list[Directive]:
        nonlocal pos
        out: list[Directive] = []
        words: list[str] = []
        while pos < len(tokens):
            t = tokens[pos]
            pos += 1
            if t == ";":
                out.append(Directive(words[0], words[1:], None, parents))
                words = []
            elif t == "{":
                name = " ".join([words[0], *words[1:2]]) if words else ""
                inner = block((*parents, name))
                out.append(Directive(words[0], words[1:], inner, parents))
                words = []
            elif t == "}":
                assert not words, f"unterminated directive {words}"
                return out
            else:
                words.append(t.lstrip("\0"))
        assert not words, f"unterminated directive {words}"
        return out

    return block(())


def walk(directives: list[Directive]) -> Iterator[Directive]:
    for d in directives:
        yield d
        if d.block:
            yield from walk(d.block)


def parse_unit(text: str) -> list[tuple[str, str, str]]:
    """A systemd unit file as (section, key, value), keeping repeated keys."""
    section, out = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def unit_values(unit: list[tuple[str, str, str]], section: str, key: str) -> list[str]:
    return [v for s, k, v in unit if s == section and k == key]


def parse_yaml_2(text: str) -> dict[str, dict[str, str]]:
    """``section:`` then indented ``key: value`` lines, comments dropped: enough for
    conf/mongod.conf."""
    out: dict[str, dict[str, str]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        key, _, value = line.strip().partition(":")
        if not raw.startswith(" "):
            section = key
            out[section] = {}
        else:
            assert section is not None
            out[section][key] = value.strip()
    return out
