#!/usr/bin/env bash
# `npm ci` in a directory, with one narrow fallback.
#
#   tests/support/npm-ci.sh DIR
#
# npm 11's `npm ci` insists that every optional platform package a dependency names (rollup's and
# the Tauri CLI's builds for other systems) is in the lock file. A registry that does not serve
# some of those versions makes `npm install` leave them out of the lock, and `npm ci` then refuses
# it with "Missing: NAME@ from lock file" (no version). Only in that case, and only when every
# complaint is of that kind, the locked versions are installed with `npm install --no-save`, which
# leaves the lock file as it is (checked). Any other `npm ci` failure, such as a lock file out of
# date with package.json, fails as it should.
set -euo pipefail

dir="${1:?usage: npm-ci.sh DIR}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if npm --prefix "$dir" ci --no-audit --no-fund >"$log" 2>&1; then
    cat "$log"
    exit 0
fi
cat "$log" >&2

missing="$(grep -E '^npm (error|ERR!) Missing: ' "$log" || true)"
if [[ -z "$missing" ]] || grep -qvE '^npm (error|ERR!) Missing: [^ ]+@ from lock file$' <<<"$missing"; then
    exit 1
fi

echo "npm-ci.sh: npm ci wants optional packages for other platforms that the registry does not" \
     "serve; installing the locked versions of $dir with npm install --no-save" >&2
before="$(sha256sum "$dir/package-lock.json")"
npm --prefix "$dir" install --no-save --no-audit --no-fund
if [[ "$(sha256sum "$dir/package-lock.json")" != "$before" ]]; then
    echo "npm-ci.sh: npm install changed $dir/package-lock.json" >&2
    exit 1
fi
# Every installed package must be the locked one.
npm --prefix "$dir" ls --all >/dev/null
