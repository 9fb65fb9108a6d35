//! Facts about one resource read from two snapshots (before and after an update): once per
//! resource transition, not once per volume (spec §12.9), and robust to objects that appear
//! or vanish (a device that is destroyed did not "lose quorum").
//!
//! Must never: decide anything; the machine does.

use drbd::vocab::{DiskState, Role};
use drbd::Resource;

/// The name of a peer that is Primary (empty names are reported as their node id).
pub fn primary_peer(r: &Resource) -> Option<String> {
    r.connections
        .iter()
        .find(|c| c.peer_role == Role::Primary)
        .map(|c| {
            if c.conn_name.is_empty() {
                format!("node {}", c.peer_node_id)
            } else {
                c.conn_name.to_string()
            }
        })
}

/// A volume present in both snapshots went from quorum to no quorum.
pub fn lost_quorum(old: &Resource, new: &Resource) -> bool {
    new.devices
        .iter()
        .any(|d| !d.quorum && old.device(d.volume).is_some_and(|o| o.quorum))
}

/// Some volume has no quorum now.
pub fn without_quorum(r: &Resource) -> bool {
    r.devices.iter().any(|d| !d.quorum)
}

/// Every volume has quorum now, and a volume present before did not.
pub fn regained_quorum(old: &Resource, new: &Resource) -> bool {
    !new.devices.is_empty()
        && new.devices.iter().all(|d| d.quorum)
        && new
            .devices
            .iter()
            .any(|d| old.device(d.volume).is_some_and(|o| !o.quorum))
}

/// A non-client volume present in both snapshots lost its local disk.
pub fn lost_disk(old: &Resource, new: &Resource) -> bool {
    new.devices.iter().any(|d| {
        d.disk_state == DiskState::Diskless
            && !d.client.is_yes()
            && old
                .device(d.volume)
                .is_some_and(|o| o.disk_state != DiskState::Diskless && !o.client.is_yes())
    })
}

/// A peer with a disk holds UpToDate data of some volume (somewhere to fail over to).
pub fn uptodate_peer(r: &Resource) -> Option<String> {
    r.connections
        .iter()
        .find(|c| {
            c.peer_devices
                .iter()
                .any(|p| !p.peer_client.is_yes() && p.peer_disk_state == DiskState::UpToDate)
        })
        .map(|c| c.conn_name.to_string())
}

fn all_uptodate(r: &Resource, peer_node_id: u32) -> bool {
    r.connection(peer_node_id).is_some_and(|c| {
        !c.peer_devices.is_empty()
            && c.peer_devices
                .iter()
                .all(|p| p.peer_disk_state == DiskState::UpToDate)
    })
}

/// Connected peers whose every volume is UpToDate now.
pub fn uptodate_peers(r: &Resource) -> Vec<String> {
    r.connections
        .iter()
        .filter(|c| all_uptodate(r, c.peer_node_id))
        .map(|c| c.conn_name.to_string())
        .collect()
}

/// Peers whose every volume became UpToDate with this update (§12.20: the whole resource,
/// not the first volume).
pub fn newly_uptodate_peers(old: &Resource, new: &Resource) -> Vec<String> {
    new.connections
        .iter()
        .filter(|c| all_uptodate(new, c.peer_node_id) && !all_uptodate(old, c.peer_node_id))
        .map(|c| c.conn_name.to_string())
        .collect()
}
