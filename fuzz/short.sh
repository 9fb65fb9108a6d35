#!/usr/bin/env bash
# A short run of every cargo-fuzz target (issue 15 item 3, short form): builds them once, then
# runs each for FUZZ_SECONDS (default 6) from its seeds in fuzz/seeds/<target> (kept in the
# repository) plus a scratch corpus. Fails on the first crash or broken assertion; the input
# that did it is left in fuzz/artifacts/<target>/ (turn it into a regression test).
# Longer runs: FUZZ_SECONDS=3600 fuzz/short.sh, or one target as in its file's comment.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-6}
# cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
# Safe Rust: the targets look for panics and broken invariants, not memory errors, so no
# sanitizer (builds and runs several times faster).
flags=(-O -s none)
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
cargo fuzz build "${flags[@]}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
targets=$(cargo fuzz list)
if [[ -z $targets ]]; then
    echo "cargo fuzz list found no target" >&2
    exit 1
fi
for target in $targets; do
    mkdir -p "$scratch/$target" "seeds/$target"
    echo "== fuzz $target (${seconds}s)"
    log="$scratch/$target.log"
    if ! cargo fuzz run "${flags[@]}" "$target" "$scratch/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed (input in fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    grep -E '^Done [0-9]+ runs' "$log" || tail -n 1 "$log"
done
