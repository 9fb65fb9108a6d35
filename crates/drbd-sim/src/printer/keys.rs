//! Which keys of an object drbdsetup prints: all for a new object; for a change the
//! groups whose values changed (events2 spec §2.5, §2.9), all of them with `--full`.
//!
//! Must never: print a statistics key without `--statistics`/`--full`.

use super::Options;
use drbd::event::{ConnectionLine, DeviceLine, PeerDeviceLine, ResourceLine, ResyncProgress};

/// The state keys (not statistics) of each kind: a kernel notification changes these.
pub(super) fn res_state(l: &ResourceLine) -> impl PartialEq + '_ {
    (
        l.role,
        l.suspended,
        l.force_io_failures,
        l.may_promote,
        l.promotion_score,
    )
}
pub(super) fn dev_state(l: &DeviceLine) -> impl PartialEq + '_ {
    (&l.backing_dev, l.disk, l.client, l.open, l.quorum, l.size)
}
pub(super) fn conn_state(l: &ConnectionLine) -> impl PartialEq + '_ {
    (l.connection, l.role)
}
pub(super) fn pd_state(l: &PeerDeviceLine) -> impl PartialEq + '_ {
    (
        l.replication,
        l.peer_disk,
        l.peer_client,
        l.resync_suspended,
    )
}

/// Picks the keys to print: everything for a new object; for a change the changed groups
/// (all groups with `--full`). `None`: nothing to print.
pub(super) fn res_keys(
    n: &ResourceLine,
    old: Option<&ResourceLine>,
    o: Options,
    new: bool,
) -> Option<ResourceLine> {
    let mut l = ResourceLine {
        name: n.name.clone(),
        ..Default::default()
    };
    let all = new || o.full;
    let ch = |f: &dyn Fn(&ResourceLine) -> bool| old.is_some_and(f);
    let role = all || ch(&|x| x.role != n.role);
    let susp = all || ch(&|x| x.suspended != n.suspended);
    let fif = all || ch(&|x| x.force_io_failures != n.force_io_failures);
    let wo = o.stat() && (all || ch(&|x| x.write_ordering != n.write_ordering));
    let mp =
        all || ch(&|x| x.may_promote != n.may_promote || x.promotion_score != n.promotion_score);
    if !new && old == Some(n) {
        return None;
    }
    if role {
        l.role = n.role;
    }
    if susp {
        l.suspended = n.suspended;
    }
    if fif {
        l.force_io_failures = n.force_io_failures;
    }
    if wo {
        l.write_ordering = n.write_ordering;
    }
    if mp {
        l.may_promote = n.may_promote;
        l.promotion_score = n.promotion_score;
    }
    (role || susp || fif || wo || mp).then_some(l)
}

pub(super) fn dev_keys(
    n: &DeviceLine,
    old: Option<&DeviceLine>,
    o: Options,
    new: bool,
) -> Option<DeviceLine> {
    if !new && old == Some(n) {
        return None;
    }
    let all = new || o.full;
    let mut l = DeviceLine {
        name: n.name.clone(),
        volume: n.volume,
        minor: n.minor,
        ..Default::default()
    };
    let info = all
        || old.is_some_and(|x| {
            (&x.backing_dev, x.disk, x.client, x.open, x.quorum)
                != (&n.backing_dev, n.disk, n.client, n.open, n.quorum)
        });
    let counters = o.stat()
        && (all
            || old.is_some_and(|x| {
                (
                    x.size,
                    x.read,
                    x.written,
                    x.al_writes,
                    x.bm_writes,
                    x.upper_pending,
                    x.lower_pending,
                ) != (
                    n.size,
                    n.read,
                    n.written,
                    n.al_writes,
                    n.bm_writes,
                    n.upper_pending,
                    n.lower_pending,
                )
            }));
    let al = o.stat() && (all || old.is_some_and(|x| x.al_suspended != n.al_suspended));
    let blocked = o.stat() && (new || old.is_some_and(|x| x.blocked != n.blocked));
    if info {
        l.backing_dev = n.backing_dev.clone();
        l.disk = n.disk;
        l.client = n.client;
        l.open = n.open;
        l.quorum = n.quorum;
    }
    if counters {
        l.size = n.size;
        l.read = n.read;
        l.written = n.written;
        l.al_writes = n.al_writes;
        l.bm_writes = n.bm_writes;
        l.upper_pending = n.upper_pending;
        l.lower_pending = n.lower_pending;
    }
    if al {
        l.al_suspended = n.al_suspended;
    }
    if blocked {
        l.blocked = n.blocked;
    }
    (info || counters || al || blocked).then_some(l)
}

pub(super) fn conn_keys(
    n: &ConnectionLine,
    old: Option<&ConnectionLine>,
    o: Options,
    new: bool,
) -> Option<ConnectionLine> {
    if !new && old == Some(n) {
        return None;
    }
    let all = new || o.full;
    let mut l = ConnectionLine {
        name: n.name.clone(),
        peer_node_id: n.peer_node_id,
        conn_name: n.conn_name.clone(),
        ..Default::default()
    };
    let cs = all || old.is_some_and(|x| x.connection != n.connection);
    let role = all || old.is_some_and(|x| x.role != n.role);
    let cong = o.stat() && (all || old.is_some_and(|x| x.congested != n.congested));
    let fl = o.stat()
        && (all
            || old.is_some_and(|x| {
                (x.ap_in_flight, x.rs_in_flight) != (n.ap_in_flight, n.rs_in_flight)
            }));
    if cs {
        l.connection = n.connection;
    }
    if role {
        l.role = n.role;
    }
    if cong {
        l.congested = n.congested;
    }
    if fl {
        l.ap_in_flight = n.ap_in_flight;
        l.rs_in_flight = n.rs_in_flight;
    }
    (cs || role || cong || fl).then_some(l)
}

/// The progress keys printed at the stream's verbosity.
pub(super) fn progress_keys(p: &ResyncProgress, o: Options) -> ResyncProgress {
    if !o.stat() {
        return ResyncProgress {
            done: p.done,
            ..Default::default()
        };
    }
    if o.verbose2() {
        return p.clone();
    }
    ResyncProgress {
        done: p.done,
        dbdt1: p.dbdt1,
        eta: p.eta,
        ..Default::default()
    }
}

pub(super) fn pd_keys(
    n: &PeerDeviceLine,
    old: Option<&PeerDeviceLine>,
    o: Options,
    new: bool,
) -> Option<PeerDeviceLine> {
    if !new && old == Some(n) {
        return None;
    }
    let all = new || o.full;
    let mut l = PeerDeviceLine {
        name: n.name.clone(),
        peer_node_id: n.peer_node_id,
        conn_name: n.conn_name.clone(),
        volume: n.volume,
        ..Default::default()
    };
    let repl = all || old.is_some_and(|x| x.replication != n.replication);
    let disk =
        all || old.is_some_and(|x| (x.peer_disk, x.peer_client) != (n.peer_disk, n.peer_client));
    let rs = all || old.is_some_and(|x| x.resync_suspended != n.resync_suspended);
    let shown = |x: &PeerDeviceLine| x.progress.as_deref().map(|p| progress_keys(p, o));
    let counters = |x: &PeerDeviceLine| (x.received, x.sent, x.out_of_sync, x.pending, x.unacked);
    let stats = if o.stat() {
        all || old.is_some_and(|x| counters(x) != counters(n) || shown(x) != shown(n))
    } else {
        n.progress.is_some() && (new || old.is_some_and(|x| shown(x) != shown(n)))
    };
    if repl {
        l.replication = n.replication;
    }
    if disk {
        l.peer_disk = n.peer_disk;
        l.peer_client = n.peer_client;
    }
    if rs {
        l.resync_suspended = n.resync_suspended;
    }
    if stats {
        if o.stat() {
            l.received = n.received;
            l.sent = n.sent;
            l.out_of_sync = n.out_of_sync;
            l.pending = n.pending;
            l.unacked = n.unacked;
        }
        l.progress = shown(n).map(Box::new);
    }
    (repl || disk || rs || stats).then_some(l)
}
