#!/usr/bin/env bash
# The daemon's idle memory with one linked account: RSS and PSS after 20 s of idling.
# Runs the release binary in a private D-Bus session with a real Secret Service, links the demo
# provider with the scripted browser, waits, reads /proc, and stops the daemon it started.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pixy/target}"
target="$CARGO_TARGET_DIR"
cargo build --release -p pixy-cli --quiet
bin="$target/release/pixy"

if [[ "${1:-}" != "--inside" ]]; then
    exec "$here/tests/support/with-session.sh" bash "$0" --inside
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR="$tmp/run" XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export BROWSER="$here/tests/support/approve.py"

"$bin" link demo --json >/dev/null 2>&1
pid="$(cat "$XDG_RUNTIME_DIR/pixy/daemon.lock")"
sleep 20
rss_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
pss_kib="$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")"
size_kib="$(( $(stat -c %s "$bin") / 1024 ))"
kill "$pid"
awk -v rss="$rss_kib" -v pss="$pss_kib" -v size="$size_kib" 'BEGIN {
    printf "daemon idle with 1 linked account, after 20 s: RSS %.1f MiB, PSS %.1f MiB (goal: RSS < 15 MiB; RSS/goal = %.2f)\n", rss/1024, pss/1024, rss/1024/15
    printf "release binary: %.1f MiB\n", size/1024
}'
