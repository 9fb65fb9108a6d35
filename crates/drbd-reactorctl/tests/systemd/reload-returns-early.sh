#!/bin/bash
# Evidence for docs/compat/ctl.md C3 (run by hand as root; needs systemd-container): boots real
# systemd in an nspawn container and measures whether `systemctl reload` waits for a Type=notify
# service that sends RELOADING=1, works 3 s, then READY=1. On systemd 252 (Debian 12) it returns
# after ~30 ms, before the reload is done; Type=notify-reload is unknown there (the unit falls
# back to Type=simple). Hence ctl waits on the daemon's generation file instead.
set -euo pipefail
N=ctlexp; B=/dev/shm/ctlexp; R=$B/merged; NSPID=""; L=""
ct() { nsenter -t "$L" -a "$@"; }
cleanup() {
  set +e
  if [ -n "$NSPID" ] && kill -0 "$NSPID" 2>/dev/null; then
    [ -n "$L" ] && kill -s SIGRTMIN+4 "$L" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$NSPID" 2>/dev/null && [ -n "$L" ] && kill -KILL "$L"
    wait "$NSPID" 2>/dev/null
  fi
  mountpoint -q "$R" && umount "$R"
  rm -rf "$B"
  for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
    [ -d $h/exp-$N ] && find $h/exp-$N -depth -type d -exec rmdir {} + 2>/dev/null; done
  true
}
trap cleanup EXIT INT TERM
cleanup
mkdir -p "$B"/{upper,work,merged}
mount -t overlay overlay -o lowerdir=/,upperdir="$B"/upper,workdir="$B"/work "$R"
echo "$N" > "$R"/etc/hostname
systemd-id128 new > "$R"/etc/machine-id
printf '[Unit]\nDescription=test target\nRequires=basic.target\nAfter=basic.target\nAllowIsolate=yes\n' > "$R"/etc/systemd/system/test.target
ln -sf test.target "$R"/etc/systemd/system/default.target
for u in nvmf-autoconnect.service nvmefc-boot-connections.service timers.target; do ln -sf /dev/null "$R"/etc/systemd/system/$u; done
cp "$(dirname "$0")"/slow-reload-daemon.py "$R"/opt/daemon.py
printf '[Service]\nType=notify\nExecStart=/usr/bin/python3 /opt/daemon.py\nExecReload=/usr/bin/env kill -HUP $MAINPID\n' > "$R"/etc/systemd/system/a.service
printf '[Service]\nType=notify-reload\nExecStart=/usr/bin/python3 /opt/daemon.py\n' > "$R"/etc/systemd/system/b.service
( for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do mkdir -p $h/exp-$N; echo $BASHPID > $h/exp-$N/cgroup.procs; done
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn -D "$R" -M "$N" --register=no --keep-unit --console=passive --private-network -b ) > /tmp/reload-returns-early.boot.log 2>&1 &
NSPID=$!
for _ in $(seq 200); do L=$(pgrep -P "$NSPID" -x systemd || true); [ -n "$L" ] && break; sleep 0.05; done
until ct test -S /run/systemd/private 2>/dev/null; do sleep 0.05; done
timeout 60 nsenter -t "$L" -a systemctl is-system-running --wait || true
ct systemctl --version | head -1
ct systemctl start a.service; ct systemctl show -p ActiveState a.service
s=$(date +%s.%N); ct systemctl reload a.service; e=$(date +%s.%N)
echo "A Type=notify + ExecReload=kill: reload returned after $(echo "$e - $s" | bc) s; reloaded file: $(ct cat /tmp/reloaded 2>/dev/null | wc -l)"
sleep 3.5; echo "after waiting: $(ct cat /tmp/reloaded 2>/dev/null | wc -l)"
rc=0; ct systemctl start b.service 2>&1 || rc=$?; echo "B notify-reload start rc=$rc"; ct systemctl show -p ActiveState -p Type b.service
