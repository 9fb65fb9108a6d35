//! The state printed back as an initial dump: `exists` lines in drbdsetup's dump order
//! (events2 spec §2.7) followed by `exists -`, for the simulator, reconciliation tests and
//! property tests.
//!
//! Must never: lose a stored field (replaying the dump into an empty state gives an equal
//! state), or print a key drbdsetup would not print in an `exists` line.

use crate::event::*;
use crate::model::{Connection, Device, Path, PeerDevice, Resource};
use crate::state::State;

impl State {
    /// The state as `exists` lines, resource by resource in name order, ending with
    /// `exists -`. Applying them to an empty state rebuilds this state.
    pub fn dump(&self) -> Vec<Line> {
        let mut lines = Vec::new();
        for r in self.resources() {
            dump_resource(r, &mut lines);
        }
        lines.push(Line::new(None, Event::EndOfDump));
        lines
    }
}

/// Appends the `exists` lines of one resource: the resource, its connections, its devices,
/// then per connection its peer devices followed by its paths.
pub fn dump_resource(r: &Resource, out: &mut Vec<Line>) {
    let exists = |object| Line {
        timestamp: None,
        event: Event::Object {
            event_type: EventType::Exists,
            object,
        },
        unknown_values: Vec::new(),
    };
    out.push(exists(ObjectLine::Resource(resource_line(r))));
    for c in &r.connections {
        out.push(exists(ObjectLine::Connection(connection_line(&r.name, c))));
    }
    for d in &r.devices {
        out.push(exists(ObjectLine::Device(device_line(&r.name, d))));
    }
    for c in &r.connections {
        for p in &c.peer_devices {
            out.push(exists(ObjectLine::PeerDevice(peer_device_line(
                &r.name, c, p,
            ))));
        }
        for p in &c.paths {
            out.push(exists(ObjectLine::Path(path_line(&r.name, c, p))));
        }
    }
}

/// A `--full` resource line describing `r`.
pub fn resource_line(r: &Resource) -> ResourceLine {
    ResourceLine {
        name: r.name.to_string(),
        role: Some(r.role),
        suspended: Some(r.suspended),
        force_io_failures: Some(r.force_io_failures),
        write_ordering: r.write_ordering,
        may_promote: Some(r.may_promote),
        promotion_score: Some(r.promotion_score),
        unknown: Vec::new(),
    }
}

/// A `--full` device line describing `d` (with `blocked`, as on a new object).
pub fn device_line(resource: &str, d: &Device) -> DeviceLine {
    DeviceLine {
        name: resource.to_string(),
        volume: d.volume,
        minor: Some(d.minor),
        backing_dev: Some(match &d.backing_dev {
            None => BackingDev::None,
            Some(p) => BackingDev::Path(p.clone()),
        }),
        disk: Some(d.disk_state),
        client: Some(d.client),
        open: Some(d.open),
        quorum: Some(d.quorum),
        size: Some(d.size),
        read: Some(d.read),
        written: Some(d.written),
        al_writes: Some(d.al_writes),
        bm_writes: Some(d.bm_writes),
        upper_pending: Some(d.upper_pending),
        lower_pending: Some(d.lower_pending),
        al_suspended: Some(d.al_suspended),
        blocked: Some(d.blocked),
        unknown: Vec::new(),
    }
}

/// A `--full` connection line describing `c`.
pub fn connection_line(resource: &str, c: &Connection) -> ConnectionLine {
    ConnectionLine {
        name: resource.to_string(),
        peer_node_id: c.peer_node_id,
        conn_name: c.conn_name.to_string(),
        connection: Some(c.connection_state),
        role: Some(c.peer_role),
        congested: Some(c.congested),
        ap_in_flight: Some(c.ap_in_flight),
        rs_in_flight: Some(c.rs_in_flight),
        unknown: Vec::new(),
    }
}

/// A `--full` peer-device line describing `p` (with its progress keys while a resync runs).
pub fn peer_device_line(resource: &str, c: &Connection, p: &PeerDevice) -> PeerDeviceLine {
    PeerDeviceLine {
        name: resource.to_string(),
        peer_node_id: c.peer_node_id,
        conn_name: c.conn_name.to_string(),
        volume: p.volume,
        replication: Some(p.replication_state),
        peer_disk: Some(p.peer_disk_state),
        peer_client: Some(p.peer_client),
        resync_suspended: Some(p.resync_suspended),
        received: Some(p.received),
        sent: Some(p.sent),
        out_of_sync: Some(p.out_of_sync),
        pending: Some(p.pending),
        unacked: Some(p.unacked),
        progress: p.progress.clone(),
        unknown: Vec::new(),
    }
}

/// A path line describing `p`.
pub fn path_line(resource: &str, c: &Connection, p: &Path) -> PathLine {
    PathLine {
        name: resource.to_string(),
        peer_node_id: c.peer_node_id,
        conn_name: c.conn_name.to_string(),
        local: p.endpoints.local.clone(),
        peer: p.endpoints.peer.clone(),
        established: Some(p.established),
        unknown: Vec::new(),
    }
}
