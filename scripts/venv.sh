# Shared by ./run and ./test: create .venv if missing and install into it the locked
# dependencies of the extra named by the first argument (requirements/EXTRA.txt, written
# by scripts/lock.sh), then taskhub itself. Re-installs only when that lock, setup.cfg
# or pyproject.toml changed.

ensure_venv() {
    local extra=$1 stamp=".venv/.installed-$1" lock="requirements/$1.txt"
    if [ ! -x .venv/bin/python ]; then
        if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                echo "installing python3-venv" >&2
                apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            else
                echo "python3 lacks venv: install python3-venv (e.g. sudo apt-get install python3-venv)" >&2
                exit 1
            fi
        fi
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ setup.cfg -nt "$stamp" ] \
        || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing taskhub[$extra] into .venv from $lock" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
        # Exactly the locked files, each checked against its hash, or nothing installs.
        .venv/bin/python -m pip install --quiet --require-hashes -r "$lock"
        # taskhub itself, editable: its dependencies all came from the lock.
        .venv/bin/python -m pip install --quiet --no-deps -e .
        # A lock older than a range changed in setup.cfg installs versions outside it:
        # say so here rather than run on them.
        local broken
        if ! broken=$(.venv/bin/python -m pip check 2>&1); then
            echo "$broken" >&2
            echo "$lock does not satisfy setup.cfg: run scripts/lock.sh" >&2
            exit 1
        fi
        touch "$stamp"
    fi
}
