//! The state the kernel creates an object in, as its `create` line shows it (corpus
//! `events2-all-create-change.txt` and the other create fixtures): a resource Secondary that
//! may not be promoted, a device Diskless without backing device, a connection StandAlone
//! with its peer's role Unknown, a peer device Off with the peer's disk DUnknown, a path not
//! established. The state an object has reached by the time it is printed comes after its
//! `create`, in `change` lines, as in drbdsetup: a consumer that ignores `create` updates (the
//! promoter) still sees `may_promote` turn true.
//!
//! Pure. Must never change what identifies an object (names, ids, volume, minor, addresses)
//! or its counters (drbdsetup prints the kernel's counters on the create line as they are).

use crate::view::{ConnView, ResView};
use drbd::event::{BackingDev, ConnectionLine, DeviceLine, PathLine, PeerDeviceLine};
use drbd::vocab::{ConnectionState, DiskState, ReplicationState, Role, Tristate};

/// A resource and everything in it as created.
pub fn resource(r: &ResView) -> ResView {
    let mut resource = r.resource.clone();
    resource.role = Some(Role::Secondary);
    resource.force_io_failures = Some(false);
    resource.may_promote = Some(false);
    resource.promotion_score = Some(0);
    ResView {
        resource,
        devices: r.devices.iter().map(|(v, d)| (*v, device(d))).collect(),
        connections: r
            .connections
            .iter()
            .map(|(id, c)| (*id, connection(c)))
            .collect(),
    }
}

/// A connection with its peer devices and paths as created.
pub fn connection(c: &ConnView) -> ConnView {
    ConnView {
        conn: ConnectionLine {
            connection: Some(ConnectionState::StandAlone),
            role: Some(Role::Unknown),
            congested: Some(false),
            ..c.conn.clone()
        },
        peer_devices: c
            .peer_devices
            .iter()
            .map(|(v, pd)| (*v, peer_device(pd)))
            .collect(),
        paths: c.paths.iter().map(path).collect(),
    }
}

/// A device as created: not attached yet. An intentionally diskless one says so already.
pub fn device(d: &DeviceLine) -> DeviceLine {
    DeviceLine {
        backing_dev: Some(BackingDev::None),
        disk: Some(DiskState::Diskless),
        open: Some(Tristate::from(false)),
        quorum: Some(true),
        ..d.clone()
    }
}

pub fn peer_device(pd: &PeerDeviceLine) -> PeerDeviceLine {
    PeerDeviceLine {
        replication: Some(ReplicationState::Off),
        peer_disk: Some(DiskState::DUnknown),
        peer_client: Some(Tristate::from(false)),
        resync_suspended: Some(Default::default()),
        progress: None,
        ..pd.clone()
    }
}

pub fn path(p: &PathLine) -> PathLine {
    PathLine {
        established: Some(false),
        ..p.clone()
    }
}
