#!/usr/bin/env bash
# Whole-process benchmark of drbd-reactor with every plugin on (issue 18): the release daemon
# with [[log]] at info, one [[debugger]], five umh rules, prometheus with enums, agentx (a real
# snmpd as AgentX master on loopback) and one [[promoter]] (shell runner, stand-in drbdadm and
# drbdsetup). Three daemon runs per binary and round:
#
#   rate  1k resources x 2 peers, then (the plugins started) 200k change lines at once: lines
#         per second from sending them until a umh rule on the line after them ran.
#   big   10k x 2 dump: dump applied (ms); peak RSS (VmHWM) after it and, after one statistics
#         poll (below), before the first scrape. Then a
#         plain-only client: the first scrape (renders every piece) and the peak RSS after it,
#         the same state again (the
#         transfer alone), a scrape after every resource changed (the counters of a statistics
#         poll: 30k device and peer-device lines) and the
#         peak RSS after it, after one resource changed (median of 3); then a gzip-only client
#         (as Prometheus) the same way, and the resident memory once the plain pieces are gone;
#         the transfer floors: the same two bodies from a minimal server (bench/all-plugins/
#         body-floor.c) with the same curl, and what each scrape after a change takes over
#         its floor (the daemon's own share: snapshot, render, assembly, framing);
#         a burst of 100 concurrent gzip scrapes (wall ms); the time the core takes to apply
#         such a poll (sent -> a umh barrier rule's command ran) without and during a burst.
#         Scrapes after a change find the previous state's pieces cached, as every scrape but
#         a daemon's first does.
#   lat   event -> umh command start and event -> the promoter's first start command (a line
#         written by the stand-in drbdsetup, CLOCK_MONOTONIC read right before; the command's
#         first act is reading that clock), against the spawn floor: the stand-in itself (a
#         minimal C program) posix_spawn-ing the same `sh -c`, interleaved probe for probe with
#         the daemon's, idle and while the core applies 100k lines/s (the stand-in paces
#         filler lines in 1 ms batches).
#
# Binary A: this tree's (built here) or $DRBD_REACTOR_BIN; binary B: $DRBD_REACTOR_BIN_B (unset:
# only A runs). A and B alternate run for run, in the order A B, B A, A B ... (each first in
# half the rounds), $ROUNDS rounds (default 3); each figure is printed as the median over the
# rounds per binary (latencies: median and p99 of all samples pooled) with the ratio B/A and
# the target. Takes about 2-3 minutes with B.
# Needs gcc, curl and snmpd (installed with apt-get when missing and root, as .ci/run does).
#
# Usage: bench/all-plugins.sh        Environment: ROUNDS, PROBES (umh, default 60),
#        PROMO_PROBES (default 40), DRBD_REACTOR_BIN, DRBD_REACTOR_BIN_B, KEEP=1 (keep scratch),
#        KINDS (default "rate big lat": the runs to do), LOG_LEVEL (the daemon's, default info;
#        debug shows, per rendered body, where its time went)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
probes=${PROBES:-60}
# 40 per run: a p99 of 80 pooled samples (20 per run, 4 rounds) was the single worst one.
promo_probes=${PROMO_PROBES:-40}
big_res=10000
rate_res=1000
rate_changes=200000
load_rate=100000
gap_us=20000
kinds=${KINDS:-rate big lat}

need_pkg() { # need_pkg <command> <debian package>
    command -v "$1" >/dev/null 2>&1 && return
    if [[ $(id -u) != 0 ]]; then echo "missing '$1' (Debian package $2)" >&2; exit 1; fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need_pkg snmpd snmpd
need_pkg curl curl
need_pkg gcc gcc

cd "$root"
if [[ -z ${DRBD_REACTOR_BIN:-} ]]; then
    cargo build --quiet --release -p drbd-reactor
fi
cargo build --quiet --release -p drbd --example gen-events2
bin_a=${DRBD_REACTOR_BIN:-$root/target/release/drbd-reactor}
bin_b=${DRBD_REACTOR_BIN_B:-}
gen="$root/target/release/examples/gen-events2"

work=$(mktemp -d)
# The daemon's run directory is on tmpfs, as /run is where it runs as a service (the promoter's
# start record is written before its first command: on a disk file system that costs a
# journaled create, 0.1 ms here, that production does not pay).
if [[ -d /dev/shm ]]; then run_base=$(mktemp -d /dev/shm/drbd-reactor-bench.XXXXXX); else run_base=$work/run; fi
# The PATH systemd gives services, after the stand-ins: commands are looked up as in production
# (a developer's PATH has more directories to try before /usr/bin/sh).
service_path="$work/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
daemon_pid="" snmpd_pid=""
cleanup() {
    [[ -n $daemon_pid ]] && kill -KILL "$daemon_pid" 2>/dev/null
    [[ -n $snmpd_pid ]] && kill -TERM "$snmpd_pid" 2>/dev/null
    rm -rf "$run_base"
    if [[ -n ${KEEP:-} ]]; then echo "scratch kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
tools="$work/tools"
mkdir -p "$tools" "$work/bin"
for t in feeder stamp body-floor; do
    gcc -O2 -o "$tools/$t" "$root/bench/all-plugins/$t.c"
done
stamp="$tools/stamp"

# --- stand-ins -------------------------------------------------------------------------------
cat > "$work/bin/drbdsetup" <<EOF
#!/bin/sh
case "\$*" in
*events2*) exec "$tools/feeder" ;;
show*) for a; do res=\$a; done
    printf '[{"resource":"%s","_this_host":{"node-id":0,"volumes":[]},"options":{"quorum":"majority","on-no-quorum":"io-error","auto-promote":false,"on-suspended-primary-outdated":"force-secondary","on-no-data-accessible":"io-error"},"connections":[{"_peer_node_id":1,"net":{"rr-conflict":"retry-connect","fencing":"dont-care"}}]}]\n' "\$res" ;;
esac
EOF
cat > "$work/bin/drbdadm" <<'EOF'
#!/bin/sh
case "$1" in
--version) printf 'DRBDADM_BUILDTAG=bench\nDRBDADM_API_VERSION=2\nDRBD_KERNEL_VERSION_CODE=0x090200\nDRBD_KERNEL_VERSION=9.2.0\nDRBDADM_VERSION_CODE=0x091d00\nDRBDADM_VERSION=9.29.0\n' ;;
sh-ll-dev) echo /dev/bench-backing ;;
esac
EOF
chmod +x "$work/bin/drbdsetup" "$work/bin/drbdadm"

# --- streams ---------------------------------------------------------------------------------
promo_resources=$((2 * promo_probes))
# The resources the plugins act on: lat-umh (probe rule), lat-sync (barrier rule), lat-pK
# (the promoter's); all Secondary, may_promote:no, one connected Secondary peer.
lat_block() {
    local names=(lat-umh lat-sync) i r minor=60000
    for ((i = 0; i < promo_resources; i++)); do names+=("lat-p$i"); done
    for r in "${names[@]}"; do
        minor=$((minor + 1))
        echo "exists resource name:$r role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10103"
        echo "exists connection name:$r peer-node-id:1 conn-name:peer connection:Connected role:Secondary congested:no ap-in-flight:0 rs-in-flight:0"
        echo "exists device name:$r volume:0 minor:$minor backing_dev:/dev/bench-backing disk:UpToDate client:no open:no quorum:yes size:1048576 read:0 written:0 al-writes:0 bm-writes:0 upper-pending:0 lower-pending:0 al-suspended:no blocked:no"
        echo "exists peer-device name:$r peer-node-id:1 conn-name:peer volume:0 replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no received:0 sent:0 out-of-sync:0 pending:0 unacked:0"
    done
}
dump_with_lat() { # dump_with_lat <resources>: generated dump with the lat block before `exists -`
    "$gen" dump "$1" 2 | sed '$d'
    lat_block
    echo "exists -"
}
dump_with_lat "$big_res" > "$work/big.events2"
dump_with_lat "$rate_res" > "$work/rate.events2"
"$gen" changes "$rate_res" 2 "$rate_changes" > "$work/changes.events2"
"$gen" changes "$rate_res" 2 20000 7 > "$work/filler.events2"
barrier_seq=50000
# batch_all <name> <k>: what a statistics poll prints for every resource of the big dump (its
# device's read/written/al-writes and its peer devices' received/sent move by k), then the
# barrier line.
batch_all() {
    barrier_seq=$((barrier_seq + 1))
    awk -v k="$2" '/^exists (device|peer-device) / && !/name:lat-/ {
        sub(/^exists/, "change"); sub(/ blocked:no/, "")
        for (i = 1; i <= NF; i++) if ($i ~ /^(read|written|al-writes|received|sent):/) {
            split($i, a, ":"); $i = a[1] ":" a[2] + k }
        print }' "$work/big.events2" > "$work/$1"
    barrier_line "$barrier_seq" >> "$work/$1"
}
batch_one() { # batch_one <name> <k>: one device changes, then the barrier line
    barrier_seq=$((barrier_seq + 1))
    grep -m1 '^exists device ' "$work/big.events2" |
        sed -e 's/^exists/change/' -e 's/ blocked:no//' -e "s/ written:[0-9]*/ written:$2/" > "$work/$1"
    barrier_line "$barrier_seq" >> "$work/$1"
}
barrier_line() {
    echo "change resource name:lat-sync role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:$1"
}

# --- snmpd as AgentX master ------------------------------------------------------------------
# Below the kernel's ephemeral range (32768-60999): a port there can be the local end of an
# outgoing connection (the AgentX session, a scrape), which a connect test does not see; the
# endpoint's bind then failed ("Address already in use") and a run ended at its first scrape.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
ax_port=$(free_port)
mkdir "$work/snmpd"
printf 'master agentx\nagentXSocket tcp:127.0.0.1:%s\nagentaddress udp:127.0.0.1:%s\nrocommunity public 127.0.0.1\n' \
    "$ax_port" "$(free_port)" > "$work/snmpd/snmpd.conf"
MIBS="" snmpd -f -Lf "$work/snmpd/log" -C -c "$work/snmpd/snmpd.conf" -p "$work/snmpd/pid" \
    >/dev/null 2>&1 &
snmpd_pid=$!

# --- one daemon run --------------------------------------------------------------------------
# start_daemon <binary> <dir> <stream> <ctl: yes|no> <resources the promoter manages>
# The rate and big runs configure one promoter resource, as an operator's single [[promoter]];
# the lat run one per promoter probe (at start each costs a `drbdsetup show` child, which on
# two cores competed with the dump: 79 ms instead of 41).
start_daemon() {
    local bin=$1 dir=$2 stream=$3 ctl=$4 promoted=$5 i
    local run_dir=$run_base/${dir##*/}
    mkdir -p "$run_dir"
    prom_port=$(free_port)
    {
        printf '[[log]]\nlevel = "%s"\nfile = "%s/daemon.log"\n\n[[debugger]]\n\n' "${LOG_LEVEL:-info}" "$dir"
        printf '[[umh]]\n'
        printf '[[umh.resource]]\nname = "probe"\ncommand = "%s %s/stamps"\nresource-name = "lat-umh"\n' "$stamp" "$dir"
        printf '[[umh.resource]]\nname = "barrier"\ncommand = "%s %s/stamps"\nresource-name = "lat-sync"\n' "$stamp" "$dir"
        printf '[[umh.resource]]\nname = "became primary"\ncommand = "true"\nresource-name = "lat-quiet"\nnew.role = "Primary"\n'
        printf '[[umh.device]]\nname = "quorum lost"\ncommand = "true"\nresource-name = "lat-quiet"\nold.quorum = true\nnew.quorum = false\n'
        printf '[[umh.peerdevice]]\nname = "peer"\ncommand = "true"\nresource-name = "lat-quiet"\n\n'
        printf '[[prometheus]]\naddress = "127.0.0.1:%s"\nenums = true\n\n' "$prom_port"
        printf '[[agentx]]\naddress = "127.0.0.1:%s"\n\n[[promoter]]\n' "$ax_port"
        for ((i = 0; i < promoted; i++)); do
            printf '[promoter.resources.lat-p%d]\nrunner = "shell"\nstart = ["%s %s/stamps lat-p%d"]\nadjust-resource-on-start = false\n' \
                "$i" "$stamp" "$dir" "$i"
        done
    } > "$dir/config.toml"
    : > "$dir/daemon.log"
    : > "$dir/feeder.log"
    : > "$dir/stamps"
    local ctl_path="" done_path=""
    if [[ $ctl == yes ]]; then
        ctl_path="$dir/ctl" done_path="$dir/done"
        mkfifo "$ctl_path" "$done_path"
        # Read and write: opening never blocks, and the feeder's open for writing finds a reader.
        exec 4<>"$done_path"
    fi
    LAT_FLOOR_CMD="$stamp $dir/stamps" LAT_STREAM=$stream LAT_CTL=$ctl_path LAT_DONE=$done_path LAT_LOG="$dir/feeder.log" LAT_FILLER="$work/filler.events2" \
        DRBD_REACTOR_RUN_DIR="$run_dir" DRBD_REACTOR_UNIT_DIR="$dir/units" PATH="$service_path" \
        "$bin" -c "$dir/config.toml" </dev/null 2>>"$dir/daemon.log" &
    daemon_pid=$!
    if [[ $ctl == yes ]]; then exec 3>"$ctl_path"; fi
}
stop_daemon() {
    if [[ -e /dev/fd/3 ]]; then exec 3>&- 4<&-; fi
    kill -TERM "$daemon_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$daemon_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
}
fail() { echo "all-plugins: $*; the daemon's log:" >&2; tail -20 "$dir/daemon.log" >&2; exit 1; }
# wait_log and wait_stamp poll every 0.2 s: what they wait for carries its own time (the
# daemon's log line, the stamp's clock), so a slower poll changes no figure, and a faster one
# (a grep and a sleep started every 10-20 ms) took CPU from the daemon while it applied what
# was being measured.
wait_log() { # wait_log <dir> <pattern>
    local deadline=$((SECONDS + 120))
    until grep -q "$2" "$1/daemon.log"; do
        ((SECONDS < deadline)) || fail "no '$2' in time"
        sleep 0.2
    done
}
ctl() { echo "$*" >&3; }
wait_done() { # waits until the feeder finished its next command (blocked on its FIFO, no polling)
    local line
    read -r -t 120 line <&4 || fail "the feeder did not finish a command"
}
wait_stamp() { # wait_stamp <tag>: until a command stamped <tag>
    local deadline=$((SECONDS + 60))
    until grep -q "^$1 " "$dir/stamps"; do
        ((SECONDS < deadline)) || fail "no command ran for '$1'"
        sleep 0.2
    done
}
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$daemon_pid/status"; }
scrape() { scrape_at "$prom_port" "$@"; } # scrape [curl args]: the daemon's endpoint
scrape_at() { # scrape_at <port> [curl args]: prints "<ms> <bytes>" (a failed scrape: "fail 0")
    local port=$1
    shift
    curl -s -o /dev/null -w '%{time_total} %{size_download} %{http_code}\n' "$@" "http://127.0.0.1:$port/metrics" |
        awk '$3 == 200 { printf "%.1f %d\n", $1 * 1000, $2; next } { print "fail 0" }'
}
burst() { # burst <n>: n concurrent gzip scrapes; prints how many did not answer 200
    local args=() i
    for ((i = 0; i < $1; i++)); do args+=(-o /dev/null "http://127.0.0.1:$prom_port/metrics"); done
    curl -s --no-progress-meter -Z --parallel-max "$1" -H 'Accept-Encoding: gzip' -w '%{http_code}\n' \
        "${args[@]}" 2>/dev/null | grep -vc '^200$' || true
}
now_ms() { date +%s%3N; }
fetch() { # fetch <file> [curl args]: the body as it is now, into <file> (not measured)
    curl -s -o "$1" "${@:2}" "http://127.0.0.1:$prom_port/metrics"
}
floor_scrapes() { # floor_scrapes <plain file> <gzip file>: records the transfer floors
    local port pid ms bytes i plain=() gzip=()
    port=$(free_port)
    "$tools/body-floor" "$port" "$1" "$2" &
    pid=$!
    local deadline=$((SECONDS + 10))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        ((SECONDS < deadline)) || fail "the floor server did not answer"
        sleep 0.01
    done
    # Each after the pause the daemon's scrapes after a change have (settle): on this machine
    # the same transfer took 28-50 ms after 0.15 s of sleep and 29-36 ms back to back, so a
    # floor measured back to back was lower than the one a scrape after a change meets.
    for i in 1 2 3; do
        settle
        read -r ms bytes < <(scrape_at "$port")
        plain+=("$ms")
        settle
        read -r ms bytes < <(scrape_at "$port" -H 'Accept-Encoding: gzip')
        gzip+=("$ms")
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    floor_plain=$(middle "${plain[@]}")
    floor_gzip=$(middle "${gzip[@]}")
    rec floor_plain_ms "$floor_plain"
    rec floor_gzip_ms "$floor_gzip"
}
middle() { printf '%s\n' "$@" | sort -n | sed -n 2p; } # middle <three values>: their median
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%.1f\n", a - b; else print "fail" }'; }
rec() { echo "$label $1 $2" >> "$work/figures"; } # rec <figure> <value>
send_barrier() { # send_barrier <file>: sets barrier_ms, from sending until the barrier ran
    ctl "send $work/$1 $1"
    wait_done
    wait_stamp "$barrier_seq"
    barrier_ms=$(awk -v f="$1" -v b="$barrier_seq" 'FILENAME ~ /stamps$/ && $1 == b { printf "%.1f\n", ($2 - t0) / 1e6; next }
        $1 == "send" && $2 == f { t0 = $3 }' "$dir/feeder.log" "$dir/stamps")
}

# A core before 17ca215 published snapshots itself, at most one per 100 ms: a scrape right
# after the barrier rendered the one published mid-poll (part of the change) and left the rest
# to the next scrape. Scrapes after a change wait until such a core has published the last
# one, as a scrape some time after a poll finds it (a core that is asked is not affected).
settle() { sleep 0.15; }

run_rate() {
    start_daemon "$1" "$dir" "$work/rate.events2" yes 1
    wait_log "$dir" 'dump applied'
    # The promoter's start-up commands (one per resource) are done before the lines come.
    sleep 1
    barrier_seq=$((barrier_seq + 1))
    { cat "$work/changes.events2"; barrier_line "$barrier_seq"; } > "$work/rate-changes"
    send_barrier rate-changes
    rec lines_per_s "$(awk -v n="$rate_changes" -v ms="$barrier_ms" 'BEGIN { printf "%d", n * 1000 / ms }')"
    stop_daemon
}

run_big() {
    start_daemon "$1" "$dir" "$work/big.events2" yes 1
    wait_log "$dir" 'dump applied'
    rec dump_ms "$(sed -n 's/.*dump applied \([0-9]*\) ms after.*/\1/p' "$dir/daemon.log" | head -1)"
    rec rss_after_dump_kb "$(hwm)"
    batch_all all1 1
    send_barrier all1
    rec core_batch_idle_ms "$barrier_ms"
    rec rss_before_scrape_kb "$(hwm)"
    local ms bytes i
    # A plain-only client first (as a curl or a Prometheus without compression), then a
    # gzip-only one (as Prometheus): each encoding is kept only while clients ask for it.
    # The first scrape of a daemon renders every piece (once in its life).
    read -r ms bytes < <(scrape)
    rec scrape_first_plain_ms "$ms"
    rec body_plain_kb $((bytes / 1024))
    rec rss_first_plain_kb "$(hwm)"
    # The same state again: nothing to render, the transfer of the body alone.
    read -r ms bytes < <(scrape)
    rec scrape_unchanged_plain_ms "$ms"
    fetch "$dir/body.plain"
    batch_all all2 2
    send_barrier all2
    settle
    read -r ms bytes < <(scrape)
    rec scrape_all_plain_ms "$ms"
    local all_plain=$ms
    rec rss_after_plain_kb "$(hwm)"
    local ones=()
    for i in 1 2 3; do
        batch_one one$i $((1000 + i))
        send_barrier one$i
        settle
        read -r ms bytes < <(scrape)
        ones+=("$ms")
    done
    local one_plain
    one_plain=$(middle "${ones[@]}")
    rec scrape_one_plain_ms "$one_plain"
    read -r ms bytes < <(scrape -H 'Accept-Encoding: gzip')
    rec scrape_first_gzip_ms "$ms"
    rec body_gzip_kb $((bytes / 1024))
    read -r ms bytes < <(scrape -H 'Accept-Encoding: gzip')
    rec scrape_unchanged_gzip_ms "$ms"
    fetch "$dir/body.gz" -H 'Accept-Encoding: gzip'
    # The plain client has gone: one more state for the cache to drop the plain pieces.
    batch_all all2b 7
    send_barrier all2b
    scrape -H 'Accept-Encoding: gzip' >/dev/null
    batch_all all2c 8
    send_barrier all2c
    settle
    read -r ms bytes < <(scrape -H 'Accept-Encoding: gzip')
    rec scrape_all_gzip_ms "$ms"
    local all_gzip=$ms
    ones=()
    for i in 4 5 6; do
        batch_one one$i $((1000 + i))
        send_barrier one$i
        settle
        read -r ms bytes < <(scrape -H 'Accept-Encoding: gzip')
        ones+=("$ms")
    done
    local one_gzip
    one_gzip=$(middle "${ones[@]}")
    rec scrape_one_gzip_ms "$one_gzip"
    # The same bytes from a minimal server, with the same curl: the transfer floor, and what
    # the daemon adds to it.
    floor_scrapes "$dir/body.plain" "$dir/body.gz"
    rec over_floor_all_plain_ms "$(minus "$all_plain" "$floor_plain")"
    rec over_floor_one_plain_ms "$(minus "$one_plain" "$floor_plain")"
    rec over_floor_all_gzip_ms "$(minus "$all_gzip" "$floor_gzip")"
    rec over_floor_one_gzip_ms "$(minus "$one_gzip" "$floor_gzip")"
    rec rss_gzip_only_kb "$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status")"
    rec rss_after_scrapes_kb "$(hwm)"
    batch_all all3 3
    send_barrier all3
    local t0
    t0=$(now_ms)
    local failed
    failed=$(burst 100)
    rec burst100_gzip_ms $(($(now_ms) - t0))
    rec burst100_not_200 "$failed"
    batch_all all4 4
    send_barrier all4
    rec core_batch_idle_ms "$barrier_ms"
    batch_all all5 5
    burst 100 >/dev/null &
    local burst_pid=$!
    sleep 0.05
    send_barrier all5
    rec core_batch_during_burst_ms "$barrier_ms"
    wait "$burst_pid"
    stop_daemon
}

run_lat() {
    start_daemon "$1" "$dir" "$work/rate.events2.lat" yes "$promo_resources"
    wait_log "$dir" 'dump applied'
    # Let the promoter finish its start-up commands for every resource.
    sleep 1
    ctl "probe floor,umh,promo idle $probes $gap_us 0 $promo_probes"; wait_done
    ctl "probe floor,umh,promo loaded $probes $gap_us $load_rate $promo_probes"; wait_done
    sleep 0.2
    # Samples: "<binary> <set> <microseconds>" (t0 from the feeder or floor, t1 from the stamp).
    awk -v who="$label" 'FILENAME ~ /stamps$/ { t1[$1] = $2; next }
        NF == 3 && $1 != "send" { set[$2] = $1; t0[$2] = $3 }
        END { for (k in set) if (k in t1) printf "%s %s %.1f\n", who, set[k], (t1[k] - t0[k]) / 1e3 }' \
        "$dir/stamps" "$dir/feeder.log" >> "$work/samples"
    local missing
    missing=$(awk 'FILENAME ~ /stamps$/ { t1[$1] = 1; next } NF == 3 && $1 != "send" && !($2 in t1) { n++ } END { print n + 0 }' \
        "$dir/stamps" "$dir/feeder.log")
    ((missing == 0)) || echo "warning: $missing probes of $label never ran their command" >&2
    stop_daemon
}
# The lat run: the 1k dump (filler resources) with the lat block, no change lines.
cp "$work/rate.events2" "$work/rate.events2.lat"

: > "$work/figures"
: > "$work/samples"
labels=(A)
[[ -n $bin_b ]] && labels+=(B)
[[ -z $bin_b ]] && echo "DRBD_REACTOR_BIN_B is not set: only binary A ($bin_a) runs, no ratios" >&2
for ((round = 1; round <= rounds; round++)); do
    # A then B in odd rounds, B then A in even ones: the binary that runs first in a round
    # showed the larger latency p99 whichever it was (two runs with the slots swapped).
    order=("${labels[@]}")
    ((round % 2 == 0 && ${#labels[@]} == 2)) && order=(B A)
    for label in "${order[@]}"; do
        bin=$bin_a
        [[ $label == B ]] && bin=$bin_b
        for kind in $kinds; do
            dir="$work/$label-$round-$kind"
            mkdir -p "$dir"
            echo "round $round, binary $label: $kind" >&2
            "run_$kind" "$bin"
        done
    done
done

# --- report ----------------------------------------------------------------------------------
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
p99() { sort -n | awk '{ v[NR] = $1 } END { if (NR) { i = int(NR * 0.99 + 0.999); print v[(i > NR) ? NR : i] } }'; }
fig() { awk -v l="$1" -v f="$2" '$1 == l && $2 == f && $3 ~ /^[0-9.]+$/ { print $3 }' "$work/figures" | median; }
lat() { awk -v l="$1" -v s="$2" '$1 == l && $2 == s { print $3 / 1000 }' "$work/samples"; }
ratio() { [[ -n $2 && -n $1 ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }' || echo "-"; }
line() { printf '%-44s %12s %12s %7s   %s\n' "$@"; }

echo
echo "drbd-reactor with every plugin on: A = $bin_a${bin_b:+, B = $bin_b}; $rounds rounds, medians"
line figure A B B/A target
while read -r f target; do
    a=$(fig A "$f")
    b=""
    [[ -n $bin_b ]] && b=$(fig B "$f")
    line "$f" "$a" "${b:--}" "$(ratio "$a" "$b")" "$target"
done <<'EOF'
dump_ms <=40
lines_per_s >=2000000
rss_after_dump_kb <=30720
rss_before_scrape_kb <=30720
body_plain_kb -
body_gzip_kb -
rss_first_plain_kb -
rss_after_plain_kb <=30720+plain
rss_gzip_only_kb <=30720+gzip
rss_after_scrapes_kb -
scrape_first_plain_ms -
scrape_first_gzip_ms -
scrape_unchanged_plain_ms transfer
scrape_unchanged_gzip_ms transfer
scrape_all_plain_ms <=40
scrape_all_gzip_ms <=60
scrape_one_plain_ms <=10
scrape_one_gzip_ms <=10
floor_plain_ms transfer-floor
floor_gzip_ms transfer-floor
over_floor_all_plain_ms -
over_floor_all_gzip_ms -
over_floor_one_plain_ms -
over_floor_one_gzip_ms -
burst100_gzip_ms body-rendered-once
burst100_not_200 0
core_batch_idle_ms -
core_batch_during_burst_ms ~core_batch_idle_ms
EOF
echo
echo "event -> command start (ms; samples of all rounds pooled), against the spawn floor of the same runs"
declare -A med p over
line "set (floor: same load)" "A med/p99" "B med/p99" "B/A med" "target: over floor <=0.5 med, <=1 p99"
for set in floor-idle umh-idle promo-idle floor-loaded umh-loaded promo-loaded; do
    [[ -s $work/samples ]] || break
    for l in A B; do
        [[ $l == B && -z $bin_b ]] && continue
        med[$l]=$(lat "$l" "$set" | median | awk '{ printf "%.2f", $1 }')
        p[$l]=$(lat "$l" "$set" | p99 | awk '{ printf "%.2f", $1 }')
        fl=floor-${set#*-}
        over[$l]=$(awk -v m="${med[$l]}" -v p="${p[$l]}" -v fm="$(lat "$l" "$fl" | median)" -v fp="$(lat "$l" "$fl" | p99)" \
            'BEGIN { printf "%+.2f/%+.2f", m - fm, p - fp }')
    done
    a="${med[A]}/${p[A]}"
    b="-"
    [[ -n $bin_b ]] && b="${med[B]}/${p[B]}"
    note=""
    [[ $set != floor-* ]] && note="over floor: A ${over[A]}${bin_b:+, B ${over[B]}}"
    line "$set (n=$(lat A "$set" | wc -l))" "$a" "$b" "$(ratio "${med[A]}" "${med[B]:-}")" "$note"
done
echo "(burst: 100 concurrent gzip scrapes right after every resource changed; whether the body was"
echo " rendered once is not visible from outside: compare burst100_gzip_ms with scrape_all_gzip_ms)"
