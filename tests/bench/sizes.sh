#!/usr/bin/env bash
# What a person downloads and installs, against the budgets: the release window binary under
# 15 MiB, the `pixy` CLI under 10 MiB, the .deb under 5 MiB. Beside them, the same build of the
# minimal Tauri window the window bench compares with (tests/bench/minimal-window), built with the
# same release profile. Builds the packages first when the current version's are missing. Exits
# non-zero when a budget is exceeded.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pixy/target}"
release="$CARGO_TARGET_DIR/release"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -n1)"
deb="$release/bundle/deb/Pixy_${version}_$(dpkg --print-architecture).deb"

if [[ ! -f "$deb" || ! -x "$release/pixy" || ! -x "$release/pixy-desktop" ]]; then
    make -C "$here" --no-print-directory package
fi

mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.2f", b / 1048576 }'; }
failed=0
check() { # NAME FILE BUDGET_MIB
    local size
    size="$(mib "$2")"
    local verdict
    verdict="$(awk -v s="$size" -v b="$3" 'BEGIN { print (s < b) ? "within" : "OVER" }')"
    printf '%-28s %8s MiB   budget %5s MiB   %s (%.0f%% of it)\n' "$1" "$size" "$3" "$verdict" \
        "$(awk -v s="$size" -v b="$3" 'BEGIN { print s / b * 100 }')"
    [[ "$verdict" == within ]] || failed=1
}

echo "== Release sizes (Pixy $version) =="
check "pixy-desktop (window)" "$release/pixy-desktop" 15
check "pixy (CLI and daemon)" "$release/pixy" 10
check "$(basename "$deb")" "$deb" 5

minimal="$release/minimal-window"
if [[ -x "$minimal" ]]; then
    printf '%-28s %8s MiB   (the minimal Tauri window as the window bench built it; ratio %.2fx)\n' "minimal-window" \
        "$(mib "$minimal")" "$(awk -v a="$(stat -c %s "$release/pixy-desktop")" -v b="$(stat -c %s "$minimal")" 'BEGIN { print a / b }')"
fi
exit "$failed"
