#!/bin/sh
# The HA campaign in real mode, long run (issue 15 item 2; docs/ha-campaign.md, "Real mode"):
# HA_REAL_SCHEDULES schedules (default 2000) against real drbd-reactor daemons on the
# simulator, release build, in batches of HA_REAL_BATCH seeds (default 200) per test process
# (each batch starts fresh: a simulator server's threads live as long as its process).
# Prints each batch's figures, every failed schedule (seed, steps, violations) and the sums.
# HA_REAL_FIRST_SEED (default 1) and HA_REAL_JOBS (clusters at once, default 3) pass through.
# Exits 1 if any schedule failed.
set -eu
cd "$(dirname "$0")/.."
total=${HA_REAL_SCHEDULES:-2000}
batch=${HA_REAL_BATCH:-200}
first=${HA_REAL_FIRST_SEED:-1}
export CARGO_INCREMENTAL=0
# Built once, then the test binary runs directly: edits made while it runs change nothing.
cargo build --release -p drbd-reactor --bin drbd-reactor
case ${CARGO_TARGET_DIR:-target} in
/*) DRBD_REACTOR_BIN=$CARGO_TARGET_DIR/release/drbd-reactor ;;
*) DRBD_REACTOR_BIN=$(pwd)/${CARGO_TARGET_DIR:-target}/release/drbd-reactor ;;
esac
export DRBD_REACTOR_BIN
exe=$(cargo test --release -p drbd-sim --test ha_real --no-run 2>&1 |
    sed -n 's/.*Executable tests\/ha_real.rs (\(.*\))$/\1/p')
[ -x "$exe" ] || { echo "ha-real.sh: cannot find the test binary" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
started=$(date +%s)
seed=$first
end=$((first + total))
status=0
: > "$out.all"
while [ "$seed" -lt "$end" ]; do
    n=$batch
    if [ $((end - seed)) -lt "$n" ]; then n=$((end - seed)); fi
    if ! HA_REAL_SCHEDULES=$n HA_REAL_FIRST_SEED=$seed \
        "$exe" real_daemons --nocapture \
        > "$out" 2>&1; then
        status=1
        # The failed schedules as the test printed them (seed, steps, violations).
        sed -n '/^seed [0-9]* (replay/,/^$/p' "$out"
    fi
    grep '^ha-real:' "$out" | tee -a "$out.all" || { echo "batch from seed $seed printed no figures:"; tail -20 "$out"; status=1; }
    seed=$((seed + n))
done
wall=$(( $(date +%s) - started ))
# Sums of the batches' lines: "ha-real: N schedules (...), S fault steps, X samples,
# R operator repairs, F failed [seeds], ..."
awk -v wall="$wall" '
    { sched += $2; steps += $6; samples += $9; repairs += $11; failed += $14
      if (match($0, /\[[0-9, ]+\]/)) seeds = seeds " " substr($0, RSTART, RLENGTH) }
    END { printf "ha-real total: %d schedules, %d fault steps, %d samples, %d operator repairs, %d failed%s, wall %d s\n",
          sched, steps, samples, repairs, failed, (failed ? " (seeds" seeds ")" : ""), wall }
' "$out.all"
rm -f "$out.all"
exit $status
