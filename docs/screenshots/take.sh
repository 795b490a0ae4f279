#!/bin/bash
# Makes the README's console screenshots from the real binary: starts Xvfb, the
# console, a few WebSocket and channels clients, selects a session and a topic, takes the shots, and
# stops what it started (by PID).
#
#   docs/screenshots/take.sh [build/bin/switchboard]
#
# Needs xvfb, xdotool, imagemagick (import, convert) and python3-websockets.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
binary=$(realpath "${1:-$here/../../build/bin/switchboard}")
port=${SCREENSHOT_PORT:-47123}
display=${SCREENSHOT_DISPLAY:-:93}
seconds=${SCREENSHOT_SECONDS:-75}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY=$display
# Wait for the X server (slow on a loaded machine), for 30 s at most.
for _ in $(seq 300); do xdotool getmouselocation >/dev/null 2>&1 && break; sleep 0.1; done
xdotool getmouselocation >/dev/null || { echo "Xvfb did not start on $display" >&2; exit 1; }

# A settings folder of its own: the default window size, no remembered address.
export XDG_CONFIG_HOME=$work/config XDG_RUNTIME_DIR=$work/run
mkdir -m 700 -p "$XDG_RUNTIME_DIR"
"$binary" --host 127.0.0.1 --port "$port" --deflate --deflate-threshold 64 \
    --ping-interval 2 >"$work/switchboard.log" 2>&1 &
pids+=($!)
window=$(xdotool search --sync --name '^Switchboard')

/usr/bin/python3 "$here/clients.py" "$port" "$seconds" >"$work/clients.log" 2>&1 &
pids+=($!)
sleep "$seconds"

# Select the second row (a chat.v1 session): its details fill the pane.
xdotool mousemove --window "$window" 200 132 click 1
sleep 5
# Park the pointer over the chart: its tooltip names that second's values.
xdotool mousemove --window "$window" 880 265
sleep 2

# From the root window, cropped to the console: the tooltip is a window of its own.
eval "$(xdotool getwindowgeometry --shell "$window")"
import -window root -crop "${WIDTH}x${HEIGHT}+${X}+${Y}" +repage "$work/full.png"
convert "$work/full.png" -strip -colors 256 -define png:compression-level=9 "$here/console.png"
# The chart and the detail pane at full size, for the README's close-up.
convert "$work/full.png" -crop "$((WIDTH - 558))x437+558+225" +repage -strip -colors 256 \
    -define png:compression-level=9 "$here/detail-pane.png"
# The Topics tab, room:lobby (the second row: device:42 sorts first) selected:
# presence beside the table.
xdotool mousemove --window "$window" 138 70 click 1
sleep 1
xdotool mousemove --window "$window" 100 130 click 1
sleep 2
import -window root -crop "${WIDTH}x226+${X}+${Y}" +repage "$work/topics.png"
convert "$work/topics.png" -strip -colors 256 -define png:compression-level=9 "$here/topics.png"
echo "wrote $here/console.png, $here/detail-pane.png and $here/topics.png"
