#!/usr/bin/env bash
# Renders switchboard.svg to the PNG sizes desktops look up (hicolor theme), into
# packaging/icons/NxN/switchboard.png, and the 256 px one to resources/icons/, the
# console's window icon. The PNGs are committed; run this after changing the SVG.
# Needs rsvg-convert (Debian librsvg2-bin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# Keep in step with SWITCHBOARD_ICON_SIZES in cmake/Packaging.cmake.
sizes=(16 22 24 32 48 64 128 256)
for size in "${sizes[@]}"; do
    mkdir -p "${size}x${size}"
    rsvg-convert --width "$size" --height "$size" switchboard.svg -o "${size}x${size}/switchboard.png"
done
cp 256x256/switchboard.png ../../resources/icons/switchboard.png
echo "rendered ${sizes[*]} px from switchboard.svg"
