#!/usr/bin/env bash
# Runs a command inside a minimal Debian root file system of another release,
# so the project can be built and tested against that release's compiler and
# libraries (e.g. Debian 13 "trixie" with Qt 6.8) on a Debian 12 machine.
#
#   tests/distro/in-debian.sh SUITE [--packages "pkg1 pkg2 ..."] [--ephemeral] -- COMMAND...
#
#   SUITE       a Debian suite name such as trixie
#   --packages  Debian packages to install in it (apt, without Recommends)
#   --ephemeral the command's changes to the tree are thrown away when it ends, so
#               the cached tree stays as mmdebstrap made it (e.g. to install a .deb
#               into a clean system every time); apt's package lists and
#               downloaded packages are kept apart, in $BUILD_DIR/distro/SUITE/apt,
#               so a later run need not fetch them again
#   COMMAND     runs as root in the repository, which appears at /src
#
#   BUILD_DIR        the root file system is kept in $BUILD_DIR/distro/SUITE/rootfs
#                    (default build/, relative to the repository)
#   DEBIAN_MIRROR    where packages come from (default http://deb.debian.org/debian)
#
# How it works, for a reader who has never met these tools:
#
# * A "root file system" is just a directory holding a complete Debian
#   installation: /usr, /etc, /var... `mmdebstrap` (Debian package mmdebstrap)
#   makes one from scratch: it downloads the suite's essential packages plus the
#   ones we name, and unpacks and configures them into the directory. Nothing on
#   this machine outside that directory is changed. It takes a couple of
#   minutes, so the result is cached and reused until the suite or the package
#   list changes (the "stamp" file next to it records both).
#
# * To run a program "in" it we use `chroot`, which makes that directory the
#   program's `/`: it then sees the other release's libraries, compilers and
#   tools instead of ours. The kernel stays the same. Before that, `unshare`
#   gives the command private "namespaces": its own table of mounts (so the
#   /proc, /dev, /tmp and /src mounts we add are seen by it alone and disappear
#   when it ends; nothing needs unmounting) and its own process numbers (so
#   when the command finishes, anything it left running is killed with it).
#   The network is *not* separated: the command shares this machine's
#   loopback interface, which is what the tests need (127.0.0.1, port 0).
#
# Needs root for mmdebstrap, mount and chroot; uses sudo when not root.
# Exits with the command's exit code.
set -euo pipefail

usage() {
    echo "usage: tests/distro/in-debian.sh SUITE [--packages \"pkg1 pkg2 ...\"] [--ephemeral] -- COMMAND..." >&2
    exit 2
}

# --- Arguments ---------------------------------------------------------------
(($# >= 1)) || usage
suite=$1
shift
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] || { echo "in-debian: bad suite name: $suite" >&2; exit 2; }
packages=""
ephemeral=0
while (($#)); do
    case "$1" in
    --packages) (($# >= 2)) || usage; packages=$2; shift 2 ;;
    --packages=*) packages=${1#--packages=}; shift ;;
    --ephemeral) ephemeral=1; shift ;;
    --) shift; break ;;
    *) usage ;;
    esac
done
(($# >= 1)) || usage

# Paths are relative to the repository root (two levels above this script),
# whatever the caller's working directory.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$repo"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
build_dir=${BUILD_DIR:-build}
distro_dir="$build_dir/distro/$suite"
mkdir -p "$distro_dir"
distro_dir=$(cd "$distro_dir" && pwd -P)
rootfs="$distro_dir/rootfs"
stamp="$distro_dir/stamp"

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

# The package list, one name per line, sorted and without duplicates, so that
# "a b" and "b  a" give the same cache key.
sorted_packages=$(tr -s '[:space:],' '\n' <<<"$packages" | sed '/^$/d' | LC_ALL=C sort -u)
# Everything that decides what goes into the tree. Bump "layout" when this
# script changes what it does to a new tree, so old caches are made again.
wanted_stamp=$(printf 'layout 1\nsuite %s\nmirror %s\npackages\n%s\n' \
    "$suite" "$mirror" "$sorted_packages")

# --- Make the root file system unless an identical one is cached ----------------
make_rootfs() {
    if ! command -v mmdebstrap >/dev/null; then
        echo "in-debian: mmdebstrap is missing: apt-get install mmdebstrap (./dev test installs it)" >&2
        exit 1
    fi
    # The stamp goes first and comes back last: a tree without a matching
    # stamp is never trusted, whatever state an interrupted run left it in.
    rm -f "$stamp"
    # --one-file-system: never follow into something still mounted inside.
    "${sudo[@]}" rm -rf --one-file-system "$rootfs" "$distro_dir"/rootfs.tmp.*

    # Build in a temporary directory next to the final one, then rename it:
    # renaming is atomic, so "rootfs" is either absent or complete.
    tmp=$(mktemp -d "$distro_dir/rootfs.tmp.XXXXXX") # global: the trap needs it
    chmod 0755 "$tmp" # it becomes "/" in the chroot; mktemp made it 0700
    trap '"${sudo[@]}" rm -rf --one-file-system "$tmp"' EXIT

    local include
    include=$(paste -sd, <<<"$sorted_packages")
    echo "in-debian: making a $suite root file system in ${rootfs#"$repo"/} from $mirror" \
         "(a few minutes; cached afterwards)" >&2
    local started=$SECONDS
    # --variant=apt: only the packages Debian marks Essential, apt itself, and
    #   the --include list with its dependencies (no Recommends: mmdebstrap
    #   never installs them unless told to, which keeps e.g. Chromium small).
    # --mode=root: we are root (or sudo), so files get their real owners.
    # The customize hook runs after the packages are installed, with the tree
    # as "$1": /src is where the repository will be mounted, and /etc/hosts
    # makes "localhost" resolve, as no package in this variant provides it.
    # --quiet keeps apt's and dpkg's progress output out of the test log.
    # shellcheck disable=SC2016 # "$1" in the hooks is for mmdebstrap to expand
    "${sudo[@]}" mmdebstrap --quiet --mode=root --variant=apt \
        ${include:+--include="$include"} \
        --customize-hook='mkdir -p "$1/src"' \
        --customize-hook='[ -e "$1/etc/hosts" ] || printf "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"' \
        "$suite" "$tmp" "$mirror" >&2
    "${sudo[@]}" mv -T "$tmp" "$rootfs"
    trap - EXIT
    printf '%s\n' "$wanted_stamp" >"$stamp"
    local took=$((SECONDS - started))
    echo "in-debian: made the $suite root file system in $((took / 60))m$((took % 60))s" \
         "($(du -sh --one-file-system "$rootfs" 2>/dev/null | cut -f1))" >&2
}

# One run at a time checks or makes the tree (a second one waits here, then
# finds it made); while commands run in it, it is not made again underneath
# them (they hold the lock shared, making it needs it alone).
exec 9>"$distro_dir/lock"
flock 9
if [ -d "$rootfs" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted_stamp" ]; then
    echo "in-debian: reusing the cached $suite root file system in ${rootfs#"$repo"/}" >&2
else
    make_rootfs
fi
flock -s 9

# --- Run the command in it ---------------------------------------------------
# A clean environment: nothing from this machine's shell leaks in, except
# the terminal type and the knobs the test scripts read.
environment=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
             HOME=/root LANG=C.UTF-8 "TERM=${TERM:-dumb}")
[ -z "${FUZZ_SECONDS+set}" ] || environment+=("FUZZ_SECONDS=$FUZZ_SECONDS")
while IFS= read -r name; do
    environment+=("$name=${!name}")
done < <(compgen -e | grep '^CTEST_' || true)

# The setup below runs with this machine's bash, mount and chroot, as the first
# process ("init", PID 1) of the new process namespace, before entering the
# tree. It stays alive as PID 1 instead of exec'ing the command: an init only
# gets the signals it handles, and this way Ctrl-C (or `timeout`, or a CI
# runner, signalling the whole process group) stops the command itself. When
# PID 1 exits, the kernel kills whatever is left in the namespace and drops
# its mounts.
#   $1 = the tree, $2 = the repository, then NAME=VALUE... COMMAND...
# shellcheck disable=SC2016 # expanded by the inner bash, not here
setup='
set -eu
root=$1 repo=$2 scratch=$3
shift 3
if [ -n "$scratch" ]; then
    # --ephemeral: the tree seen by the command is an overlay, the cached tree
    # below (never written) and a scratch directory above that takes every
    # change and is deleted afterwards. apt keeps its lists and downloads in
    # directories that outlive the run.
    mkdir -p "$scratch/upper" "$scratch/work" "$scratch/merged"
    mount -t overlay overlay \
        -o "lowerdir=$root,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/merged"
    apt_dir=$(dirname "$scratch")/apt
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
    mount --bind "$apt_dir/lists" "$scratch/merged/var/lib/apt/lists"
    mount --bind "$apt_dir/archives" "$scratch/merged/var/cache/apt/archives"
    root=$scratch/merged
    # This PID namespace'"'"'s /proc (unshare mounted one in the tree below).
    mount -t proc proc "$root/proc"
fi
# The host devices (/dev/null, /dev/urandom, /dev/pts...), recursively.
mount --rbind /dev "$root/dev"
# Fresh, empty shared memory (Chromium needs it) and /tmp, for this run only.
# The /dev/shm of the host came along with /dev, sometimes as several mounts
# stacked on one another: take those off first (in this namespace only), so
# exactly one is left; the Chromium launcher measures it and expects one.
while mountpoint -q "$root/dev/shm"; do umount "$root/dev/shm"; done
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
# The repository, read-write, as /src.
mount --bind "$repo" "$root/src"
status=0
chroot "$root" /usr/bin/env -i --chdir=/src "$@" || status=$?
exit "$status"
'
# --mount: private mount table (changes are not seen outside, nor propagated).
# --pid --fork: a new process namespace; the setup shell is its PID 1.
# --mount-proc: a /proc for that namespace, at the tree's /proc.
# --kill-child: should unshare itself be killed, its PID 1 (and so everything
#   in the namespace) is killed too, instead of running on unseen.
scratch=""
if ((ephemeral)); then
    scratch=$(mktemp -d "$distro_dir/scratch.XXXXXX")
    trap '"${sudo[@]}" rm -rf --one-file-system "$scratch"' EXIT
fi
status=0
"${sudo[@]}" unshare --mount --pid --fork --kill-child --mount-proc="$rootfs/proc" \
    /bin/bash -c "$setup" in-debian "$rootfs" "$repo" "$scratch" "${environment[@]}" "$@" 9>&- \
    || status=$?
exit "$status"
