# Sourced by ./test: installs the npm packages the tests use, each folder from its own
# package-lock.json, once, and again whenever that lock file changes:
#   miniprogram/test  the mini-program harness (`ws`, a WebSocket for a Node without one)
#   tests/browser     axe-core, which the accessibility test injects into the board

NODE_DEP_DIRS=(miniprogram/test tests/browser)

ensure_node_deps() {
    local dir stamp
    for dir in "${NODE_DEP_DIRS[@]}"; do
        stamp=$dir/node_modules/.npm-ci-stamp
        [ -e "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && continue
        echo "installing the npm packages of $dir" >&2
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
        touch "$stamp"
    done
}
