#!/usr/bin/env bash
# The wall time of `pixy token` as a script sees it: a new process that connects to the running
# daemon, which hands out a fresh token unrefreshed. Side by side, in alternation, the floor: a
# minimal C client (token-floor.c) that sends the same request and prints the token. Runs the
# release binary in a private D-Bus session with a real Secret Service, links the demo provider
# (hour-long tokens) with the scripted browser, gives both programs their grant, makes one
# untimed call of each, then times 50 of each, and stops the daemon it started.
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

floor="$tmp/token-floor"
cc -O2 -o "$floor" "$here/tests/bench/token-floor.c"
"$bin" link demo --json >/dev/null 2>&1
pid="$(cat "$XDG_RUNTIME_DIR/pixy/daemon.lock")"
account="$("$bin" status --json | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n1)"
# Each program asking has its grant, as programs in use would: this script (run by bash) for
# `pixy token`, and the floor client, which asks by itself.
"$bin" grants allow --program "$(readlink -f "$0")" --account "$account" >/dev/null
"$bin" grants allow --program "$floor" --account "$account" >/dev/null
socket="$XDG_RUNTIME_DIR/pixy/daemon.sock"
[[ "$("$bin" token demo)" == "$("$floor" "$socket" "$account")" ]] || { echo "the floor client got another answer" >&2; exit 1; }

time_ms() {
    local start=$EPOCHREALTIME
    "$@" >/dev/null
    local end=$EPOCHREALTIME
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }'
}
for _ in $(seq "$runs"); do
    time_ms "$bin" token "$account" >>"$tmp/pixy-ms"
    time_ms "$floor" "$socket" "$account" >>"$tmp/floor-ms"
done

stats() { # FILE -> "median p90"
    sort -n "$1" | awk -v runs="$runs" '{ t[NR] = $1 } END {
        printf "%.2f %.2f\n", (runs % 2) ? t[(runs + 1) / 2] : (t[runs / 2] + t[runs / 2 + 1]) / 2, t[int((runs * 9 + 9) / 10)]
    }'
}
read -r pixy_median pixy_p90 < <(stats "$tmp/pixy-ms")
read -r floor_median floor_p90 < <(stats "$tmp/floor-ms")
awk -v pm="$pixy_median" -v pp="$pixy_p90" -v fm="$floor_median" -v fp="$floor_p90" -v runs="$runs" 'BEGIN {
    printf "pixy token, daemon running, fresh token, %d runs each, in alternation with the floor client:\n", runs
    printf "  pixy token   median %.1f ms, p90 %.1f ms (goal: < 20 ms; median/goal = %.2f)\n", pm, pp, pm / 20
    printf "  floor (C)    median %.1f ms, p90 %.1f ms\n", fm, fp
    printf "  ratio to the floor: median %.2fx (goal: at most 2x)\n", pm / fm
}'
