//! State snapshot → Prometheus text exposition (format 0.0.4): the 28 families of the
//! original with identical names, types, HELP texts, labels and values, then our additions.
//!
//! Families come in the original's creation order (prometheus spec §6.2), series sorted by
//! resource name, then peer node id and volume, so two scrapes of one state are identical.
//! Must never: block, do I/O, or rename a family users already query.

use crate::families::*;
use drbd::vocab::{ConnectionState, DiskState, ReplicationState, Role};

use drbd::{Connection, Device, PeerDevice, Resource};

pub use drbd_reactor_plugin::DrbdVersions;
use drbd_reactor_plugin::{MetricKind, Sample};

/// What a scrape renders besides the resources.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    pub enums: bool,
    pub versions: DrbdVersions,
    /// The daemon's self-metrics (`drbdreactor_*`), as its parts registered them.
    pub reactor: Vec<Sample>,
}

/// Label sets built once per scrape into one arena string, so each family only appends them.
pub struct Objects<'a> {
    pub(crate) arena: String,
    pub(crate) resources: Vec<(Span, &'a Resource)>,
    pub(crate) connections: Vec<(Span, &'a Connection)>,
    pub(crate) peer_devices: Vec<(Span, &'a PeerDevice)>,
    pub(crate) devices: Vec<(Span, &'a Device)>,
    /// Each path's labels and whether it is established.
    pub(crate) paths: Vec<(Span, bool)>,
}

/// A label set in the arena.
pub(crate) type Span = std::ops::Range<usize>;

pub fn collect<'a>(resources: impl Iterator<Item = &'a Resource>) -> Objects<'a> {
    // About 500 bytes of labels per resource with two peers: one allocation instead of a
    // doubling string copied a dozen times (collect was 2/3 of re-rendering a block). The
    // lists are sized for two peers with one volume each.
    let n = resources.size_hint().0;
    let mut o = Objects {
        arena: String::with_capacity(n * ARENA_PER_RESOURCE),
        resources: Vec::with_capacity(n),
        connections: Vec::with_capacity(2 * n),
        peer_devices: Vec::with_capacity(2 * n),
        devices: Vec::with_capacity(n),
        paths: Vec::with_capacity(2 * n),
    };
    // Numbers and addresses are written into these, not into a new string each.
    let (mut n1, mut n2) = (itoa::Buffer::new(), itoa::Buffer::new());
    let (mut local, mut peer) = (String::new(), String::new());
    let a = &mut o.arena;
    // A resource's labels and a connection's are kept in these too, so each object's span is
    // its prefix appended once plus its own pairs (`String::extend_from_within` would copy
    // inside the arena, but needs Rust 1.87, above the workspace's rust-version).
    let (mut resource_prefix, mut connection_prefix) = (String::new(), String::new());
    // Appends `prefix` plus `,key="value"` pairs and returns the new span.
    fn extend(a: &mut String, prefix: &str, pairs: &[(&str, &str)]) -> Span {
        let start = a.len();
        a.push_str(prefix);
        for (k, v) in pairs {
            a.push(',');
            label(a, k, v);
        }
        start..a.len()
    }
    for r in resources {
        resource_prefix.clear();
        label(&mut resource_prefix, "name", &r.name);
        let rl = extend(a, &resource_prefix, &[]);
        for c in &r.connections {
            let id = n1.format(c.peer_node_id);
            connection_prefix.clear();
            connection_prefix.push_str(&resource_prefix);
            for (k, v) in [("conn_name", &*c.conn_name), ("peer_node_id", id)] {
                connection_prefix.push(',');
                label(&mut connection_prefix, k, v);
            }
            let cl = extend(a, &connection_prefix, &[]);
            for p in &c.peer_devices {
                let pl = extend(a, &connection_prefix, &[("volume", n2.format(p.volume))]);
                o.peer_devices.push((pl, p));
            }
            for p in &c.paths {
                local.clear();
                peer.clear();
                p.endpoints.local.push_to(&mut local);
                p.endpoints.peer.push_to(&mut peer);
                let pl = extend(a, &connection_prefix, &[("local", &local), ("peer", &peer)]);
                o.paths.push((pl, p.established));
            }
            o.connections.push((cl, c));
        }
        for d in &r.devices {
            let dl = extend(
                a,
                &resource_prefix,
                &[
                    ("volume", n1.format(d.volume)),
                    ("minor", n2.format(d.minor)),
                ],
            );
            o.devices.push((dl, d));
        }
        o.resources.push((rl, r));
    }
    o
}

/// Label bytes reserved per resource by [`collect`].
const ARENA_PER_RESOURCE: usize = 512;

/// Appends `key="value"` with the value escaped per the text format.
fn label(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str("=\"");
    if value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(value);
    }
    out.push('"');
}

/// A family whose series come from the resources, in body order (prometheus spec §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    ResourceRole,
    Resource(usize),
    ConnectionState,
    PeerDevice(usize),
    Connection(usize),
    DeviceState,
    Device(usize),
    NewPeerDevice(usize),
    ResyncDone,
    ResyncEta,
    ReplicationInfo,
    PeerDiskInfo,
    PeerRoleInfo,
    PathEstablished,
}

impl Slot {
    pub fn meta(self) -> &'static Meta {
        match self {
            Slot::ResourceRole => &RESOURCE_ROLE,
            Slot::Resource(i) => &RESOURCE_FAMILIES[i].meta,
            Slot::ConnectionState => &CONNECTION_STATE,
            Slot::PeerDevice(i) => &PEER_DEVICE_FAMILIES[i].meta,
            Slot::Connection(i) => &CONNECTION_FAMILIES[i].meta,
            Slot::DeviceState => &DEVICE_STATE,
            Slot::Device(i) => &DEVICE_FAMILIES[i].meta,
            Slot::NewPeerDevice(i) => &NEW_PEER_DEVICE_FAMILIES[i].meta,
            Slot::ResyncDone => &RESYNC_DONE,
            Slot::ResyncEta => &RESYNC_ETA,
            Slot::ReplicationInfo => &PEER_DEVICE_REPLICATION_STATE,
            Slot::PeerDiskInfo => &PEER_DEVICE_PEER_DISK_STATE,
            Slot::PeerRoleInfo => &CONNECTION_PEER_ROLE,
            Slot::PathEstablished => &PATH_ESTABLISHED,
        }
    }
}

/// Every slot, in body order.
pub fn slots() -> &'static [Slot] {
    static SLOTS: std::sync::LazyLock<Vec<Slot>> = std::sync::LazyLock::new(|| {
        let mut v = vec![Slot::ResourceRole];
        v.extend((0..RESOURCE_FAMILIES.len()).map(Slot::Resource));
        v.push(Slot::ConnectionState);
        v.extend((0..PEER_DEVICE_FAMILIES.len()).map(Slot::PeerDevice));
        v.extend((0..CONNECTION_FAMILIES.len()).map(Slot::Connection));
        v.push(Slot::DeviceState);
        v.extend((0..DEVICE_FAMILIES.len()).map(Slot::Device));
        v.extend((0..NEW_PEER_DEVICE_FAMILIES.len()).map(Slot::NewPeerDevice));
        v.extend([
            Slot::ResyncDone,
            Slot::ResyncEta,
            Slot::ReplicationInfo,
            Slot::PeerDiskInfo,
            Slot::PeerRoleInfo,
            Slot::PathEstablished,
        ]);
        v
    });
    &SLOTS
}

/// Writes the whole body for `resources` (iterated in name order) into `out`.
pub fn render<'a>(
    resources: impl Iterator<Item = &'a Resource>,
    ctx: &RenderContext,
    out: &mut String,
) {
    let resources: Vec<&Resource> = resources.collect();
    let mut series = vec![String::new(); slots().len()];
    render_series(&resources, ctx.enums, &mut series);
    render_prelude(resources.len(), ctx, out);
    for (slot, text) in slots().iter().zip(&series) {
        // A family without series has no header either (the original's behaviour).
        if !text.is_empty() {
            render_header(slot.meta(), out);
            out.push_str(text);
        }
    }
    render_trailer(ctx, out);
}

/// The families before the per-object ones: up, versions, the number of resources.
pub fn render_prelude(resources: usize, ctx: &RenderContext, out: &mut String) {
    let mut w = Writer {
        out,
        num: itoa::Buffer::new(),
    };
    w.header(&UP);
    w.out.push_str("drbdreactor_up 1\n");
    w.header(&VERSION);
    w.out.push_str("drbd_version{");
    label(
        w.out,
        "kmod",
        ctx.versions.kmod.as_deref().unwrap_or("0.0.0"),
    );
    w.out.push(',');
    label(
        w.out,
        "utils",
        ctx.versions.utils.as_deref().unwrap_or("0.0.0"),
    );
    w.out.push_str("} 1\n");
    w.header(&RESOURCES);
    w.out.push_str("drbd_resource_resources ");
    w.value(resources as u64);
}

/// The `# TYPE` and `# HELP` lines of a family.
pub fn render_header(f: &Meta, out: &mut String) {
    Writer {
        out,
        num: itoa::Buffer::new(),
    }
    .header(f);
}

/// The families after the per-object ones: build info and the daemon's self-metrics.
pub fn render_trailer(ctx: &RenderContext, out: &mut String) {
    Writer {
        out,
        num: itoa::Buffer::new(),
    }
    .reactor(ctx);
}

/// Appends the series of `resources` (in name order) for every slot to `out[slot index]`,
/// without headers. Series of consecutive runs of resources concatenate to the series of the
/// whole run, which is what lets a body be assembled from cached pieces.
pub fn render_series(resources: &[&Resource], enums: bool, out: &mut [String]) {
    render_slots(&collect(resources.iter().copied()), enums, |_| true, out);
}

/// Like [`render_series`] for the objects of `collect`, only for the slots `which` picks.
pub fn render_slots(o: &Objects, enums: bool, which: impl Fn(usize) -> bool, out: &mut [String]) {
    assert_eq!(out.len(), slots().len(), "one buffer per slot");
    let mut num = itoa::Buffer::new();
    for (i, (slot, out)) in slots().iter().zip(out.iter_mut()).enumerate() {
        if !which(i) {
            continue;
        }
        let s = Series {
            arena: &o.arena,
            prefix: &slot_text(*slot).prefix,
        };
        match *slot {
            Slot::ResourceRole if enums => {
                s.enumerated(out, *slot, &o.resources, Role::ALL, |r| r.role)
            }
            Slot::ConnectionState if enums => {
                s.enumerated(out, *slot, &o.connections, ConnectionState::ALL, |c| {
                    c.connection_state
                })
            }
            Slot::DeviceState if enums => {
                s.enumerated(out, *slot, &o.devices, DiskState::ALL, |d| d.disk_state)
            }
            Slot::ResourceRole | Slot::ConnectionState | Slot::DeviceState => {}
            Slot::Resource(i) => s.values(out, &mut num, &o.resources, RESOURCE_FAMILIES[i].value),
            Slot::PeerDevice(i) => s.values(
                out,
                &mut num,
                &o.peer_devices,
                PEER_DEVICE_FAMILIES[i].value,
            ),
            Slot::Connection(i) => {
                s.values(out, &mut num, &o.connections, CONNECTION_FAMILIES[i].value)
            }
            Slot::Device(i) => s.values(out, &mut num, &o.devices, DEVICE_FAMILIES[i].value),
            Slot::NewPeerDevice(i) => s.values(
                out,
                &mut num,
                &o.peer_devices,
                NEW_PEER_DEVICE_FAMILIES[i].value,
            ),
            Slot::ResyncDone => {
                for (labels, p) in &o.peer_devices {
                    if let Some(d) = p.progress.as_deref().and_then(|g| g.done) {
                        s.line(out, labels);
                        float(out, d.as_f64() / 100.0);
                    }
                }
            }
            Slot::ResyncEta => {
                for (labels, p) in &o.peer_devices {
                    match p.progress.as_deref().and_then(|g| g.eta) {
                        Some(drbd::values::Eta::Seconds(secs)) => {
                            s.line(out, labels);
                            out.push_str(num.format(secs));
                            out.push('\n');
                        }
                        Some(drbd::values::Eta::Unknown) => {
                            s.line(out, labels);
                            out.push_str("NaN\n");
                        }
                        None => {}
                    }
                }
            }
            Slot::ReplicationInfo => s.info(out, &o.peer_devices, |p| p.replication_state.as_str()),
            Slot::PeerDiskInfo => s.info(out, &o.peer_devices, |p| p.peer_disk_state.as_str()),
            Slot::PeerRoleInfo => s.info(out, &o.connections, |c| c.peer_role.as_str()),
            Slot::PathEstablished => {
                for (labels, established) in &o.paths {
                    s.line(out, labels);
                    out.push_str(if *established { "1\n" } else { "0\n" });
                }
            }
        }
    }
}

/// The fixed text of a slot's sample lines, built once.
struct SlotText {
    /// `name{`
    prefix: String,
    /// For enum families: `,<family>="<State>"} ` per state, in vocabulary order.
    states: Vec<String>,
}

fn slot_text(slot: Slot) -> &'static SlotText {
    static TEXTS: std::sync::LazyLock<Vec<SlotText>> = std::sync::LazyLock::new(|| {
        fn states<S: EnumState>(name: &str, all: &[S]) -> Vec<String> {
            all.iter()
                .filter(|s| !s.is_out_of_range())
                .map(|s| format!(",{name}=\"{}\"}} ", s.as_label()))
                .collect()
        }
        slots()
            .iter()
            .map(|slot| {
                let name = slot.meta().name;
                SlotText {
                    prefix: format!("{name}{{"),
                    states: match slot {
                        Slot::ResourceRole => states(name, Role::ALL),
                        Slot::ConnectionState => states(name, ConnectionState::ALL),
                        Slot::DeviceState => states(name, DiskState::ALL),
                        _ => Vec::new(),
                    },
                }
            })
            .collect()
    });
    let i = slots().iter().position(|s| *s == slot).expect("a slot");
    &TEXTS[i]
}

/// Writes the sample lines of one slot.
struct Series<'a> {
    arena: &'a str,
    prefix: &'a str,
}

impl Series<'_> {
    /// `name{labels} ` — the caller appends the value and the newline.
    fn line(&self, out: &mut String, labels: &Span) {
        out.push_str(self.prefix);
        out.push_str(&self.arena[labels.clone()]);
        out.push_str("} ");
    }

    fn values<T>(
        &self,
        out: &mut String,
        num: &mut itoa::Buffer,
        objects: &[(Span, &T)],
        value: fn(&T) -> u64,
    ) {
        for (labels, obj) in objects {
            self.line(out, labels);
            out.push_str(num.format(value(obj)));
            out.push('\n');
        }
    }

    /// One sample per possible state, 1 for the current one; the state label is named like
    /// the family (prometheus spec §5.2). `?` (out of range) matches none.
    fn enumerated<T, S: Copy + PartialEq + EnumState>(
        &self,
        out: &mut String,
        slot: Slot,
        objects: &[(Span, &T)],
        all: &[S],
        state: impl Fn(&T) -> S,
    ) {
        let suffixes = &slot_text(slot).states;
        let all = all.iter().filter(|s| !s.is_out_of_range());
        for (labels, obj) in objects {
            let current = state(obj);
            for (s, suffix) in all.clone().zip(suffixes) {
                out.push_str(self.prefix);
                out.push_str(&self.arena[labels.clone()]);
                out.push_str(suffix);
                out.push_str(if *s == current { "1\n" } else { "0\n" });
            }
        }
    }

    /// One sample per object, value 1, with its current state in the `state` label.
    fn info<T>(
        &self,
        out: &mut String,
        objects: &[(Span, &T)],
        state: impl Fn(&T) -> &'static str,
    ) {
        for (labels, obj) in objects {
            out.push_str(self.prefix);
            out.push_str(&self.arena[labels.clone()]);
            out.push_str(",state=\"");
            out.push_str(state(obj));
            out.push_str("\"} 1\n");
        }
    }
}

fn float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN\n");
    } else {
        use std::fmt::Write;
        let _ = writeln!(out, "{v}");
    }
}

struct Writer<'o> {
    out: &'o mut String,
    num: itoa::Buffer,
}

impl Writer<'_> {
    fn header(&mut self, f: &Meta) {
        self.out.push_str("# TYPE ");
        self.out.push_str(f.name);
        self.out.push(' ');
        self.out.push_str(f.kind.as_str());
        self.out.push_str("\n# HELP ");
        self.out.push_str(f.name);
        self.out.push(' ');
        self.out.push_str(f.help);
        self.out.push('\n');
    }

    fn value(&mut self, v: u64) {
        self.out.push_str(self.num.format(v));
        self.out.push('\n');
    }

    fn float(&mut self, v: f64) {
        float(self.out, v)
    }

    fn reactor(&mut self, ctx: &RenderContext) {
        self.header(&BUILD_INFO);
        self.out.push_str(BUILD_INFO.name);
        self.out.push('{');
        label(self.out, "version", env!("CARGO_PKG_VERSION"));
        self.out.push(',');
        label(self.out, "compatible_with", COMPATIBLE_WITH);
        self.out.push_str("} 1\n");
        self.header(&VERSION_OK);
        self.out.push_str(VERSION_OK.name);
        self.out.push(' ');
        self.value(u64::from(ctx.versions.last_refresh_ok));
        let mut previous: Option<&str> = None;
        for sample in &ctx.reactor {
            let meta = Meta {
                name: sample.name,
                help: sample.help,
                kind: match sample.kind {
                    MetricKind::Counter => Kind::Counter,
                    MetricKind::Gauge => Kind::Gauge,
                },
            };
            // The rows of a labelled family are consecutive: one header for all of them.
            if previous != Some(sample.name) {
                self.header(&meta);
            }
            previous = Some(sample.name);
            self.out.push_str(meta.name);
            if !sample.labels.is_empty() {
                self.out.push('{');
                for (i, (k, v)) in sample.labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    label(self.out, k, v);
                }
                self.out.push('}');
            }
            self.out.push(' ');
            self.float(sample.value);
        }
    }
}

/// The vocabularies enum families iterate over.
pub trait EnumState {
    fn is_out_of_range(&self) -> bool;
    fn as_label(&self) -> &'static str;
}

macro_rules! enum_state {
    ($($t:ty),+) => {$(
        impl EnumState for $t {
            fn is_out_of_range(&self) -> bool {
                matches!(self, <$t>::OutOfRange)
            }
            fn as_label(&self) -> &'static str {
                self.as_str()
            }
        }
    )+};
}
enum_state!(Role, DiskState, ConnectionState, ReplicationState);
