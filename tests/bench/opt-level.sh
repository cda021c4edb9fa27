#!/usr/bin/env bash
# Whether the release profile's opt-level "s" costs speed. The core benchmarks (a PKCE pair, the
# loopback receiver taking a callback, a fresh access token handed out over the socket), built
# at opt-level "s" (the release profile) and at 3, side by side in one run. Each level builds in its own target directory beside the main one, so neither evicts the
# other's artifacts and a second run is incremental.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="${CARGO_TARGET_DIR:-$HOME/.cache/pixy/target}"
cd "$here"

for level in s 3; do
    export CARGO_TARGET_DIR="$base-opt-$level" CARGO_PROFILE_RELEASE_OPT_LEVEL="$level" \
        CARGO_PROFILE_BENCH_OPT_LEVEL="$level"
    # The access-token bench runs the daemon's code in-process; no keyring needed. The receiver
    # bench prints its own percentiles, kept per level.
    cargo bench --quiet -p pixy-core --bench pkce --bench access_token -- --noplot >/dev/null
    cargo bench --quiet -p pixy-core --bench receiver >"$CARGO_TARGET_DIR/receiver-bench.txt"
done

median_ns() { # TARGET BENCH_PATH -> the median in ns
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
        "$1/criterion/$2/new/estimates.json"
}
echo "== opt-level \"s\" against 3 (criterion medians) =="
for bench in $(cd "$base-opt-s/criterion" && find . -path '*/new/estimates.json' | sed 's|^\./||; s|/new/estimates.json$||' | sort); do
    s="$(median_ns "$base-opt-s" "$bench")"
    three="$(median_ns "$base-opt-3" "$bench")"
    awk -v b="$bench" -v s="$s" -v t="$three" 'BEGIN { printf "%-36s s %10.0f ns   3 %10.0f ns   s/3 %.2fx\n", b, s, t, s / t }'
done
for level in s 3; do
    echo "-- the loopback receiver at opt-level \"$level\""
    cat "$base-opt-$level/receiver-bench.txt"
done
