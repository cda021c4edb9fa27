#!/usr/bin/env bash
# Generates Pixy's icons with `tauri icon` from the one source image, icons/pixy.svg, into DIR:
# every hicolor size Linux menus look up (16 to 512 px), and the macOS and Windows icon files.
# `make icons` writes them into icons/ (they are committed: the window embeds one when it is
# compiled); the package test regenerates them elsewhere and checks they match.
set -euo pipefail
out=${1:?usage: packaging/icons.sh DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tauri() { npm --prefix "$repo/ui" exec --no -- tauri "$@" >/dev/null 2>&1; }
tauri icon "$repo/icons/pixy.svg" -o "$work"
tauri icon "$repo/icons/pixy.svg" -o "$work" --png 16,22,24,48,96,256
mkdir -p "$out"
for size in 16 22 24 32 48 64 96 128 256; do
	cp "$work/${size}x${size}.png" "$out/"
done
cp "$work/icon.png" "$work/icon.icns" "$work/icon.ico" "$out/"
