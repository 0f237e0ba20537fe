#!/usr/bin/env bash
# Writes the lock files in requirements/ from the ranges in setup.cfg: runtime.txt for
# the plain service (the deploy), and EXTRA.txt for each extra (embedded: ./run, test:
# ./test), every package pinned with its sha256 hashes, for Python 3.11 on Linux x86_64.
#   scripts/lock.sh                          after changing setup.cfg: the other pins stay
#   scripts/lock.sh --upgrade                the newest releases that setup.cfg allows
#   scripts/lock.sh --upgrade-package NAME   just that one (more arguments go to uv too)
#
# The tool is `uv pip compile` rather than pip-compile because it resolves for the
# target named below whatever Python and system run it, and reads no pip or uv
# configuration (--no-config), so a machine's own indexes or wheel folders never end up
# in a lock and every machine writes the same files. uv goes into a throwaway venv: it
# is no dependency of taskhub's, neither at runtime nor in the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TARGET=(--python-version 3.11 --python-platform x86_64-unknown-linux-gnu)

tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
python3 -m venv "$tool/venv"
"$tool/venv/bin/python" -m pip install --quiet "uv==$UV_VERSION"

lock() {  # lock OUTPUT [uv arguments...]
    local out=requirements/$1
    shift
    echo "locking $out" >&2
    "$tool/venv/bin/uv" pip compile --quiet --no-config --generate-hashes "${TARGET[@]}" \
        --custom-compile-command scripts/lock.sh --output-file "$out" setup.cfg "$@"
}

mkdir -p requirements
extras=$(python3 -c 'import configparser as c; p = c.ConfigParser(); p.read("setup.cfg"); print(*p["options.extras_require"])')
# The test lock first; every other lock takes its versions (-c), so the versions the
# tests ran are the ones that run and get deployed.
lock test.txt --extra test "$@"
for extra in $extras; do
    [ "$extra" = test ] || lock "$extra.txt" --extra "$extra" -c requirements/test.txt "$@"
done
lock runtime.txt -c requirements/test.txt "$@"
