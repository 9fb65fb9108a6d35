//! A simple independent model of the state (events2 spec §4.3 with merging and the Q5/Q17
//! decisions), and the view of matchable fields that change plugins keep.

use drbd::event::*;
use drbd::update::*;
use drbd::values::Address;
use drbd::{Connection, Device, Path, PeerDevice, PluginUpdate, Resource, State};
use std::collections::BTreeMap;

#[derive(Default, Clone)]
pub struct MConnection {
    pub fields: Connection,
    pub peer_devices: BTreeMap<u32, PeerDevice>,
    pub paths: BTreeMap<(Address, Address), Path>,
}

#[derive(Default, Clone)]
pub struct MResource {
    pub fields: Resource,
    pub devices: BTreeMap<u32, Device>,
    pub connections: BTreeMap<u32, MConnection>,
}

pub fn set<T>(field: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *field = v;
    }
}

/// How the spec says a line changes the state (§4.3 with merging, Q5 and Q17 decisions).
pub fn model_apply(
    m: &mut BTreeMap<String, MResource>,
    event_type: EventType,
    object: &ObjectLine,
) {
    let name = object.resource_name().to_string();
    if event_type == EventType::Destroy {
        let Some(r) = m.get_mut(&name) else { return };
        match object {
            ObjectLine::Resource(_) => {
                m.remove(&name);
            }
            ObjectLine::Device(l) => {
                r.devices.remove(&l.volume);
            }
            ObjectLine::Connection(l) => {
                r.connections.remove(&l.peer_node_id);
            }
            ObjectLine::PeerDevice(l) => {
                if let Some(c) = r.connections.get_mut(&l.peer_node_id) {
                    c.peer_devices.remove(&l.volume);
                }
            }
            ObjectLine::Path(l) => {
                if let Some(c) = r.connections.get_mut(&l.peer_node_id) {
                    c.paths.remove(&(l.local.clone(), l.peer.clone()));
                }
            }
        }
        return;
    }
    let r = m.entry(name.clone()).or_insert_with(|| MResource {
        fields: Resource::new(name),
        ..MResource::default()
    });
    let placeholder = |peer_node_id: u32, conn_name: &str| MConnection {
        fields: Connection {
            peer_node_id,
            conn_name: conn_name.into(),
            ..Connection::default()
        },
        ..MConnection::default()
    };
    match object {
        ObjectLine::Resource(l) => {
            let f = &mut r.fields;
            set(&mut f.role, l.role);
            set(&mut f.suspended, l.suspended);
            set(&mut f.force_io_failures, l.force_io_failures);
            if l.write_ordering.is_some() {
                f.write_ordering = l.write_ordering;
            }
            set(&mut f.may_promote, l.may_promote);
            set(&mut f.promotion_score, l.promotion_score);
        }
        ObjectLine::Device(l) => {
            let d = r.devices.entry(l.volume).or_insert_with(|| Device {
                volume: l.volume,
                ..Device::default()
            });
            set(&mut d.minor, l.minor);
            match &l.backing_dev {
                Some(BackingDev::None) => d.backing_dev = None,
                Some(BackingDev::Path(p)) => d.backing_dev = Some(p.clone()),
                None => {}
            }
            set(&mut d.disk_state, l.disk);
            set(&mut d.client, l.client);
            set(&mut d.open, l.open);
            set(&mut d.quorum, l.quorum);
            set(&mut d.size, l.size);
            set(&mut d.read, l.read);
            set(&mut d.written, l.written);
            set(&mut d.al_writes, l.al_writes);
            set(&mut d.bm_writes, l.bm_writes);
            set(&mut d.upper_pending, l.upper_pending);
            set(&mut d.lower_pending, l.lower_pending);
            set(&mut d.al_suspended, l.al_suspended);
            set(&mut d.blocked, l.blocked);
        }
        ObjectLine::Connection(l) => {
            let c = r
                .connections
                .entry(l.peer_node_id)
                .or_insert_with(|| placeholder(l.peer_node_id, ""));
            let f = &mut c.fields;
            f.conn_name = l.conn_name.as_str().into();
            set(&mut f.connection_state, l.connection);
            set(&mut f.peer_role, l.role);
            set(&mut f.congested, l.congested);
            set(&mut f.ap_in_flight, l.ap_in_flight);
            set(&mut f.rs_in_flight, l.rs_in_flight);
        }
        ObjectLine::PeerDevice(l) => {
            let c = r
                .connections
                .entry(l.peer_node_id)
                .or_insert_with(|| placeholder(l.peer_node_id, &l.conn_name));
            let p = c
                .peer_devices
                .entry(l.volume)
                .or_insert_with(|| PeerDevice {
                    volume: l.volume,
                    ..PeerDevice::default()
                });
            set(&mut p.replication_state, l.replication);
            set(&mut p.peer_disk_state, l.peer_disk);
            set(&mut p.peer_client, l.peer_client);
            set(&mut p.resync_suspended, l.resync_suspended);
            set(&mut p.received, l.received);
            set(&mut p.sent, l.sent);
            set(&mut p.out_of_sync, l.out_of_sync);
            set(&mut p.pending, l.pending);
            set(&mut p.unacked, l.unacked);
            if l.has_statistics() {
                p.progress = l.progress.clone();
            } else if l
                .replication
                .is_some_and(|s| !(s.is_resync() || s.is_verify()))
            {
                p.progress = None;
            }
        }
        ObjectLine::Path(l) => {
            let c = r
                .connections
                .entry(l.peer_node_id)
                .or_insert_with(|| placeholder(l.peer_node_id, &l.conn_name));
            let key = (l.local.clone(), l.peer.clone());
            let p = c.paths.entry(key).or_insert_with(|| Path {
                endpoints: drbd::model::PathEndpoints {
                    local: l.local.clone(),
                    peer: l.peer.clone(),
                },
                established: false,
            });
            set(&mut p.established, l.established);
        }
    }
}

pub fn model_resources(m: &BTreeMap<String, MResource>) -> Vec<Resource> {
    m.values()
        .map(|r| {
            let mut res = r.fields.clone();
            res.devices = r.devices.values().cloned().collect();
            res.connections = r
                .connections
                .values()
                .map(|c| {
                    let mut conn = c.fields.clone();
                    conn.peer_devices = c.peer_devices.values().cloned().collect();
                    conn.paths = c.paths.values().cloned().collect();
                    conn
                })
                .collect();
            res
        })
        .collect()
}

pub fn state_resources(s: &State) -> Vec<Resource> {
    s.resources().map(|r| (**r).clone()).collect()
}

/// What change plugins know about each object: its matchable fields by identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Resource(String),
    Device(String, u32),
    Connection(String, u32),
    PeerDevice(String, u32, u32),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fields {
    Resource(ResourceFields),
    Device(DeviceFields),
    Connection(ConnectionFields),
    PeerDevice(PeerDeviceFields),
}

pub type View = BTreeMap<Key, Fields>;

pub fn view(s: &State) -> View {
    let mut v = View::new();
    for r in s.resources() {
        let n = r.name.to_string();
        v.insert(Key::Resource(n.clone()), Fields::Resource((&**r).into()));
        for d in &r.devices {
            v.insert(Key::Device(n.clone(), d.volume), Fields::Device(d.into()));
        }
        for c in &r.connections {
            v.insert(
                Key::Connection(n.clone(), c.peer_node_id),
                Fields::Connection(c.into()),
            );
            for p in &c.peer_devices {
                v.insert(
                    Key::PeerDevice(n.clone(), c.peer_node_id, p.volume),
                    Fields::PeerDevice(p.into()),
                );
            }
        }
    }
    v
}

/// Applies updates to a view: checks each `old` against the view, then stores `new` (or
/// removes the object and, for resources and connections, its children on Destroy).
pub fn apply_updates(v: &mut View, updates: &[PluginUpdate]) -> Result<(), String> {
    for u in updates {
        let PluginUpdate::Object(o) = u else {
            return Err(format!("unexpected {u:?}"));
        };
        let n = o.resource_name().to_string();
        let (key, old, new) = match &o.change {
            Change::Resource(d) => (
                Key::Resource(n.clone()),
                Fields::Resource(d.old),
                Fields::Resource(d.new),
            ),
            Change::Device { volume, diff } => (
                Key::Device(n.clone(), *volume),
                Fields::Device(diff.old),
                Fields::Device(diff.new),
            ),
            Change::Connection { peer_node_id, diff } => (
                Key::Connection(n.clone(), *peer_node_id),
                Fields::Connection(diff.old.clone()),
                Fields::Connection(diff.new.clone()),
            ),
            Change::PeerDevice {
                volume,
                peer_node_id,
                diff,
            } => (
                Key::PeerDevice(n.clone(), *peer_node_id, *volume),
                Fields::PeerDevice(diff.old),
                Fields::PeerDevice(diff.new),
            ),
        };
        match o.event_type {
            EventType::Destroy => {
                if v.get(&key) != Some(&old) {
                    return Err(format!(
                        "destroy of {key:?}: old {old:?} is not {:?}",
                        v.get(&key)
                    ));
                }
                v.remove(&key);
                v.retain(|k, _| match (&key, k) {
                    (Key::Resource(r), k) => !matches!(k,
                        Key::Device(x, _) | Key::Connection(x, _) | Key::PeerDevice(x, _, _) if x == r),
                    (Key::Connection(r, c), Key::PeerDevice(x, y, _)) => !(x == r && y == c),
                    _ => true,
                });
            }
            EventType::Change => {
                if v.get(&key) != Some(&old) {
                    return Err(format!(
                        "change of {key:?}: old {old:?} is not {:?}",
                        v.get(&key)
                    ));
                }
                v.insert(key, new);
            }
            EventType::Create | EventType::Exists => {
                if v.contains_key(&key) {
                    return Err(format!("create of known {key:?}"));
                }
                v.insert(key, new);
            }
        }
    }
    Ok(())
}
