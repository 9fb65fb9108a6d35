//! The campaign's cluster: three nodes, three resources, and the promoter configuration of
//! each resource; plus the two facts the checks read from a node's view (role, quorum).
//!
//! Must never: hold state; everything here is a constant or a pure function of a view.

use drbd::vocab::Role;
use drbd_reactor_promoter::config::{DiskDetach, QuorumLoss, ResourceConfig};
use drbd_sim::config::{ClusterConfig, OnNoQuorum, VolumeConfig};
use drbd_sim::view::NodeView;

pub const NODES: [&str; 3] = ["alpha", "beta", "gamma"];
pub const RESOURCES: [&str; 3] = ["r0", "r1", "r2"];
/// How long a slow start or stop takes.
pub const SLOW_MS: u64 = 30_000;

/// The promoter configuration of each resource: r0 prefers alpha then beta and fails back,
/// r1 prefers gamma, freezes on quorum loss and fails over on disk loss, r2 has no preference.
pub fn promoter_config(res: usize) -> ResourceConfig {
    let mut c = ResourceConfig {
        start: vec!["app.service".into()],
        ..ResourceConfig::default()
    };
    match res {
        0 => c.preferred_nodes = vec!["alpha".into(), "beta".into()],
        1 => {
            c.preferred_nodes = vec!["gamma".into()];
            c.on_quorum_loss = QuorumLoss::Freeze;
            c.on_disk_detach = DiskDetach::FailOver;
        }
        _ => {}
    }
    c
}

/// The DRBD side: three nodes, three resources with quorum majority; shutdown resources
/// use `on-no-quorum io-error`, the freeze resource `suspend-io` (as the promoter's guide says).
pub fn cluster_config() -> ClusterConfig {
    let mut c = ClusterConfig::simple(&NODES, "r0");
    let template = c.resources[0].clone();
    c.resources.clear();
    for (i, name) in RESOURCES.iter().enumerate() {
        let mut r = template.clone();
        r.name = name.to_string();
        r.port = 7789 + i as u16;
        r.volumes = vec![VolumeConfig {
            number: 0,
            minor: 1000 + i as u32,
            size: 65_536,
            disk: format!("/dev/vg/{name}"),
        }];
        r.options.on_no_quorum = if promoter_config(i).on_quorum_loss == QuorumLoss::Freeze {
            OnNoQuorum::SuspendIo
        } else {
            OnNoQuorum::IoError
        };
        c.resources.push(r);
    }
    c
}

/// The quorum of a resource in a node's view (None while down).
pub fn quorum(v: &NodeView, r: usize) -> Option<bool> {
    let rv = v.get(RESOURCES[r])?;
    Some(rv.devices.values().all(|d| d.quorum == Some(true)))
}

/// The role of a resource in a node's view (None while down).
pub fn role(v: &NodeView, r: usize) -> Option<Role> {
    v.get(RESOURCES[r])?.resource.role
}
