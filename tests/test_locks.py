"""The lock files in requirements/ (written by scripts/lock.sh) pin every package to one
version with its hashes, every range in setup.cfg holds for the pinned version, and all
locks agree, so what the tests ran on is what ./run and a deployment install."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from harness.settings import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

SETUP = configparser.ConfigParser()
SETUP.read(ROOT / "setup.cfg")


def ranges(value: str) -> list[Requirement]:
    return [
        Requirement(line)
        for line in (raw.strip() for raw in value.splitlines())
        if line and not line.startswith("#")
    ]


RUNTIME = ranges(SETUP["options"]["install_requires"])
# runtime.txt is the plain service (the deploy); EXTRA.txt is taskhub[EXTRA].
LOCKS = {"runtime": RUNTIME} | {
    extra: RUNTIME + ranges(value) for extra, value in SETUP["options.extras_require"].items()
}
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def read_lock(path: Path) -> dict[str, tuple[Requirement, list[str]]]:
    """Each entry of a lock, by canonical name: its requirement and the hashes after it.
    Every line that is not a comment must be such an entry: no options (an index, find
    links, an editable checkout) that would tie the lock to one machine."""
    entries: dict[str, tuple[Requirement, list[str]]] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("-"), f"{path.name}: an option, not a pinned package: {line}"
        requirement = Requirement(line.partition(" --")[0])
        name = canonicalize_name(requirement.name)
        assert name not in entries, f"{path.name}: {name} twice"
        entries[name] = (requirement, HASH.findall(line))
    return entries


def pinned(requirement: Requirement) -> Version | None:
    specifiers = list(requirement.specifier)
    if len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version:
        return Version(specifiers[0].version)
    return None


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_package_is_pinned_with_a_hash(name):
    entries = read_lock(ROOT / "requirements" / f"{name}.txt")
    assert entries
    for package, (requirement, hashes) in entries.items():
        assert pinned(requirement), f"{name}.txt: {requirement} is not pinned with =="
        assert hashes, f"{name}.txt: {package} has no --hash=sha256:"


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_range_in_setup_cfg_holds_for_the_pinned_version(name):
    entries = read_lock(ROOT / "requirements" / f"{name}.txt")
    for wanted in LOCKS[name]:
        if wanted.marker and not wanted.marker.evaluate():
            continue
        package = canonicalize_name(wanted.name)
        assert package in entries, f"{name}.txt lacks {wanted}: run scripts/lock.sh"
        version = pinned(entries[package][0])
        assert version is not None and wanted.specifier.contains(version, prereleases=True), (
            f"{name}.txt pins {package} {version}, outside {wanted}: run scripts/lock.sh"
        )


def test_the_locks_agree_on_every_version():
    seen: dict[str, tuple[str, Version | None]] = {}
    for name in sorted(LOCKS):
        for package, (requirement, _) in read_lock(ROOT / "requirements" / f"{name}.txt").items():
            first = seen.setdefault(package, (name, pinned(requirement)))
            assert first[1] == pinned(requirement), (
                f"{package}: {first[1]} in {first[0]}.txt, {pinned(requirement)} in {name}.txt"
            )


def test_each_extra_has_a_lock_and_no_lock_is_left_over():
    on_disk = {path.stem for path in (ROOT / "requirements").glob("*.txt")}
    assert on_disk == set(LOCKS)
