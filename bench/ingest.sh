#!/usr/bin/env bash
# Whole-process ingest benchmark of drbd-reactor: the release binary against a stand-in
# drbdsetup that prints generated events2 streams, with one [[debugger]] at log level info.
#
#   A: an initial dump of 10k resources (2 peers each): time from starting drbdsetup until
#      the dump is applied (the daemon logs it), and peak RSS (VmHWM).
#   B: an initial dump of 1k resources followed by 200k full change lines: lines per second
#      until every line is applied (the daemon logs the child's end after applying its
#      lines, with the time since it started), and peak RSS.
#
# Targets: A <= 50 ms, B >= 1M lines/s, peak RSS <= 30 MB. Takes well under a minute.
# Usage: bench/ingest.sh [resources-A] [resources-B] [changes-B]
# DRBD_REACTOR_BIN=path runs that binary instead of building this tree's (A/B comparisons:
# alternate two binaries, as a shared machine's speed drifts between runs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
res_a=${1:-10000}
res_b=${2:-1000}
changes_b=${3:-200000}

cd "$root"
if [[ -z ${DRBD_REACTOR_BIN:-} ]]; then
    cargo build --quiet --release -p drbd-reactor
fi
cargo build --quiet --release -p drbd --example gen-events2
bin=${DRBD_REACTOR_BIN:-$root/target/release/drbd-reactor}
gen="$root/target/release/examples/gen-events2"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The daemon's run files (config-generation, health) stay in the scratch directory.
export DRBD_REACTOR_RUN_DIR="$work/run"
mkdir "$work/bin"
cat > "$work/bin/drbdsetup" <<'STANDIN'
#!/bin/sh
# stand-in for `drbdsetup events2 --full --poll`: print the stream, then end
cat "$STREAM"
STANDIN
chmod +x "$work/bin/drbdsetup"

"$gen" dump "$res_a" 2 > "$work/a.events2"
"$gen" dump "$res_b" 2 > "$work/b.events2"
"$gen" changes "$res_b" 2 "$changes_b" >> "$work/b.events2"

# run <name> <stream>: prints "<ms-to-dump> <lines> <ms-to-end> <peak-kB>"
run() {
    local name=$1 stream=$2 log="$work/$1.log"
    printf '[[log]]\nlevel = "info"\nfile = "%s"\n\n[[debugger]]\n' "$log" > "$work/$name.toml"
    : > "$log"
    STREAM="$stream" PATH="$work/bin:$PATH" "$bin" -c "$work/$name.toml" </dev/null 2>>"$log" &
    local pid=$!
    local deadline=$((SECONDS + 60))
    until grep -q 'ended after' "$log"; do
        if (( SECONDS > deadline )); then echo "timeout; log:" >&2; cat "$log" >&2; kill "$pid"; exit 1; fi
        sleep 0.05
    done
    local hwm
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"
    wait "$pid"
    local dump_ms lines end_ms
    dump_ms=$(sed -n 's/.*dump applied \([0-9]*\) ms after.*/\1/p' "$log" | head -1)
    lines=$(sed -n 's/.*ended after \([0-9]*\) lines.*/\1/p' "$log" | head -1)
    end_ms=$(sed -n 's/.*(\([0-9]*\) ms after it started, all its lines applied).*/\1/p' "$log" | head -1)
    echo "$dump_ms $lines $end_ms $hwm"
}

read -r a_dump a_lines a_end a_hwm < <(run a "$work/a.events2")
read -r b_dump b_lines b_end b_hwm < <(run b "$work/b.events2")
b_rate=$(( b_lines * 1000 / (b_end > 0 ? b_end : 1) ))

printf 'A  initial dump of %d resources (%d lines): applied in %d ms (target <= 50 ms), peak RSS %d kB\n' \
    "$res_a" "$a_lines" "$a_dump" "$a_hwm"
printf 'B  %d resources + %d change lines (%d lines): %d ms, %d lines/s (target >= 1000000), peak RSS %d kB\n' \
    "$res_b" "$changes_b" "$b_lines" "$b_end" "$b_rate" "$b_hwm"
printf 'peak RSS target <= 30720 kB\n'
