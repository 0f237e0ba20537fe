# Shared by ./run and ./test: create .venv if missing and install taskhub into it
# with the extra named by the first argument. Re-installs only when setup.cfg changed.

ensure_venv() {
    local extra=$1 stamp=".venv/.installed-$1"
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
    if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing taskhub[$extra] into .venv" >&2
        .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
        .venv/bin/python -m pip install --quiet -e ".[$extra]"
        touch "$stamp"
    fi
}
