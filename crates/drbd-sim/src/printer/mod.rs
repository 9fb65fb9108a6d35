//! drbdsetup's events2 printer: keeps its own copy of what it printed and turns a node's
//! view into `exists`/`create`/`change`/`destroy` lines, with the key groups of events2
//! spec §2.5/§2.9 for plain, `--statistics` and `--full` output.
//!
//! Must never: hand-format events2 text (lines are `drbd::Line` values), or print a
//! change line for an object whose printed values did not change.

mod decorate;
mod initial;
mod keys;

pub use decorate::Decor;

use crate::view::{ConnView, NodeView, ResView};
use drbd::event::{
    ConnectionLine, DeviceLine, Event, EventType, Line, ObjectLine, PathLine, PeerDeviceLine,
    ResourceLine,
};
use keys::*;

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
    Line::new(None, Event::Object { event_type, object })
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
        out.push(Line::new(None, Event::EndOfDump));
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

    /// Prints `create` lines for the objects of `r` that `old` (the same resource as last
    /// printed) lacks, in their initial state ([`initial`]), and adds them so to `old`.
    fn create_children(&self, r: &ResView, old: &mut ResView, out: &mut Vec<Line>) {
        let o = self.opts;
        let create = EventType::Create;
        for (id, c) in &r.connections {
            if !old.connections.contains_key(id) {
                // Its peer devices and paths are created below, after the devices.
                let born = ConnView {
                    peer_devices: Default::default(),
                    paths: Vec::new(),
                    ..initial::connection(c)
                };
                let keys = conn_keys(&born.conn, None, o, true).unwrap();
                out.push(line(create, ObjectLine::Connection(keys)));
                old.connections.insert(*id, born);
            }
        }
        for (vol, d) in &r.devices {
            if !old.devices.contains_key(vol) {
                let born = initial::device(d);
                let keys = dev_keys(&born, None, o, true).unwrap();
                out.push(line(create, ObjectLine::Device(keys)));
                old.devices.insert(*vol, born);
            }
        }
        for (id, c) in &r.connections {
            let oc = old.connections.get_mut(id).expect("added above");
            for (vol, pd) in &c.peer_devices {
                if !oc.peer_devices.contains_key(vol) {
                    let born = initial::peer_device(pd);
                    let keys = pd_keys(&born, None, o, true).unwrap();
                    out.push(line(create, ObjectLine::PeerDevice(keys)));
                    oc.peer_devices.insert(*vol, born);
                }
            }
            for p in &c.paths {
                if !oc.paths.iter().any(|op| same_path(op, p)) {
                    let born = initial::path(p);
                    out.push(line(create, ObjectLine::Path(born.clone())));
                    oc.paths.push(born);
                }
            }
        }
    }

    /// The initial dump as text, with `--diff`/`--color` decorations.
    pub fn dump_text(&mut self, view: &NodeView, decor: Decor) -> Vec<(Line, String)> {
        let lines = self.dump(view);
        lines
            .into_iter()
            .map(|l| {
                let t = decorate::render(&l, None, decor);
                (l, t)
            })
            .collect()
    }

    /// [`Printer::update`] as text, with `--diff`/`--color` decorations.
    pub fn update_text(
        &mut self,
        view: &NodeView,
        refresh: bool,
        decor: Decor,
    ) -> Vec<(Line, String)> {
        let prev = if decor.diff {
            self.copy.clone()
        } else {
            NodeView::new()
        };
        let lines = self.update(view, refresh);
        lines
            .into_iter()
            .map(|l| {
                let old = decorate::previous(&prev, &l);
                let t = decorate::render(&l, old.as_ref(), decor);
                (l, t)
            })
            .collect()
    }

    /// The lines for a change of the view. `refresh` is the `n` of `--poll`: then a changed
    /// statistics counter alone is enough for a line; otherwise (a kernel notification) only
    /// objects whose state keys changed are printed.
    pub fn update(&mut self, view: &NodeView, refresh: bool) -> Vec<Line> {
        let new = self.filtered(view);
        let o = self.opts;
        let mut out = Vec::new();
        // New resources first, created in their initial state as the kernel creates them; the
        // comparison below then prints how they reached the state they are in.
        for (name, r) in &new {
            if !self.copy.contains_key(name) {
                let born = initial::resource(r);
                self.create_lines(EventType::Create, &born, &mut out);
                self.copy.insert(name.clone(), born);
            }
        }
        let mut next = NodeView::new();
        for (name, r) in &new {
            let mut old = self.copy[name].clone();
            let notified = |changed: bool, state_changed: bool| {
                if refresh {
                    changed
                } else {
                    state_changed
                }
            };
            // The resource line.
            let resource_notified = notified(
                r.resource != old.resource,
                res_state(&r.resource) != res_state(&old.resource),
            );
            if resource_notified {
                if let Some(l) = res_keys(&r.resource, Some(&old.resource), o, false) {
                    out.push(line(EventType::Change, ObjectLine::Resource(l)));
                }
            }
            // Objects new in the resource are created after its line, as drbdsetup prints
            // them (a new device first changes may_promote), in their initial state.
            self.create_children(r, &mut old, &mut out);
            let old = &old;
            let mut kept = old.clone();
            if resource_notified {
                kept.resource = r.resource.clone();
            }
            // Connections, then devices, then peer devices and paths.
            for (id, c) in &r.connections {
                let oc = &old.connections[id];
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
            for (vol, d) in &r.devices {
                let od = &old.devices[vol];
                if notified(d != od, dev_state(d) != dev_state(od)) {
                    if let Some(l) = dev_keys(d, Some(od), o, false) {
                        out.push(line(EventType::Change, ObjectLine::Device(l)));
                    }
                    kept.devices.insert(*vol, d.clone());
                }
            }
            for (id, c) in &r.connections {
                let oc = &old.connections[id];
                let kc = kept.connections.get_mut(id).unwrap();
                for (vol, pd) in &c.peer_devices {
                    let opd = &oc.peer_devices[vol];
                    if notified(pd != opd, pd_state(pd) != pd_state(opd)) {
                        if let Some(l) = pd_keys(pd, Some(opd), o, false) {
                            out.push(line(EventType::Change, ObjectLine::PeerDevice(l)));
                        }
                        kc.peer_devices.insert(*vol, pd.clone());
                    }
                }
                for p in &c.paths {
                    let op = oc.paths.iter().find(|op| same_path(op, p));
                    if op.expect("created above").established != p.established {
                        out.push(line(EventType::Change, ObjectLine::Path(p.clone())));
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
