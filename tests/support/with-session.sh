#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with a real, unlocked Secret Service
# (gnome-keyring-daemon), the way a desktop session provides one.
#
#   tests/support/with-session.sh CMD [ARGS...]
#
# The keyring lives in a throwaway directory (never the caller's own keyrings), its "login"
# collection is created unlocked with a test password and is the default collection, so writes
# succeed without a prompt. The command's exit status is returned. Everything started here ends
# with the session.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ "${1}" != "--inside-session" ]]; then
    keyring_home="$(mktemp -d "${TMPDIR:-/tmp}/pixy-session.XXXXXX")"
    chmod 700 "$keyring_home"
    trap 'rm -rf "$keyring_home"' EXIT
    status=0
    PIXY_SESSION_KEYRING_HOME="$keyring_home" dbus-run-session -- "$here/with-session.sh" --inside-session "$@" \
        || status=$?
    exit "$status"
fi
shift

: "${DBUS_SESSION_BUS_ADDRESS:?not inside a D-Bus session}"
home="${PIXY_SESSION_KEYRING_HOME:?}"
unset PIXY_SESSION_KEYRING_HOME
mkdir -p -m 700 "$home/data" "$home/run"

bus_has() {
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner "string:$1" 2>/dev/null | grep -q 'boolean true'
}

# Own data and runtime dirs for the keyring daemon: it must neither open the caller's keyrings nor
# take over the control socket of a keyring daemon the caller's desktop may already run.
printf %s pixy-test-password | XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run" \
    gnome-keyring-daemon --foreground --unlock --components=secrets >"$home/keyring.out" 2>"$home/keyring.err" &
keyring_pid=$!

cleanup() {
    kill "$keyring_pid" 2>/dev/null || true
    wait "$keyring_pid" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 100); do
    bus_has org.freedesktop.secrets && break
    if ! kill -0 "$keyring_pid" 2>/dev/null; then
        echo "with-session.sh: gnome-keyring-daemon exited:" >&2
        cat "$home/keyring.err" >&2
        exit 1
    fi
    sleep 0.1
done
if ! bus_has org.freedesktop.secrets; then
    echo "with-session.sh: the Secret Service did not appear on the session bus" >&2
    cat "$home/keyring.err" >&2
    exit 1
fi

# The "login" collection is created by --unlock; make sure it is the default alias and unlocked,
# then prove a write and a read work without a prompt.
login=/org/freedesktop/secrets/collection/login
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
    org.freedesktop.Secret.Service.SetAlias string:default "objpath:$login" >/dev/null
probe="probe-$$-$RANDOM"
printf %s "$probe" | secret-tool store --label='pixy session probe' pixy-session-probe "$$"
if [[ "$(secret-tool lookup pixy-session-probe "$$")" != "$probe" ]]; then
    echo "with-session.sh: the Secret Service does not store and return a secret" >&2
    exit 1
fi
secret-tool clear pixy-session-probe "$$"

status=0
"$@" || status=$?
exit "$status"
