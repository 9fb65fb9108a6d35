//! drbdsetup's events2 printer: keeps its own copy of what it printed and turns a node's
//! view into `exists`/`create`/`change`/`destroy` lines, with the key groups of events2
//! spec §2.5/§2.9 for plain, `--statistics` and `--full` output.
//!
//! Must never: hand-format events2 text (lines are `drbd::Line` values), or print a
//! change line for an object whose printed values did not change.

use crate::view::{ConnView, NodeView, ResView};
use drbd::event::{
    ConnectionLine, DeviceLine, Event, EventType, Line, ObjectLine, PathLine, PeerDeviceLine,
    ResourceLine, ResyncProgress,
};
use std::collections::BTreeMap;

/// The output options of one `drbdsetup events2` invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub statistics: bool,
    pub full: bool,
}

impl Options {
    fn stat(self) -> bool {
        self.statistics || self.full
    }
    /// drbdsetup's verbosity: 2 with `--full --statistics`.
    fn verbose2(self) -> bool {
        self.statistics && self.full
    }
}

/// One events2 stream: the options, an optional resource filter and the copy of the state.
#[derive(Debug, Clone)]
pub struct Printer {
    opts: Options,
    filter: Option<String>,
    copy: NodeView,
}

fn line(event_type: EventType, object: ObjectLine) -> Line {
    Line {
        timestamp: None,
        event: Event::Object { event_type, object },
    }
}

impl Printer {
    pub fn new(opts: Options, filter: Option<String>) -> Printer {
        Printer {
            opts,
            filter,
            copy: NodeView::new(),
        }
    }

    fn filtered(&self, view: &NodeView) -> NodeView {
        view.iter()
            .filter(|(n, _)| self.filter.as_ref().is_none_or(|f| f == *n))
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    }

    /// The initial dump: `exists` lines (resource, connections, devices, then per
    /// connection its peer devices and paths) and `exists -`.
    pub fn dump(&mut self, view: &NodeView) -> Vec<Line> {
        self.copy = self.filtered(view);
        let mut out = Vec::new();
        for r in self.copy.values() {
            self.create_lines(EventType::Exists, r, &mut out);
        }
        out.push(Line {
            timestamp: None,
            event: Event::EndOfDump,
        });
        out
    }

    fn create_lines(&self, verb: EventType, r: &ResView, out: &mut Vec<Line>) {
        let o = self.opts;
        out.push(line(
            verb,
            ObjectLine::Resource(res_keys(&r.resource, None, o, true).unwrap()),
        ));
        for c in r.connections.values() {
            out.push(line(
                verb,
                ObjectLine::Connection(conn_keys(&c.conn, None, o, true).unwrap()),
            ));
        }
        for d in r.devices.values() {
            out.push(line(
                verb,
                ObjectLine::Device(dev_keys(d, None, o, true).unwrap()),
            ));
        }
        for c in r.connections.values() {
            conn_children(verb, c, None, o, out);
        }
    }

    /// The lines for a change of the view. `refresh` is the `n` of `--poll`: then a changed
    /// statistics counter alone is enough for a line; otherwise (a kernel notification) only
    /// objects whose state keys changed are printed.
    pub fn update(&mut self, view: &NodeView, refresh: bool) -> Vec<Line> {
        let new = self.filtered(view);
        let o = self.opts;
        let mut out = Vec::new();
        let mut next = NodeView::new();
        for (name, r) in &new {
            let Some(old) = self.copy.get(name) else {
                self.create_lines(EventType::Create, r, &mut out);
                next.insert(name.clone(), r.clone());
                continue;
            };
            let mut kept = old.clone();
            let notified = |changed: bool, state_changed: bool| {
                if refresh {
                    changed
                } else {
                    state_changed
                }
            };
            // The resource line.
            if notified(
                r.resource != old.resource,
                res_state(&r.resource) != res_state(&old.resource),
            ) {
                if let Some(l) = res_keys(&r.resource, Some(&old.resource), o, false) {
                    out.push(line(EventType::Change, ObjectLine::Resource(l)));
                }
                kept.resource = r.resource.clone();
            }
            // Connections, then devices, then peer devices and paths.
            for (id, c) in &r.connections {
                match old.connections.get(id) {
                    None => out.push(line(
                        EventType::Create,
                        ObjectLine::Connection(conn_keys(&c.conn, None, o, true).unwrap()),
                    )),
                    Some(oc) => {
                        if notified(
                            c.conn != oc.conn,
                            conn_state(&c.conn) != conn_state(&oc.conn),
                        ) {
                            if let Some(l) = conn_keys(&c.conn, Some(&oc.conn), o, false) {
                                out.push(line(EventType::Change, ObjectLine::Connection(l)));
                            }
                            kept.connections.get_mut(id).unwrap().conn = c.conn.clone();
                        }
                    }
                }
            }
            for (vol, d) in &r.devices {
                match old.devices.get(vol) {
                    None => {
                        out.push(line(
                            EventType::Create,
                            ObjectLine::Device(dev_keys(d, None, o, true).unwrap()),
                        ));
                        kept.devices.insert(*vol, d.clone());
                    }
                    Some(od) => {
                        if notified(d != od, dev_state(d) != dev_state(od)) {
                            if let Some(l) = dev_keys(d, Some(od), o, false) {
                                out.push(line(EventType::Change, ObjectLine::Device(l)));
                            }
                            kept.devices.insert(*vol, d.clone());
                        }
                    }
                }
            }
            for (id, c) in &r.connections {
                let Some(oc) = old.connections.get(id) else {
                    conn_children(EventType::Create, c, None, o, &mut out);
                    kept.connections.insert(*id, c.clone());
                    continue;
                };
                let kc = kept.connections.get_mut(id).unwrap();
                for (vol, pd) in &c.peer_devices {
                    match oc.peer_devices.get(vol) {
                        None => {
                            out.push(line(
                                EventType::Create,
                                ObjectLine::PeerDevice(pd_keys(pd, None, o, true).unwrap()),
                            ));
                            kc.peer_devices.insert(*vol, pd.clone());
                        }
                        Some(opd) => {
                            if notified(pd != opd, pd_state(pd) != pd_state(opd)) {
                                if let Some(l) = pd_keys(pd, Some(opd), o, false) {
                                    out.push(line(EventType::Change, ObjectLine::PeerDevice(l)));
                                }
                                kc.peer_devices.insert(*vol, pd.clone());
                            }
                        }
                    }
                }
                for p in &c.paths {
                    match oc.paths.iter().find(|op| same_path(op, p)) {
                        None => out.push(line(EventType::Create, ObjectLine::Path(p.clone()))),
                        Some(op) if op.established != p.established => {
                            out.push(line(EventType::Change, ObjectLine::Path(p.clone())))
                        }
                        Some(_) => {}
                    }
                }
                kc.paths = c.paths.clone();
                // Peer devices that went away on a remaining connection.
                for (vol, opd) in &oc.peer_devices {
                    if !c.peer_devices.contains_key(vol) {
                        out.push(line(
                            EventType::Destroy,
                            ObjectLine::PeerDevice(pd_identity(opd)),
                        ));
                        kc.peer_devices.remove(vol);
                    }
                }
            }
            // Destroys: paths, peer devices, connections, devices.
            for (id, oc) in &old.connections {
                let gone = !r.connections.contains_key(id);
                for op in &oc.paths {
                    let still = r
                        .connections
                        .get(id)
                        .is_some_and(|c| c.paths.iter().any(|p| same_path(op, p)));
                    if !still {
                        out.push(line(
                            EventType::Destroy,
                            ObjectLine::Path(path_identity(op)),
                        ));
                    }
                }
                if gone {
                    for opd in oc.peer_devices.values() {
                        out.push(line(
                            EventType::Destroy,
                            ObjectLine::PeerDevice(pd_identity(opd)),
                        ));
                    }
                    out.push(line(
                        EventType::Destroy,
                        ObjectLine::Connection(ConnectionLine {
                            name: oc.conn.name.clone(),
                            peer_node_id: oc.conn.peer_node_id,
                            conn_name: oc.conn.conn_name.clone(),
                            ..Default::default()
                        }),
                    ));
                    kept.connections.remove(id);
                }
            }
            for (vol, od) in &old.devices {
                if !r.devices.contains_key(vol) {
                    // Its peer devices were destroyed above, per connection.
                    out.push(line(
                        EventType::Destroy,
                        ObjectLine::Device(DeviceLine {
                            name: od.name.clone(),
                            volume: *vol,
                            ..Default::default()
                        }),
                    ));
                    kept.devices.remove(vol);
                }
            }
            next.insert(name.clone(), kept);
        }
        for (name, old) in &self.copy {
            if new.contains_key(name) {
                continue;
            }
            for c in old.connections.values() {
                for op in &c.paths {
                    out.push(line(
                        EventType::Destroy,
                        ObjectLine::Path(path_identity(op)),
                    ));
                }
                for opd in c.peer_devices.values() {
                    out.push(line(
                        EventType::Destroy,
                        ObjectLine::PeerDevice(pd_identity(opd)),
                    ));
                }
                out.push(line(
                    EventType::Destroy,
                    ObjectLine::Connection(ConnectionLine {
                        name: c.conn.name.clone(),
                        peer_node_id: c.conn.peer_node_id,
                        conn_name: c.conn.conn_name.clone(),
                        ..Default::default()
                    }),
                ));
            }
            for vol in old.devices.keys() {
                out.push(line(
                    EventType::Destroy,
                    ObjectLine::Device(DeviceLine {
                        name: name.clone(),
                        volume: *vol,
                        ..Default::default()
                    }),
                ));
            }
            out.push(line(
                EventType::Destroy,
                ObjectLine::Resource(ResourceLine {
                    name: name.clone(),
                    ..Default::default()
                }),
            ));
        }
        self.copy = next;
        out
    }
}

fn conn_children(
    verb: EventType,
    c: &ConnView,
    _old: Option<&ConnView>,
    o: Options,
    out: &mut Vec<Line>,
) {
    for pd in c.peer_devices.values() {
        out.push(line(
            verb,
            ObjectLine::PeerDevice(pd_keys(pd, None, o, true).unwrap()),
        ));
    }
    for p in &c.paths {
        out.push(line(verb, ObjectLine::Path(p.clone())));
    }
}

fn same_path(a: &PathLine, b: &PathLine) -> bool {
    a.local == b.local && a.peer == b.peer
}

fn path_identity(p: &PathLine) -> PathLine {
    PathLine {
        established: None,
        unknown: Vec::new(),
        ..p.clone()
    }
}

fn pd_identity(p: &PeerDeviceLine) -> PeerDeviceLine {
    PeerDeviceLine {
        name: p.name.clone(),
        peer_node_id: p.peer_node_id,
        conn_name: p.conn_name.clone(),
        volume: p.volume,
        ..Default::default()
    }
}

/// The state keys (not statistics) of each kind: a kernel notification changes these.
fn res_state(l: &ResourceLine) -> impl PartialEq + '_ {
    (
        l.role,
        l.suspended,
        l.force_io_failures,
        l.may_promote,
        l.promotion_score,
    )
}
fn dev_state(l: &DeviceLine) -> impl PartialEq + '_ {
    (&l.backing_dev, l.disk, l.client, l.open, l.quorum, l.size)
}
fn conn_state(l: &ConnectionLine) -> impl PartialEq + '_ {
    (l.connection, l.role)
}
fn pd_state(l: &PeerDeviceLine) -> impl PartialEq + '_ {
    (
        l.replication,
        l.peer_disk,
        l.peer_client,
        l.resync_suspended,
    )
}

/// Picks the keys to print: everything for a new object; for a change the changed groups
/// (all groups with `--full`). `None`: nothing to print.
fn res_keys(
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

fn dev_keys(n: &DeviceLine, old: Option<&DeviceLine>, o: Options, new: bool) -> Option<DeviceLine> {
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

fn conn_keys(
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
fn progress_keys(p: &ResyncProgress, o: Options) -> ResyncProgress {
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

fn pd_keys(
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

/// Keeps only objects of the named resources (for `events2 RES`).
pub fn only(view: &NodeView, name: &str) -> NodeView {
    view.iter()
        .filter(|(n, _)| *n == name)
        .map(|(n, r)| (n.clone(), r.clone()))
        .collect::<BTreeMap<_, _>>()
}
