#!/usr/bin/env bash
# The .deb as a user meets it: built with ./dev package, checked with lintian, then
# installed with apt into a clean Debian 12 (bookworm) root file system, where
# Debian's Qt comes from the mirror. There it must start, answer /api/health, stop
# on SIGTERM with exit code 0 (headless, and with the console on Qt's offscreen
# platform), and have put its files where desktops, man and systemd look; its unit
# must pass `systemd-analyze verify` with Debian 12's systemd; removing it must keep
# an edited configuration (a conffile), purging it must not.
#
#   tests/distro/test-package.sh       (./dev test-package; stage 2 of ./dev test)
#
# The root file system is made once by tests/distro/in-debian.sh (mmdebstrap, only
# apt and the Essential packages) and cached under $BUILD_DIR/distro/bookworm; each
# run installs into a throw-away overlay of it (--ephemeral), so every run starts
# clean, while apt's downloads are kept for the next run.
#
#   BUILD_DIR       as ./dev (default build; must be inside the repository)
#   DEBIAN_MIRROR   as in-debian.sh
set -euo pipefail
# With pipefail, a reader that stops early (grep -q, file -) can fail a pipeline
# through its writer's SIGPIPE: the checks below read whole outputs.

SUITE=bookworm
export DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

step() {
    printf '\n-- %s\n' "$*" >&2
}

# GET /api/health on 127.0.0.1:$1 with bash's /dev/tcp (the clean system has no curl).
health() {
    local response
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    response=$(timeout 10 cat <&3) || true
    exec 3<&-
    printf '%s' "$response"
}

# Runs the command after $1 (what it is called here; the command starts switchboard
# and takes its options last), reads the port from the listening line, checks
# /api/health, sends SIGTERM and expects exit code 0.
start_and_stop() {
    local what=$1 out=/tmp/switchboard.out pid port="" response status=0
    shift
    "$@" --host 127.0.0.1 --port 0 >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 200); do # up to 20 s
        port=$(sed -nE 's|^Switchboard listening on http://127\.0\.0\.1:([0-9]+) .*|\1|p' "$out")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] || { kill -KILL "$pid" 2>/dev/null; cat "$out" >&2; fail "switchboard $* printed no listening line"; }
    response=$(health "$port")
    grep -q '^HTTP/1.1 200' <<<"$response" && grep -q '"status":"ok"' <<<"$response" \
        || { kill -KILL "$pid"; fail "GET /api/health on port $port answered: $response"; }
    kill -TERM "$pid"
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || { cat "$out" >&2; fail "switchboard $* exited $status after SIGTERM, not 0"; }
    echo "$what ($*): listened on port $port, /api/health 200, exit 0 after SIGTERM"
}

# The installed package that satisfies dependency $1: itself, or one providing it.
provider() {
    if [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; then
        echo "$1"
    else
        # awk reads to the end (no early exit): with pipefail, dpkg-query killed by
        # SIGPIPE would fail the pipeline now and then.
        dpkg-query -W -f='${Package} ${Provides}\n' \
            | awk -v name="$1" '{ for (i = 2; i <= NF; i++) { p = $i; sub(/,$/, "", p); if (p == name && !found) found = $1 } }
                                END { if (found) print found }'
    fi
}

# Runs in the root file system, as root, in /src: $1 is the .deb, $2 the mirror.
inside() {
    local deb=$1 mirror=$2
    export DEBIAN_FRONTEND=noninteractive
    step "apt-get install $deb in a clean $(. /etc/os-release && echo "$PRETTY_NAME")"
    apt-get update -qq
    # With Recommends (apt's default) everything must resolve from Debian; installed
    # without, as on a headless server, which is enough for what follows and keeps
    # the run short.
    apt-get install -s "$deb" >/dev/null || fail "apt cannot resolve $deb with its Recommends"
    apt-get install -y -qq --no-install-recommends "$deb" >/tmp/apt.log 2>&1 \
        || { cat /tmp/apt.log >&2; fail "apt-get install $deb"; }
    echo "installed: $(dpkg-query -W -f='${Package} ${Version}, ${Installed-Size} KiB' switchboard);" \
         "$(grep -c '^Unpacking' /tmp/apt.log) packages unpacked"

    step "Depends and Recommends are Debian packages"
    local fields name pkg version
    fields=$(dpkg-query -W -f='${Depends}, ${Recommends}' switchboard)
    echo "Depends, Recommends: $fields"
    for name in $(tr ',|' '\n\n' <<<"$fields" | sed -E 's/\(.*\)//; s/:any//; s/[[:space:]]//g; /^$/d' | sort -u); do
        if pkg=$(provider "$name") && [ -n "$pkg" ]; then
            version=$(dpkg-query -W -f='${Version}' "$pkg")
            apt-cache madison "$pkg" | awk -F'|' -v v="$version" '{ gsub(/ /, "", $2) } $2 == v' \
                | grep -F "$mirror" >/dev/null \
                || fail "$name: installed $pkg $version is not from $mirror"
        else
            # Not installed (a Recommends): it must exist in the Debian archive.
            apt-cache madison "$name" | grep -F "$mirror" >/dev/null || fail "$name is not a Debian package"
        fi
    done
    echo "each comes from $mirror"

    step "installed files"
    local expected
    expected="$(switchboard --version)"
    [ "$expected" = "switchboard $(dpkg-query -W -f='${Version}' switchboard)" ] \
        || fail "switchboard --version says '$expected'"
    echo "$expected"
    local files=(/usr/bin/switchboard /usr/share/applications/switchboard.desktop
                 /usr/share/icons/hicolor/scalable/apps/switchboard.svg
                 /usr/share/man/man1/switchboard.1.gz /lib/systemd/system/switchboard.service
                 /etc/switchboard/switchboard.conf /usr/share/doc/switchboard/copyright)
    for size in 16 22 24 32 48 64 128 256; do
        files+=("/usr/share/icons/hicolor/${size}x${size}/apps/switchboard.png")
    done
    for file in "${files[@]}"; do
        [ -f "$file" ] || fail "$file is missing"
    done
    dpkg-query -W -f='${Conffiles}\n' switchboard | grep '^ /etc/switchboard/switchboard.conf ' >/dev/null \
        || fail "/etc/switchboard/switchboard.conf is not a conffile"
    # packaging/changelog must follow the project's version.
    local changelog
    changelog=$(zcat /usr/share/doc/switchboard/changelog.gz)
    [[ ${changelog%%$'\n'*} == "switchboard (${expected#switchboard }) "* ]] \
        || fail "packaging/changelog's first entry is not for $expected"
    echo "${#files[@]} files in place; /etc/switchboard/switchboard.conf is a conffile"

    step "start and stop"
    # As the service starts it: with the packaged configuration.
    local config=(--config /etc/switchboard/switchboard.conf)
    start_and_stop headless switchboard --no-gui "${config[@]}"
    # The console, on Qt's offscreen platform: Widgets and Gui load in a clean system.
    QT_QPA_PLATFORM=offscreen start_and_stop "console on QT_QPA_PLATFORM=offscreen" \
        switchboard "${config[@]}"
    # The unit's MemoryDenyWriteExecute=yes, as the kernel's own PR_SET_MDWE (Linux 6.3;
    # prctl is system call 157 on x86-64; perl is Essential): no memory may become
    # writable and executable, and the server must still serve.
    local mdwe='syscall(157, 65, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_MDWE): $!\n"; exec @ARGV'
    if [ "$(uname -m)" = x86_64 ] && perl -e "$mdwe" true 2>/dev/null; then
        start_and_stop "headless under PR_SET_MDWE" perl -e "$mdwe" switchboard --no-gui "${config[@]}"
    else
        echo "(no PR_SET_MDWE here, kernel $(uname -r) on $(uname -m): MemoryDenyWriteExecute not checked)"
    fi

    step "man and systemd, as a desktop or server has them"
    echo "man-db man-db/auto-update boolean false" | debconf-set-selections
    apt-get install -y -qq --no-install-recommends man-db systemd >/tmp/apt.log 2>&1 \
        || { cat /tmp/apt.log >&2; fail "apt-get install man-db systemd"; }
    [ "$(man -w switchboard)" = /usr/share/man/man1/switchboard.1.gz ] || fail "man -w switchboard: $(man -w switchboard 2>&1)"
    echo "man -w switchboard: $(man -w switchboard)"
    echo "$(systemd-analyze --version | head -1)"
    local verify
    verify=$(systemd-analyze verify /lib/systemd/system/switchboard.service 2>&1) \
        && [ -z "$verify" ] || fail "systemd-analyze verify switchboard.service: $verify"
    echo "systemd-analyze verify /lib/systemd/system/switchboard.service: clean"
    systemd-analyze security --offline=yes /lib/systemd/system/switchboard.service 2>&1 | tail -1

    step "remove keeps the edited configuration, purge removes it"
    echo "port = 4041" >>/etc/switchboard/switchboard.conf
    dpkg --remove switchboard >/dev/null
    [ ! -e /usr/bin/switchboard ] || fail "dpkg --remove left /usr/bin/switchboard"
    grep -q '^port = 4041$' /etc/switchboard/switchboard.conf \
        || fail "dpkg --remove did not keep the edited /etc/switchboard/switchboard.conf"
    dpkg --purge switchboard >/dev/null
    [ ! -e /etc/switchboard/switchboard.conf ] || fail "dpkg --purge left /etc/switchboard/switchboard.conf"
    echo "removed (configuration kept), purged (configuration gone)"
    # The kept downloads: drop those the mirror no longer has (older point releases).
    apt-get autoclean -qq
}

if [ "${1:-}" = --inside ]; then
    inside "$2" "$3"
    exit
fi

# --- On this machine ------------------------------------------------------------
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
started=$SECONDS
build_dir=$(realpath -m --relative-to=. "${BUILD_DIR:-build}")
case "$build_dir" in
../* | ..) echo "BUILD_DIR must be inside the repository for the package test" >&2; exit 2 ;;
esac
deb=$(BUILD_DIR=$build_dir ./dev package | tail -1)
deb=$(realpath --relative-to=. "$deb")

step "lintian $deb"
# Errors and warnings fail; the info tags left are named in the README (Testing).
lintian --allow-root --fail-on error,warning --display-info "$deb" || fail "lintian found errors or warnings"
binary=$(mktemp)
trap 'rm -f "$binary"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/switchboard >"$binary"
[[ $(file "$binary") == *", stripped"* ]] || fail "the .deb's /usr/bin/switchboard is not stripped"

BUILD_DIR=$build_dir tests/distro/in-debian.sh "$SUITE" --ephemeral -- \
    /bin/bash tests/distro/test-package.sh --inside "/src/$deb" "$DEBIAN_MIRROR"
took=$((SECONDS - started))
echo "package test passed in $((took / 60))m$((took % 60))s"
