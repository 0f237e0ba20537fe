# Shared by ./test (and ./run --processes): installs the Debian packages that the
# tests and the local stack run for real, when they are missing and we are root.

# command -> Debian package providing it
declare -A SYSTEM_PACKAGES=(
    [systemd-analyze]=systemd
    [nginx]=nginx
    [openssl]=openssl
    [curl]=curl
    [chromium]=chromium
    [node]=nodejs
    [npm]=npm
    # network namespaces standing in for several VMs (tests/test_two_hosts.py)
    [ip]=iproute2
)

# file -> Debian package providing it: fonts, so that the browser tests' screenshots
# show Chinese text and emoji rather than empty boxes
declare -A SYSTEM_FILES=(
    [/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]=fonts-noto-cjk
    [/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf]=fonts-noto-color-emoji
)

# Arguments are commands (keys of SYSTEM_PACKAGES) or absolute paths (of SYSTEM_FILES).
ensure_system_packages() {
    local missing=() cmd
    for cmd in "$@"; do
        if [[ "$cmd" == /* ]]; then
            [ -e "$cmd" ] || missing+=("${SYSTEM_FILES[$cmd]}")
            continue
        fi
        # /usr/sbin is not on a normal user's PATH on Debian, and nginx lives there
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${SYSTEM_PACKAGES[$cmd]}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
        return 1
    fi
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
