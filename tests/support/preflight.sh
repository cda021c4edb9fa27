#!/usr/bin/env bash
# Checks the tools `make setup` cannot install itself, and says plainly what is missing and how to
# get it, before a build fails somewhere deep with a less helpful message.
#
#   tests/support/preflight.sh
#
# - cargo and rustc at least the workspace's rust-version (Cargo.toml);
# - Node.js at least 20.19 (Vite 7 needs it) with npm;
# - python3 (pytest itself is installed by `make setup`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
problems=()

# version_at_least HAVE WANT: true when dotted version HAVE >= WANT.
version_at_least() {
    [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

rust_wanted="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$root/Cargo.toml" | head -n1)"
if [[ -z "$rust_wanted" ]]; then
    problems+=("Cargo.toml names no rust-version; the check cannot tell which Rust is needed.")
fi
for tool in cargo rustc; do
    if ! command -v "$tool" >/dev/null; then
        problems+=("$tool is not on PATH. Install Rust $rust_wanted or later with rustup (https://rustup.rs), then open a new shell or run: . \"\$HOME/.cargo/env\"")
        continue
    fi
    have="$("$tool" --version | awk '{print $2}')"
    if [[ -n "$rust_wanted" ]] && ! version_at_least "${have%%-*}" "$rust_wanted"; then
        problems+=("$tool $have is older than $rust_wanted, the workspace's rust-version. Update it: rustup update stable")
    fi
done

node_wanted=20.19.0
if ! command -v node >/dev/null; then
    problems+=("node is not on PATH. Install Node.js $node_wanted or later (https://nodejs.org; Debian bookworm's own nodejs is too old).")
else
    have="$(node --version)"
    have="${have#v}"
    if ! version_at_least "$have" "$node_wanted"; then
        problems+=("node $have is older than $node_wanted, which Vite 7 needs. Install Node.js $node_wanted or later (https://nodejs.org).")
    fi
    command -v npm >/dev/null || problems+=("npm is not on PATH. It comes with Node.js; reinstall Node.js $node_wanted or later.")
fi

command -v python3 >/dev/null || problems+=("python3 is not on PATH. Install it: apt-get install python3 python3-pip")

if ((${#problems[@]} > 0)); then
    echo "setup cannot continue; these tools are missing or too old:" >&2
    for problem in "${problems[@]}"; do
        echo "  - $problem" >&2
    done
    exit 1
fi
