#!/usr/bin/env bash
# The ten largest crates in each release binary, by the code they put there (cargo-bloat). The
# binaries are built with the release profile but unstripped (cargo-bloat reads the symbols), in a
# target directory of their own so the stripped release build is left as it is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="${CARGO_TARGET_DIR:-$HOME/.cache/pixy/target}"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
[[ -x "$cargo_bin/cargo-bloat" ]] || env -u CARGO_TARGET_DIR cargo install cargo-bloat --locked
cd "$here"
export CARGO_TARGET_DIR="$base-bloat" CARGO_PROFILE_RELEASE_STRIP=false
for spec in "pixy-cli pixy" "pixy-desktop pixy-desktop"; do
    read -r package binary <<<"$spec"
    echo "== The ten largest crates in $binary =="
    cargo bloat --release --quiet -p "$package" --bin "$binary" --crates -n 10
done
