#!/usr/bin/env bash
# The daemon's idle memory: with one linked account; then, side by side in the same run, what the
# consent and audit state of a long-used machine (100 grants, a 100,000-line audit log) adds,
# after a handout through a grant and a read of the latest use (as the window asks for it). RSS
# and PSS after 20 s of idling each time. Runs the release binary in a private D-Bus session with a real
# Secret Service, links the demo provider with the scripted browser, reads /proc, and stops the
# daemons it started.
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

measure() { # -> "RSS_KiB PSS_KiB" of the running daemon after 20 s
    local pid
    pid="$(cat "$XDG_RUNTIME_DIR/pixy/daemon.lock")"
    sleep 20
    echo "$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status") $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")"
}

"$bin" link demo --json >/dev/null 2>&1
account="$("$bin" status --json | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n1)"
read -r rss0 pss0 < <(measure)
"$bin" daemon --stop >/dev/null

# Side by side, the same work on two states: a fresh one (one grant, no audit line) and a
# long-used one (100 grants, 100,000 audit lines). Each time a daemon starts, hands this script
# a token through its grant, answers the window's question for the latest use, then idles.
script="$(readlink -f "$0")"
state() { # GRANTS AUDIT_LINES
    python3 - "$XDG_CONFIG_HOME/pixy/grants.json" "$XDG_STATE_HOME/pixy/audit.log" "$account" "$script" "$1" "$2" <<'PY'
import json, sys
grants_path, audit_path, account, script, grants, lines = sys.argv[1:]
kept = [{"program": f"/opt/agents/agent-{n}", "account": account, "granted_at": 1_700_000_000, "last_used": None}
        for n in range(int(grants) - 1)] + [{"program": script, "account": account, "granted_at": 1_700_000_000}]
json.dump({"version": 1, "grants": kept}, open(grants_path, "w"))
with open(audit_path, "w") as log:
    for n in range(int(lines)):
        log.write(json.dumps({"time": 1_700_000_000 + n, "outcome": "handed_out", "account": account,
                              "program": f"/opt/agents/agent-{n % 99}", "pid": 1000 + n, "grant": "program"}) + "\n")
PY
}
work() {
    "$bin" token "$account" >/dev/null
    python3 - "$XDG_RUNTIME_DIR/pixy/daemon.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"method":"activity","limit":200}\n')
answer = json.loads(s.makefile().readline())
assert answer["event"] == "activity" and answer["entries"], answer.get("event")
PY
}
state 1 0
work
read -r rss1 pss1 < <(measure)
"$bin" daemon --stop >/dev/null
state 100 100000
work
read -r rss2 pss2 < <(measure)
lines="$(wc -l <"$XDG_STATE_HOME/pixy/audit.log")"
"$bin" daemon --stop >/dev/null
size_kib="$(( $(stat -c %s "$bin") / 1024 ))"
awk -v rss0="$rss0" -v pss0="$pss0" -v rss1="$rss1" -v rss2="$rss2" -v pss1="$pss1" -v pss2="$pss2" -v size="$size_kib" -v lines="$lines" 'BEGIN {
    printf "daemon idle with 1 linked account, after 20 s: RSS %.1f MiB, PSS %.1f MiB (goal: RSS < 15 MiB; RSS/goal = %.2f)\n", rss0/1024, pss0/1024, rss0/1024/15
    printf "after a handout and a read of the latest use, fresh state: RSS %.1f MiB, PSS %.1f MiB\n", rss1/1024, pss1/1024
    printf "the same with 100 grants and a %d-line audit log: RSS %.1f MiB, PSS %.1f MiB; added RSS %.2f MiB (ratio %.2fx)\n", lines, rss2/1024, pss2/1024, (rss2-rss1)/1024, rss2/rss1
    printf "release binary: %.1f MiB\n", size/1024
}'
