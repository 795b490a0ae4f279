#!/usr/bin/env bash
# Instructions per WebSocket connection set-up (accept, guard, upgrade, QWebSocket, session,
# hub, greeting), counted with callgrind: the server runs under valgrind, the counters are
# zeroed once it listens, N connections are opened by the load generator (idle mode, which
# waits for each greeting), and the counters are dumped while the N are still held, so
# start-up, shut-down and closing are not in the figure.
#
#   bench/profile-connect.sh BUILD_DIR [N] [OUT]    (default N=500, OUT=callgrind.connect)
#
# Prints the total instructions divided by N; the dump (OUT) is for callgrind_annotate.
set -euo pipefail
build=${1:?usage: bench/profile-connect.sh BUILD_DIR [N] [OUT]}
n=${2:-500}
out=${3:-callgrind.connect}
work=$(mktemp -d)
trap 'kill "${loadgen:-}" "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
    "$build/bin/switchboard" --no-gui --host 127.0.0.1 --port 0 --idle-timeout 0 \
    >"$work/stdout" 2>"$work/stderr" &
server=$!
until port=$(grep -oE '127\.0\.0\.1:[0-9]+' "$work/stdout" | head -1 | cut -d: -f2) \
        && [ -n "$port" ]; do
    sleep 0.2
done
sleep 1
fds() { find "/proc/$server/fd" -mindepth 1 | wc -l; }
base=$(fds)
callgrind_control --zero "$server" >/dev/null 2>&1
"$build/bin/switchboard-loadgen" idle --port "$port" --connections "$n" --settle 0 --hold 600 \
    --connect-timeout 600 >"$work/loadgen" 2>&1 &
loadgen=$!
until [ "$(fds)" -ge $((base + n)) ]; do sleep 0.5; done
sleep 3 # the last greetings
callgrind_control --dump "$server" >/dev/null 2>&1
sleep 1
total=$(callgrind_annotate "$out".* 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "instructions: $total over $n connections: $((total / n)) per connection"
