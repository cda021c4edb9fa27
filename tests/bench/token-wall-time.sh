#!/usr/bin/env bash
# The wall time of `pixy token` as a script sees it: a new process that connects to the running
# daemon, which reads the token from the keyring (every call does) and hands it out unrefreshed.
# Runs the release binary in a private D-Bus session with a real Secret Service, links the demo
# provider (hour-long tokens) with the scripted browser, makes one untimed call, then times 50,
# and stops the daemon it started.
set -euo pipefail
export LC_ALL=C  # a "." in $EPOCHREALTIME, whatever the locale
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$HOME/.cache/pixy/target}"
bin="$target/release/pixy"
runs=50

if [[ "${1:-}" != "--inside" ]]; then
    (cd "$here" && CARGO_TARGET_DIR="$target" cargo build --release -p pixy-cli --quiet)
    exec "$here/tests/support/with-session.sh" bash "$0" --inside
fi

tmp="$(mktemp -d)"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
export XDG_RUNTIME_DIR="$tmp/run" XDG_CONFIG_HOME="$tmp/config" XDG_STATE_HOME="$tmp/state"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export BROWSER="$here/tests/support/approve.py"

"$bin" link demo --json >/dev/null 2>&1
pid="$(cat "$XDG_RUNTIME_DIR/pixy/daemon.lock")"
"$bin" token demo >/dev/null

times="$tmp/times-ms"
for _ in $(seq "$runs"); do
    start=$EPOCHREALTIME
    "$bin" token demo >/dev/null
    end=$EPOCHREALTIME
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }' >>"$times"
done

sort -n "$times" | awk -v runs="$runs" '{ t[NR] = $1 } END {
    median = (runs % 2) ? t[(runs + 1) / 2] : (t[runs / 2] + t[runs / 2 + 1]) / 2
    p90 = t[int((runs * 9 + 9) / 10)]
    printf "pixy token, daemon running, fresh token read from the keyring, %d runs: ", runs
    printf "median %.1f ms, p90 %.1f ms (goal: < 20 ms; median/goal = %.2f)\n", median, p90, median / 20
}'
