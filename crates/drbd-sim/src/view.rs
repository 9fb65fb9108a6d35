//! What one node's kernel reports: every object of every resource as a complete events2
//! line (all keys present), plus `may_promote`/`promotion_score` computed as drbdsetup does
//! (events2 spec appendix A).
//!
//! Must never: decide what is printed (that is the printer's job) or read a clock.

use drbd::event::{ConnectionLine, DeviceLine, PathLine, PeerDeviceLine, ResourceLine};
use drbd::vocab::{DiskState, Role};
use std::collections::BTreeMap;

/// One connection with its peer devices and paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnView {
    pub conn: ConnectionLine,
    pub peer_devices: BTreeMap<u32, PeerDeviceLine>,
    pub paths: Vec<PathLine>,
}

/// One resource as the kernel of one node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResView {
    pub resource: ResourceLine,
    pub devices: BTreeMap<u32, DeviceLine>,
    /// By peer node id.
    pub connections: BTreeMap<u32, ConnView>,
}

/// Every resource of one node, by name.
pub type NodeView = BTreeMap<String, ResView>;

impl ResView {
    /// Sets `may_promote` and `promotion_score` from the rest of the view.
    pub fn derive_promotion(&mut self) {
        let (may, score) = promotion(self);
        self.resource.may_promote = Some(may);
        self.resource.promotion_score = Some(score);
    }
}

/// drbdsetup's `may_promote` and `promotion_score` for a resource (appendix A).
pub fn promotion(r: &ResView) -> (bool, u32) {
    if r.devices.is_empty() || r.resource.force_io_failures == Some(true) {
        return (false, 0);
    }
    if r.devices.values().any(|d| d.quorum == Some(false)) {
        return (false, 0);
    }
    let mut min_replicas = u32::MAX;
    let mut local_uptodate = 0u32;
    let mut all_local_have_data = true;
    for (vol, d) in &r.devices {
        let local = d.disk == Some(DiskState::UpToDate);
        local_uptodate += u32::from(local);
        if !matches!(
            d.disk,
            Some(DiskState::UpToDate | DiskState::Consistent | DiskState::Inconsistent)
        ) {
            all_local_have_data = false;
        }
        let peers = r
            .connections
            .values()
            .filter_map(|c| c.peer_devices.get(vol))
            .filter(|pd| pd.peer_disk == Some(DiskState::UpToDate))
            .count() as u32;
        min_replicas = min_replicas.min(u32::from(local) + peers);
    }
    if min_replicas == 0 {
        return (false, 0);
    }
    let someone_primary = r.resource.role == Some(Role::Primary)
        || r.connections
            .values()
            .any(|c| c.conn.role == Some(Role::Primary));
    let score = 10000 * u32::from(all_local_have_data)
        + 100 * local_uptodate.min(99)
        + min_replicas.min(99);
    (!someone_primary, score)
}
