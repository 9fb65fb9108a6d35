//! Resuming after drbdsetup restarted: compare the known state with the state described by
//! the new child's initial dump, and produce only the updates for real differences, so
//! plugins need not be restarted (the original restarted all of them, events2 spec §1.5).
//!
//! Must never: emit an update for an object whose matchable fields did not change, or miss
//! an object that vanished while no child was running.

use crate::event::EventType;
use crate::model::{Connection, Resource};
use crate::replay::announce;
use crate::state::{object_update, State};
use crate::update::*;
use std::sync::Arc;

impl State {
    /// Replaces this state by `fresh` (the state built from a new initial dump) and pushes the
    /// updates that turn the old view into the new one: `Destroy` for vanished objects,
    /// `Create` for new ones and `Change` where a matchable field differs.
    pub fn reconcile(&mut self, fresh: State, out: &mut Vec<PluginUpdate>) {
        let old = self.take_resources();
        let mut fresh = fresh;
        let mut new = fresh.take_resources();
        for (name, o) in &old {
            if !new.contains_key(name) {
                out.push(object_update(
                    EventType::Destroy,
                    Change::Resource(Diff {
                        old: ResourceFields::from(&**o),
                        new: ResourceFields::default(),
                    }),
                    Arc::clone(o),
                ));
            }
        }
        for (name, n) in new.iter_mut() {
            match old.get(name) {
                None => announce(n, EventType::Create, out),
                // Unchanged resources keep their old Arc, still shared with earlier snapshots.
                Some(o) if o == n => *n = Arc::clone(o),
                Some(o) => diff_resource(o, n, out),
            }
        }
        self.set_resources(new);
    }
}

fn diff_resource(o: &Resource, n: &Arc<Resource>, out: &mut Vec<PluginUpdate>) {
    let push = |out: &mut Vec<PluginUpdate>, event_type, change| {
        out.push(object_update(event_type, change, Arc::clone(n)))
    };
    // Vanished objects first, children before parents.
    for oc in &o.connections {
        match n.connection(oc.peer_node_id) {
            None => push(
                out,
                EventType::Destroy,
                Change::Connection {
                    peer_node_id: oc.peer_node_id,
                    diff: Diff {
                        old: ConnectionFields::from(oc),
                        new: ConnectionFields {
                            conn_name: oc.conn_name.clone(),
                            ..ConnectionFields::default()
                        },
                    },
                },
            ),
            Some(nc) => {
                for op in &oc.peer_devices {
                    if nc.peer_devices.get(&op.volume).is_none() {
                        push(
                            out,
                            EventType::Destroy,
                            Change::PeerDevice {
                                volume: op.volume,
                                peer_node_id: oc.peer_node_id,
                                diff: Diff {
                                    old: PeerDeviceFields::from(op),
                                    new: PeerDeviceFields::default(),
                                },
                            },
                        );
                    }
                }
            }
        }
    }
    for od in &o.devices {
        if n.device(od.volume).is_none() {
            push(
                out,
                EventType::Destroy,
                Change::Device {
                    volume: od.volume,
                    diff: Diff {
                        old: DeviceFields::from(od),
                        new: DeviceFields::default(),
                    },
                },
            );
        }
    }
    let (old_fields, new_fields) = (ResourceFields::from(o), ResourceFields::from(&**n));
    if old_fields != new_fields {
        push(
            out,
            EventType::Change,
            Change::Resource(Diff {
                old: old_fields,
                new: new_fields,
            }),
        );
    }
    for nd in &n.devices {
        let (event_type, old) = match o.device(nd.volume) {
            None => (EventType::Create, DeviceFields::default()),
            Some(od) => (EventType::Change, DeviceFields::from(od)),
        };
        let new = DeviceFields::from(nd);
        if event_type == EventType::Create || old != new {
            push(
                out,
                event_type,
                Change::Device {
                    volume: nd.volume,
                    diff: Diff { old, new },
                },
            );
        }
    }
    for nc in &n.connections {
        let oc = o.connection(nc.peer_node_id);
        diff_connection(oc, nc, out, &push);
    }
}

fn diff_connection(
    oc: Option<&Connection>,
    nc: &Connection,
    out: &mut Vec<PluginUpdate>,
    push: &impl Fn(&mut Vec<PluginUpdate>, EventType, Change),
) {
    let (event_type, old) = match oc {
        None => (EventType::Create, ConnectionFields::default()),
        Some(oc) => (EventType::Change, ConnectionFields::from(oc)),
    };
    let new = ConnectionFields::from(nc);
    if event_type == EventType::Create || old != new {
        push(
            out,
            event_type,
            Change::Connection {
                peer_node_id: nc.peer_node_id,
                diff: Diff { old, new },
            },
        );
    }
    for np in &nc.peer_devices {
        let (event_type, old) = match oc.and_then(|oc| oc.peer_devices.get(&np.volume)) {
            None => (EventType::Create, PeerDeviceFields::default()),
            Some(op) => (EventType::Change, PeerDeviceFields::from(op)),
        };
        let new = PeerDeviceFields::from(np);
        if event_type == EventType::Create || old != new {
            push(
                out,
                event_type,
                Change::PeerDevice {
                    volume: np.volume,
                    peer_node_id: nc.peer_node_id,
                    diff: Diff { old, new },
                },
            );
        }
    }
}
