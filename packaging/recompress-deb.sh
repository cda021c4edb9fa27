#!/usr/bin/env bash
# Re-packs a .deb the Tauri bundler wrote (gzip, which it does not let one change) with xz at its
# best level, dpkg-deb's own default compression: the same members, modes and contents, about a
# third smaller. The listing of the result is compared with the original's before it replaces it.
set -euo pipefail
deb=${1:?usage: packaging/recompress-deb.sh PACKAGE.deb}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -R "$deb" "$work/root"
dpkg-deb --root-owner-group -Zxz -z9 -b "$work/root" "$work/new.deb" >/dev/null
# Mode, owner, size and path of every member, written alike whichever tar wrote them (the bundler
# writes `0/0 usr/bin/x`, dpkg-deb `root/root ./usr/bin/x` and the root itself); dates are left out.
listing() {
	dpkg-deb -c "$1" | awk '{
		owner = ($2 == "root/root") ? "0/0" : $2
		path = $6; sub(/^\.\//, "", path); sub(/\/$/, "", path)
		if (path != "" && path != ".") print $1, owner, $3, path
	}' | sort
}
if ! cmp -s <(listing "$deb") <(listing "$work/new.deb"); then
	echo "recompress-deb: the re-packed $deb would differ from the original; left as it was" >&2
	diff <(listing "$deb") <(listing "$work/new.deb") >&2 || true
	exit 1
fi
cmp -s <(dpkg-deb -I "$deb" control) <(dpkg-deb -I "$work/new.deb" control)
mv "$work/new.deb" "$deb"
