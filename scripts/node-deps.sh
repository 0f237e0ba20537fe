# Sourced by ./test: installs the mini-program harness's npm packages (the `ws`
# WebSocket for a Node without one) from miniprogram/test/package-lock.json, once,
# and again whenever the lock file changes.

ensure_node_deps() {
    local dir=miniprogram/test
    local stamp=$dir/node_modules/.npm-ci-stamp
    [ -e "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && return 0
    echo "installing the npm packages of $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
    touch "$stamp"
}
