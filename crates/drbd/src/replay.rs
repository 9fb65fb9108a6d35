//! Announcing known resources as updates: the replay for a newly started plugin, and the
//! objects of a renamed resource.
//!
//! Must never: leave out peer devices (quirk Q2 of the original, fixed) or hand out partial
//! snapshots: every update carries the full current resource.

use crate::event::EventType;
use crate::model::Resource;
use crate::state::{object_update, State};
use crate::update::*;
use std::sync::Arc;

/// Pushes updates that describe `resource` from nothing: the resource, its devices (by
/// volume), its connections (by peer node id) and their peer devices, all with default `old`.
pub fn announce(resource: &Arc<Resource>, event_type: EventType, out: &mut Vec<PluginUpdate>) {
    let r = resource;
    out.push(object_update(
        event_type,
        Change::Resource(Diff {
            old: ResourceFields::default(),
            new: ResourceFields::from(&**r),
        }),
        Arc::clone(r),
    ));
    for d in &r.devices {
        out.push(object_update(
            event_type,
            Change::Device {
                volume: d.volume,
                diff: Diff {
                    old: DeviceFields::default(),
                    new: DeviceFields::from(d),
                },
            },
            Arc::clone(r),
        ));
    }
    for c in &r.connections {
        out.push(object_update(
            event_type,
            Change::Connection {
                peer_node_id: c.peer_node_id,
                diff: Diff {
                    old: ConnectionFields::default(),
                    new: ConnectionFields::from(c),
                },
            },
            Arc::clone(r),
        ));
        for p in &c.peer_devices {
            out.push(object_update(
                event_type,
                Change::PeerDevice {
                    volume: p.volume,
                    peer_node_id: c.peer_node_id,
                    diff: Diff {
                        old: PeerDeviceFields::default(),
                        new: PeerDeviceFields::from(p),
                    },
                },
                Arc::clone(r),
            ));
        }
    }
}

impl State {
    /// The current state as `Exists` updates, for a plugin that starts now.
    pub fn replay(&self, out: &mut Vec<PluginUpdate>) {
        for r in self.resources() {
            announce(r, EventType::Exists, out);
        }
    }
}
