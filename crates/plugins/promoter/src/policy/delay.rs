//! The promotion delay (spec §6.5): nodes with worse data, less preferred nodes and nodes
//! that should give a frozen Primary time to come back wait longer before racing. The table
//! and formula are a contract: mixed clusters race against the original.
//!
//! Must never: depend on anything but its arguments.

use super::SplitBrainPolicy;
use crate::config::{QuorumLoss, ResourceConfig};
use drbd::vocab::{ConnectionState, DiskState, Role};
use drbd::Resource;
use std::time::Duration;

/// Seconds a local disk state adds.
pub fn disk_seconds(d: DiskState) -> u64 {
    match d {
        DiskState::UpToDate => 0,
        DiskState::Consistent => 1,
        DiskState::Outdated => 2,
        DiskState::Inconsistent => 3,
        _ => 6,
    }
}

/// Position of this node in `preferred-nodes`: its index, the list's length when not listed,
/// 0 for an empty list or an unknown node name.
pub fn preference_position(preferred: &[String], node: Option<&str>) -> u64 {
    if preferred.is_empty() {
        return 0;
    }
    match node {
        None => 0,
        Some(n) => preferred
            .iter()
            .position(|p| p == n)
            .unwrap_or(preferred.len()) as u64,
    }
}

/// The delay before racing for promotion. `configured_diskless`: `drbdadm sh-ll-dev` listed
/// `none` (used while the snapshot has no volumes yet).
pub fn promotion_delay(
    cfg: &ResourceConfig,
    policy: SplitBrainPolicy,
    resource: &Resource,
    node: Option<&str>,
    configured_diskless: bool,
) -> Duration {
    let disk = if resource.devices.is_empty() {
        if configured_diskless {
            6
        } else {
            0
        }
    } else {
        resource
            .devices
            .iter()
            .map(|d| disk_seconds(d.disk_state))
            .max()
            .unwrap_or(0)
    };
    let pref = preference_position(&cfg.preferred_nodes, node);
    let pol = match policy {
        SplitBrainPolicy::Fencing => resource
            .connections
            .iter()
            .map(|c| {
                if c.connection_state == ConnectionState::Connected {
                    0
                } else {
                    cfg.fencing_promote_delay
                }
            })
            .max()
            .unwrap_or(0),
        SplitBrainPolicy::Quorum => {
            if cfg.on_quorum_loss == QuorumLoss::Freeze && resource.role == Role::Secondary {
                2
            } else {
                0
            }
        }
    };
    Duration::from_millis(
        (disk + pref + pol)
            .saturating_mul(1000)
            .saturating_mul(u64::from(cfg.sleep_before_promote_factor)),
    )
}
