//! The metric families: names, types, HELP texts and how each value is computed. Names, HELP
//! texts and units of the original's 28 families are a contract (prometheus spec §5.1).
//!
//! Must never: change an existing name, type or HELP text; new data gets new names.

use drbd::{Connection, Device, PeerDevice, Resource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// Name, type and HELP text of a family.
pub struct Meta {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// A family with one sample per object of type `T`.
pub struct Family<T> {
    pub meta: Meta,
    pub value: fn(&T) -> u64,
}

const fn gauge(name: &'static str, help: &'static str) -> Meta {
    Meta {
        name,
        kind: Kind::Gauge,
        help,
    }
}

const fn counter(name: &'static str, help: &'static str) -> Meta {
    Meta {
        name,
        kind: Kind::Counter,
        help,
    }
}

const KIB: u64 = 1024;
const SECTOR: u64 = 512;

pub const UP: Meta = gauge(
    "drbdreactor_up",
    "Boolean indicating whether or not drbdreactor is running. Always 1",
);
pub const VERSION: Meta = gauge(
    "drbd_version",
    "Version of the loaded DRBD kernel module and DRBD utils",
);
pub const RESOURCES: Meta = gauge("drbd_resource_resources", "Number of resources");
pub const RESOURCE_ROLE: Meta = gauge("drbd_resource_role", "DRBD role of the resource");
pub const CONNECTION_STATE: Meta = gauge("drbd_connection_state", "DRBD connection state");
pub const DEVICE_STATE: Meta = gauge("drbd_device_state", "DRBD device state");

pub const RESOURCE_FAMILIES: &[Family<Resource>] = &[
    Family {
        meta: gauge(
            "drbd_resource_suspended",
            "Boolean whether the resource is suspended",
        ),
        value: |r| u64::from(r.suspended.any()),
    },
    Family {
        meta: gauge(
            "drbd_resource_maypromote",
            "Boolean whether the resource may be promoted to Primary",
        ),
        value: |r| u64::from(r.may_promote),
    },
    Family {
        meta: gauge(
            "drbd_resource_promotionscore",
            "The promotion score (higher is better) for the resource",
        ),
        value: |r| u64::from(r.promotion_score),
    },
    Family {
        meta: gauge(
            "drbd_resource_forceiofailures",
            "Boolean whether the resource is configured (could be temporarily) to force IO failures (e.g., during secondary --force)",
        ),
        value: |r| u64::from(r.force_io_failures),
    },
];

pub const PEER_DEVICE_FAMILIES: &[Family<PeerDevice>] = &[
    Family {
        meta: gauge(
            "drbd_peerdevice_outofsync_bytes",
            "Number of bytes currently out of sync with this peer, according to the bitmap that DRBD has for it",
        ),
        value: |p| p.out_of_sync.saturating_mul(KIB),
    },
    Family {
        meta: counter(
            "drbd_peerdevice_sent_bytes",
            "Number of bytes currently sent to this peer",
        ),
        value: |p| p.sent.saturating_mul(KIB),
    },
    Family {
        meta: counter(
            "drbd_peerdevice_received_bytes",
            "Number of bytes currently received from this peer",
        ),
        value: |p| p.received.saturating_mul(KIB),
    },
];

pub const CONNECTION_FAMILIES: &[Family<Connection>] = &[
    Family {
        meta: gauge(
            "drbd_connection_congested",
            "Boolean whether the TCP send buffer of the data connection is more than 80% filled",
        ),
        value: |c| u64::from(c.congested),
    },
    Family {
        meta: gauge(
            "drbd_connection_apinflight_bytes",
            "Number of application requests in flight (not completed)",
        ),
        value: |c| c.ap_in_flight.saturating_mul(SECTOR),
    },
    Family {
        meta: gauge(
            "drbd_connection_rsinflight_bytes",
            "Number of resync requests in flight",
        ),
        value: |c| c.rs_in_flight.saturating_mul(SECTOR),
    },
];

pub const DEVICE_FAMILIES: &[Family<Device>] = &[
    Family {
        meta: gauge(
            "drbd_device_client",
            "Boolean whether this device is a client (i.e., intentional diskless)",
        ),
        value: |d| u64::from(d.client.is_yes()),
    },
    Family {
        meta: gauge(
            "drbd_device_unintentionaldiskless",
            "Boolean whether the devices is unintentional diskless",
        ),
        value: |d| {
            u64::from(!d.client.is_yes() && d.disk_state == drbd::vocab::DiskState::Diskless)
        },
    },
    Family {
        meta: gauge(
            "drbd_device_quorum",
            "Boolean if this device has DRBD quorum",
        ),
        value: |d| u64::from(d.quorum),
    },
    Family {
        meta: gauge("drbd_device_open", "Boolean if this device is opened"),
        value: |d| u64::from(d.open.is_yes()),
    },
    Family {
        meta: gauge("drbd_device_size_bytes", "Device size in bytes"),
        value: |d| d.size.saturating_mul(KIB),
    },
    Family {
        meta: counter(
            "drbd_device_read_bytes_total",
            "Net data read from local hard disk",
        ),
        value: |d| d.read.saturating_mul(KIB),
    },
    Family {
        meta: counter(
            "drbd_device_written_bytes_total",
            "Net data written on local disk",
        ),
        value: |d| d.written.saturating_mul(KIB),
    },
    Family {
        meta: counter(
            "drbd_device_alwrites_total",
            "Number of updates of the activity log area of the meta data",
        ),
        value: |d| d.al_writes,
    },
    Family {
        meta: counter(
            "drbd_device_bmwrites_total",
            "Number of updates of the bitmap area of the meta data",
        ),
        value: |d| d.bm_writes,
    },
    Family {
        meta: gauge(
            "drbd_device_upperpending",
            "Number of block I/O requests forwarded to DRBD, but not yet answered by DRBD.",
        ),
        value: |d| d.upper_pending,
    },
    Family {
        meta: gauge(
            "drbd_device_lowerpending",
            "Number of open requests to the local I/O sub-system issued by DRBD",
        ),
        value: |d| d.lower_pending,
    },
    Family {
        meta: gauge(
            "drbd_device_alsuspended",
            "Boolean whether the Activity-Log is suspended",
        ),
        value: |d| u64::from(d.al_suspended),
    },
];

// ---- Families the original does not have (new names only) ----

pub const NEW_PEER_DEVICE_FAMILIES: &[Family<PeerDevice>] = &[
    Family {
        meta: counter(
            "drbd_peerdevice_sent_bytes_total",
            "Number of bytes sent to this peer (correctly named twin of drbd_peerdevice_sent_bytes)",
        ),
        value: |p| p.sent.saturating_mul(KIB),
    },
    Family {
        meta: counter(
            "drbd_peerdevice_received_bytes_total",
            "Number of bytes received from this peer (correctly named twin of drbd_peerdevice_received_bytes)",
        ),
        value: |p| p.received.saturating_mul(KIB),
    },
    Family {
        meta: gauge(
            "drbd_peerdevice_pending",
            "Number of requests sent to this peer and not yet acknowledged",
        ),
        value: |p| p.pending,
    },
    Family {
        meta: gauge(
            "drbd_peerdevice_unacked",
            "Number of requests received from this peer and not yet acknowledged",
        ),
        value: |p| p.unacked,
    },
];

pub const RESYNC_DONE: Meta = gauge(
    "drbd_peerdevice_resync_done_ratio",
    "Progress of the running resync or online verify with this peer, from 0 to 1",
);
pub const RESYNC_ETA: Meta = gauge(
    "drbd_peerdevice_resync_eta_seconds",
    "Estimated seconds until the running resync or online verify with this peer completes (NaN without recent progress)",
);
pub const PEER_DEVICE_REPLICATION_STATE: Meta = gauge(
    "drbd_peerdevice_replication_state_info",
    "DRBD replication state towards this peer, in the state label; always 1",
);
pub const PEER_DEVICE_PEER_DISK_STATE: Meta = gauge(
    "drbd_peerdevice_peer_disk_state_info",
    "DRBD disk state of this peer's volume, in the state label; always 1",
);
pub const CONNECTION_PEER_ROLE: Meta = gauge(
    "drbd_connection_peer_role_info",
    "DRBD role of the peer, in the state label; always 1",
);
pub const PATH_ESTABLISHED: Meta = gauge(
    "drbd_path_established",
    "Boolean whether this network path to the peer is established",
);
pub const BUILD_INFO: Meta = gauge(
    "drbdreactor_build_info",
    "This drbd-reactor's version and the drbd-reactor release it is compatible with, in labels; always 1",
);
/// The release of LINBIT's drbd-reactor this implementation keeps compatible with (the
/// daemon's `--version` names the same one).
pub const COMPATIBLE_WITH: &str = "1.11.0";
pub const VERSION_OK: Meta = gauge(
    "drbdreactor_drbd_version_ok",
    "Boolean whether the last drbdadm --version succeeded (drbd_version shows the last known versions)",
);
