#!/usr/bin/env bash
# End-to-end test of the container image (issue 17), run by .ci/run as root:
#
#  1. builds the image and its slim variant from scratch with container/build.sh (one
#     mmdebstrap run, two podman imports);
#  then, for each of the two images:
#  2. starts a simulated 3-node cluster (drbd-sim serve) on the host with resource drbd-data;
#  3. runs the image read-only (a tmpfs on /run only, all capabilities dropped but NET_ADMIN,
#     host network) as node alpha: the simulator's shims bind-mounted over /usr/sbin/drbdsetup
#     and drbdadm, its socket directory mounted, the seed's umh snippet in the mounted
#     snippets directory calling the image's /usr/local/bin/on-no-quorum-io-error.sh;
#  4. checks: --health passes; quorum loss and gain of alpha make the script's
#     `drbdsetup resource-options` calls reach the simulator; a node crash makes --health
#     fail and its restart pass again; a snippet added to the mounted directory plus SIGHUP
#     starts a prometheus plugin whose metrics are scraped from the host; the root file
#     system refuses writes and `podman diff` is empty; logs are plain lines; SIGTERM stops
#     the container with exit status 0 within its stop timeout, leaving no process behind.
#
# Every missing tool or binary is a FAILURE, never a skip. Environment: DRBD_REACTOR_BIN,
# DRBD_SIM_BIN, OCF_RS_WRAPPER_BIN (defaults: target/debug/...); CONTAINER_TEST_IMAGE=IMAGE
# tests that existing image only instead of building both (for development: CI always builds
# from scratch). Polls with deadlines; no fixed sleeps.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "container test: FAIL: $*" >&2; exit 1; }
step() { echo "== container test: $*"; }

[ "$(id -u)" = 0 ] || fail "must run as root (podman's root storage, mmdebstrap's root mode)"
for c in podman runc mmdebstrap python3; do
    command -v "$c" >/dev/null || fail "'$c' is missing (apt-get install mmdebstrap podman runc python3)"
done
reactor_bin=${DRBD_REACTOR_BIN:-target/debug/drbd-reactor}
sim_bin=${DRBD_SIM_BIN:-target/debug/drbd-sim}
ocf_bin=${OCF_RS_WRAPPER_BIN:-target/debug/ocf-rs-wrapper}
for b in "$reactor_bin" "$sim_bin" "$ocf_bin"; do
    [ -x "$b" ] && [ -s "$b" ] || fail "$b is missing (cargo build --workspace --bins)"
done
sim_bin=$(readlink -f "$sim_bin")

top=$(mktemp -d /var/tmp/drbd-reactor-ctest.XXXXXX)
work=$top
name=""
images=()
sim_pid=""
# The sandbox refuses raising rlimits; the host's cgroups are hybrid (crun refuses them);
# there is no journald for events and logs.
cat >"$top/containers.conf" <<'EOF'
[containers]
default_ulimits = []
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
EOF
export CONTAINERS_CONF=$top/containers.conf
cleanup() {
    local rc=$?
    [ -z "$name" ] || podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
    [ -n "${CONTAINER_TEST_IMAGE:-}" ] || [ ${#images[@]} = 0 ] || podman rmi -f "${images[@]}" >/dev/null 2>&1 || true
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$top"
    exit "$rc"
}
trap cleanup EXIT

# wait_until <what> <command...>: polls the command until it succeeds (deadline 60 s).
wait_until() {
    local what=$1 deadline=$((SECONDS + 60))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { podman logs "$name" 2>&1 | tail -n 30 >&2 || true; fail "timed out waiting for $what"; }
        sleep 0.2
    done
}

if [ -n "${CONTAINER_TEST_IMAGE:-}" ]; then
    images=("$CONTAINER_TEST_IMAGE")
else
    step "build the image and its slim variant from scratch"
    images=("localhost/drbd-reactor:ctest-$$" "localhost/drbd-reactor:ctest-slim-$$")
    start=$SECONDS
    container/build.sh --tag "${images[0]}" --slim-tag "${images[1]}" "$reactor_bin" "$ocf_bin"
    echo "images built in $((SECONDS - start)) s"
fi

# scenario <image> <n>: the whole run of one image against a fresh simulated cluster.
scenario() {
local image=$1
work=$top/$2
mkdir -p "$work"
name=drbd-reactor-ctest-$$-$2
echo "== container test: image $image"

step "the image ships the seed's script and a config that reads mounted snippets"
podman run --rm --read-only --network=none --entrypoint /bin/cat "$image" \
    /usr/local/bin/on-no-quorum-io-error.sh >"$work/script-in-image"
cmp "$work/script-in-image" container/on-no-quorum-io-error.sh || fail "the image's script differs from container/on-no-quorum-io-error.sh"
podman run --rm --read-only --network=none --entrypoint /bin/cat "$image" /etc/drbd-reactor.toml |
    grep -qx 'snippets = "/etc/drbd-reactor.d"' || fail "the default config does not read /etc/drbd-reactor.d"
podman run --rm --read-only --network=none --entrypoint /bin/sh "$image" \
    -c 'test -d /etc/drbd-reactor.d && test -z "$(ls -A /etc/drbd-reactor.d)"' ||
    fail "the image has no empty /etc/drbd-reactor.d for the default config to read"

step "simulated cluster on the host"
mkdir -p "$work/sock" "$work/shim" "$work/snippets" "$work/host-alpha"
cat >"$work/cluster.toml" <<'EOF'
[[node]]
name = "alpha"
id = 0
[[node]]
name = "beta"
id = 1
[[node]]
name = "gamma"
id = 2
[[resource]]
name = "drbd-data"
EOF
"$sim_bin" serve --cluster "$work/cluster.toml" --socket "$work/sock/sim.sock" >"$work/sim.log" 2>&1 &
sim_pid=$!
wait_until "the simulator's socket" test -S "$work/sock/sim.sock"
ctl() { "$sim_bin" ctl --socket "$work/sock/sim.sock" "$@" >/dev/null; }
"$sim_bin" install-shims "$work/host-alpha" --node alpha --socket "$work/sock/sim.sock" >/dev/null
# Inside the container the shims find their node and the socket in drbd-sim.toml beside them.
printf 'node = "alpha"\nsocket = "/var/lib/drbd-sim/sim.sock"\n' >"$work/shim/drbd-sim.toml"

# The seed's umh example, unchanged (the blog's snippet for resource drbd-data).
cat >"$work/snippets/drbd-data.toml" <<'EOF'
[[umh]]
id = "drbd-data"
[[umh.device]]
resource-name = "drbd-data"
old.quorum = true
new.quorum = false
command = "/usr/local/bin/on-no-quorum-io-error.sh"
name = "quorum lost"
[umh.device.env]
TIMEOUT = "30"
[[umh.device]]
resource-name = "drbd-data"
old.quorum = false
new.quorum = true
command = "/usr/local/bin/on-no-quorum-io-error.sh"
name = "quorum gained"
EOF

step "start the container read-only"
stop_timeout=10
podman run -d --name "$name" \
    --read-only --read-only-tmpfs=false --tmpfs /run:rw,nosuid,nodev,mode=755,size=16m \
    --network=host --cap-drop=all --cap-add=NET_ADMIN --security-opt=no-new-privileges \
    --stop-timeout "$stop_timeout" \
    -v "$sim_bin:/usr/sbin/drbdsetup:ro" -v "$sim_bin:/usr/sbin/drbdadm:ro" \
    -v "$work/shim/drbd-sim.toml:/usr/sbin/drbd-sim.toml:ro" \
    -v "$work/sock:/var/lib/drbd-sim" \
    -v "$work/snippets:/etc/drbd-reactor.d:ro" \
    "$image" >/dev/null

health() { podman exec "$name" /usr/sbin/drbd-reactor --health; }
events2_unhealthy() { # fails, naming events2 as the reason
    local out
    out=$(podman exec "$name" /usr/sbin/drbd-reactor --health 2>&1) && return 1
    grep -q 'no running drbdsetup events2' <<<"$out"
}
wait_until "drbd-reactor --health to pass" health
out=$(health) && grep -q '^healthy: ' <<<"$out" || fail "--health passed without saying so"

on_no_quorum_is() { # the simulator's view of alpha's option
    "$work/host-alpha/drbdsetup" show drbd-data --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; sys.exit(d["options"]["on-no-quorum"]!=sys.argv[1])' "$1"
}
logs_have() { local l; l=$(podman logs "$name" 2>&1); grep -qF -- "$1" <<<"$l"; }
on_no_quorum_is suspend-io || fail "the cluster does not start with on-no-quorum suspend-io"

step "quorum loss: the image's script sets io-error through the simulator"
ctl partition alpha
wait_until "on-no-quorum io-error on alpha" on_no_quorum_is io-error
wait_until "the script's 'Lost quorum' in podman logs" logs_have "Lost quorum"

step "quorum gain: the script sets suspend-io again"
ctl heal
wait_until "on-no-quorum suspend-io on alpha" on_no_quorum_is suspend-io
wait_until "the script's 'Got quorum' in podman logs" logs_have "Got quorum"

step "health fails while events2 cannot run (node crashed) and passes after the restart"
ctl crash alpha
wait_until "--health to fail naming events2" events2_unhealthy
ctl restart alpha
wait_until "--health to pass again" health

step "SIGHUP after adding a snippet starts the prometheus plugin, scraped from the host"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[[prometheus]]\naddress = "127.0.0.1:%s"\n' "$port" >"$work/snippets/prometheus.toml"
scrape() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    cat <&3 >"$work/metrics"
    exec 3<&-
    grep -q '^drbd_resource_resources 1$' "$work/metrics"
}
! scrape 2>/dev/null || fail "something already serves metrics on port $port"
podman kill --signal HUP "$name" >/dev/null
wait_until "metrics of drbd-data on 127.0.0.1:$port" scrape
grep -q 'name="drbd-data"' "$work/metrics" ||
    fail "the metrics do not mention drbd-data"
health >/dev/null || fail "--health fails after the reload"

step "a promoter with the shell runner promotes drbd-data in the simulator and starts its service"
cat >"$work/snippets/promoter.toml" <<'TOML'
[[promoter]]
[promoter.resources.drbd-data]
runner = "shell"
# The shell runner promotes nothing itself: its entries do (drbdadm is the mounted shim).
start = ["drbdadm primary drbd-data", "touch /run/served-by-promoter"]
stop = ["rm -f /run/served-by-promoter", "drbdadm secondary drbd-data"]
adjust-resource-on-start = false
TOML
alpha_primary() { local s; s=$("$work/host-alpha/drbdsetup" status drbd-data 2>/dev/null); grep -q 'role:Primary' <<<"$s"; }
served() { podman exec "$name" test -e /run/served-by-promoter; }
podman kill --signal HUP "$name" >/dev/null
wait_until "alpha Primary in the simulator" alpha_primary
wait_until "the promoter's service to run in the container" served

step "nothing is written to the image's root"
if podman exec "$name" /bin/sh -c 'echo x > /etc/probe' 2>/dev/null; then
    fail "the root file system accepted a write"
fi
# runc creates the mount points the image lacks (and their parents) before it makes the root
# read-only: those are the only changes allowed.
podman diff "$name" | python3 -c '
import sys
targets = set(sys.argv[1:])
parents = {t.rsplit("/", i)[0] or "/" for t in targets for i in range(1, t.count("/") + 1)}
bad = [l for l in sys.stdin.read().splitlines() if l.strip() and not (
    l[:2] in ("A ", "C ") and (l[2:] in targets or l[2:] in parents))]
sys.exit("changes in the root file system: " + "; ".join(bad) if bad else 0)
' /usr/sbin/drbd-sim.toml /var/lib/drbd-sim || fail "podman diff shows writes to the image's root"

step "logs are one plain record per line"
podman logs "$name" >"$work/logs" 2>&1
grep -q '^INFO \[drbd_reactor\]' "$work/logs" || fail "no 'INFO [drbd_reactor]' lines in podman logs"
if grep -q $'\e\[' "$work/logs"; then fail "escape sequences in podman logs"; fi

step "SIGTERM stops the container within its stop timeout, no process left"
hpids=$(podman top "$name" hpid | tail -n +2)
[ -n "$hpids" ] || fail "podman top shows no processes"
podman stop -t "$stop_timeout" "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "the container exited with $code (137: killed at the stop timeout)"
for p in $hpids; do
    if [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
        fail "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) is still running"
    fi
done
# Read the logs whole first: `grep -q` would stop reading at its match, and with pipefail the
# writer's SIGPIPE fails the pipeline when more lines follow the match.
logs=$(podman logs "$name" 2>&1)
if ! grep -q 'all plugins stopped' <<<"$logs"; then
    tail -n 20 <<<"$logs" >&2
    fail "no clean stop in the logs"
fi
podman rm "$name" >/dev/null
name=""
kill "$sim_pid"
wait "$sim_pid" || true
sim_pid=""
echo "== container test: $image passed ($(podman image inspect --format '{{.Size}}' "$image") bytes)"
}

n=0
for image in "${images[@]}"; do
    n=$((n + 1))
    scenario "$image" "$n"
done
echo "container test: PASS (${#images[@]} images)"
