#!/usr/bin/env bash
# Builds the .deb from the committed tree with debhelper (debian/), in a scratch copy so that
# dpkg-buildpackage writes nothing next to the working tree, reusing target/ as cargo's build
# directory. Result: target/deb/drbd-reactor_<version>_<arch>.deb (path printed last).
# Needs: debhelper, dpkg-dev, a Rust toolchain >= 1.85 on PATH. CARGO_TARGET_DIR and TMPDIR
# are honoured (e.g. both on a tmpfs when the disk is short).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/src"
# tracked files plus uncommitted changes to them (what `git archive` would miss while working)
(cd "$root" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) \
    | tar -xf - -C "$scratch/src"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
(cd "$scratch/src" && dpkg-buildpackage -b -us -uc -jauto >"$scratch/build.log" 2>&1) || {
    tail -40 "$scratch/build.log" >&2
    exit 1
}
mkdir -p "$root/target/deb"
rm -f "$root"/target/deb/*.deb
mv "$scratch"/*.deb "$root/target/deb/"
ls "$root"/target/deb/drbd-reactor_*.deb | grep -v dbgsym
