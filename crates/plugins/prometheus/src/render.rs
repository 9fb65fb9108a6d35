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
struct Objects<'a> {
    arena: String,
    resources: Vec<(Span, &'a Resource)>,
    connections: Vec<(Span, &'a Connection)>,
    peer_devices: Vec<(Span, &'a PeerDevice)>,
    devices: Vec<(Span, &'a Device)>,
    paths: Vec<(Span, bool)>,
}

/// A label set in the arena.
type Span = std::ops::Range<usize>;

fn collect<'a>(resources: impl Iterator<Item = &'a Resource>) -> Objects<'a> {
    let mut o = Objects {
        arena: String::new(),
        resources: Vec::new(),
        connections: Vec::new(),
        peer_devices: Vec::new(),
        devices: Vec::new(),
        paths: Vec::new(),
    };
    let mut num = itoa::Buffer::new();
    let a = &mut o.arena;
    // Appends a copy of `prefix` plus `,key="value"` pairs and returns the new span.
    fn extend(a: &mut String, prefix: &Span, pairs: &[(&str, &str)]) -> Span {
        let start = a.len();
        a.extend_from_within(prefix.clone());
        for (k, v) in pairs {
            a.push(',');
            label(a, k, v);
        }
        start..a.len()
    }
    for r in resources {
        let start = a.len();
        label(a, "name", &r.name);
        let rl = start..a.len();
        for c in &r.connections {
            let id = num.format(c.peer_node_id).to_string();
            let cl = extend(
                a,
                &rl,
                &[("conn_name", &c.conn_name), ("peer_node_id", &id)],
            );
            for p in &c.peer_devices {
                let pl = extend(a, &cl, &[("volume", num.format(p.volume))]);
                o.peer_devices.push((pl, p));
            }
            for p in &c.paths {
                let (local, peer) = (p.endpoints.local.to_string(), p.endpoints.peer.to_string());
                let pl = extend(a, &cl, &[("local", &local), ("peer", &peer)]);
                o.paths.push((pl, p.established));
            }
            o.connections.push((cl, c));
        }
        for d in &r.devices {
            let minor = num.format(d.minor).to_string();
            let dl = extend(
                a,
                &rl,
                &[("volume", num.format(d.volume)), ("minor", &minor)],
            );
            o.devices.push((dl, d));
        }
        o.resources.push((rl, r));
    }
    o
}

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

/// Writes the body for `resources` (iterated in name order) into `out`.
pub fn render<'a>(
    resources: impl Iterator<Item = &'a Resource>,
    ctx: &RenderContext,
    out: &mut String,
) {
    let o = collect(resources);
    let mut w = Writer {
        out,
        arena: &o.arena,
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
    w.value(o.resources.len() as u64);

    if ctx.enums {
        w.enum_family(&RESOURCE_ROLE, &o.resources, Role::ALL, |r| r.role);
    }
    for f in RESOURCE_FAMILIES {
        w.family(f, &o.resources);
    }
    if ctx.enums {
        w.enum_family(
            &CONNECTION_STATE,
            &o.connections,
            ConnectionState::ALL,
            |c| c.connection_state,
        );
    }
    for f in PEER_DEVICE_FAMILIES {
        w.family(f, &o.peer_devices);
    }
    for f in CONNECTION_FAMILIES {
        w.family(f, &o.connections);
    }
    if ctx.enums {
        w.enum_family(&DEVICE_STATE, &o.devices, DiskState::ALL, |d| d.disk_state);
    }
    for f in DEVICE_FAMILIES {
        w.family(f, &o.devices);
    }

    // Our additions: new names only.
    for f in NEW_PEER_DEVICE_FAMILIES {
        w.family(f, &o.peer_devices);
    }
    w.progress(&o.peer_devices);
    w.info_family(&PEER_DEVICE_REPLICATION_STATE, &o.peer_devices, |p| {
        p.replication_state.as_str()
    });
    w.info_family(&PEER_DEVICE_PEER_DISK_STATE, &o.peer_devices, |p| {
        p.peer_disk_state.as_str()
    });
    w.info_family(&CONNECTION_PEER_ROLE, &o.connections, |c| {
        c.peer_role.as_str()
    });
    if !o.paths.is_empty() {
        w.header(&PATH_ESTABLISHED);
        for (labels, established) in &o.paths {
            w.sample(
                PATH_ESTABLISHED.name,
                &o.arena[labels.clone()],
                u64::from(*established),
            );
        }
    }
    w.reactor(ctx);
}

struct Writer<'o> {
    out: &'o mut String,
    arena: &'o str,
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

    /// `name{labels} value`
    fn sample(&mut self, name: &str, labels: &str, v: u64) {
        self.out.push_str(name);
        self.out.push('{');
        self.out.push_str(labels);
        self.out.push_str("} ");
        self.value(v);
    }

    fn family<T>(&mut self, f: &Family<T>, objects: &[(Span, &T)]) {
        if objects.is_empty() {
            return;
        }
        self.header(&f.meta);
        let prefix = format!("{}{{", f.meta.name);
        let (out, arena) = (&mut *self.out, self.arena);
        for (labels, obj) in objects {
            out.push_str(&prefix);
            out.push_str(&arena[labels.clone()]);
            out.push_str("} ");
            out.push_str(self.num.format((f.value)(obj)));
            out.push('\n');
        }
    }

    /// One sample per possible state, 1 for the current one; the state label is named like
    /// the family (prometheus spec §5.2). `?` (out of range) matches none.
    fn enum_family<T, S: Copy + PartialEq + EnumState>(
        &mut self,
        f: &Meta,
        objects: &[(Span, &T)],
        all: &[S],
        state: impl Fn(&T) -> S,
    ) {
        if objects.is_empty() {
            return;
        }
        self.header(f);
        let prefix = format!("{}{{", f.name);
        // `,<family>="<State>"} ` for each state, built once per scrape.
        let suffixes: Vec<(S, String)> = all
            .iter()
            .filter(|s| !s.is_out_of_range())
            .map(|s| (*s, format!(",{}=\"{}\"}} ", f.name, s.as_label())))
            .collect();
        let (out, arena) = (&mut *self.out, self.arena);
        for (labels, obj) in objects {
            let current = state(obj);
            for (s, suffix) in &suffixes {
                out.push_str(&prefix);
                out.push_str(&arena[labels.clone()]);
                out.push_str(suffix);
                out.push_str(if *s == current { "1\n" } else { "0\n" });
            }
        }
    }

    /// One sample per object, value 1, with its current state in the `state` label.
    fn info_family<T>(
        &mut self,
        f: &Meta,
        objects: &[(Span, &T)],
        state: impl Fn(&T) -> &'static str,
    ) {
        if objects.is_empty() {
            return;
        }
        self.header(f);
        let prefix = format!("{}{{", f.name);
        let (out, arena) = (&mut *self.out, self.arena);
        for (labels, obj) in objects {
            out.push_str(&prefix);
            out.push_str(&arena[labels.clone()]);
            out.push_str(",state=\"");
            out.push_str(state(obj));
            out.push_str("\"} 1\n");
        }
    }

    fn progress(&mut self, peer_devices: &[(Span, &PeerDevice)]) {
        let arena = self.arena;
        let done: Vec<_> = peer_devices
            .iter()
            .filter_map(|(l, p)| {
                p.progress
                    .as_deref()
                    .and_then(|g| g.done)
                    .map(|d| (&arena[l.clone()], d))
            })
            .collect();
        if !done.is_empty() {
            self.header(&RESYNC_DONE);
            for (labels, d) in done {
                self.float_sample(RESYNC_DONE.name, labels, d.as_f64() / 100.0);
            }
        }
        let eta: Vec<_> = peer_devices
            .iter()
            .filter_map(|(l, p)| {
                p.progress
                    .as_deref()
                    .and_then(|g| g.eta)
                    .map(|e| (&arena[l.clone()], e))
            })
            .collect();
        if !eta.is_empty() {
            self.header(&RESYNC_ETA);
            for (labels, e) in eta {
                match e {
                    drbd::values::Eta::Seconds(s) => self.sample(RESYNC_ETA.name, labels, s),
                    drbd::values::Eta::Unknown => {
                        self.float_sample(RESYNC_ETA.name, labels, f64::NAN)
                    }
                }
            }
        }
    }

    fn float_sample(&mut self, name: &str, labels: &str, v: f64) {
        self.out.push_str(name);
        self.out.push('{');
        self.out.push_str(labels);
        self.out.push_str("} ");
        self.float(v);
    }

    fn float(&mut self, v: f64) {
        if v.is_nan() {
            self.out.push_str("NaN\n");
        } else {
            use std::fmt::Write;
            let _ = writeln!(self.out, "{v}");
        }
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
