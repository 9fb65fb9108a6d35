//! The typed form of one `drbdsetup events2` line (events2 spec §2).
//!
//! Every key a line may carry is an `Option`: `None` means "not on this line" (short change
//! lines without `--full` omit unchanged keys), so the state can merge instead of resetting.
//! Must never: hold I/O, or drop a key silently (unknown keys are kept in `unknown`).

use crate::values::{Address, Eta, Hundredths};
use crate::vocab::{
    Blocked, ConnectionState, DiskState, ReplicationState, ResyncSuspended, Role, Suspended,
    Tristate, WriteOrdering,
};
use serde::{Deserialize, Serialize};

/// The verb of an object line; also the event type of the updates it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    Exists,
    Create,
    Change,
    Destroy,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::Exists,
        EventType::Create,
        EventType::Change,
        EventType::Destroy,
    ];

    /// The verb as drbdsetup prints it.
    pub const fn verb(self) -> &'static str {
        match self {
            EventType::Exists => "exists",
            EventType::Create => "create",
            EventType::Change => "change",
            EventType::Destroy => "destroy",
        }
    }

    /// The name plugins and rules use (`Exists`, `Create`, `Change`, `Destroy`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::Exists => "Exists",
            EventType::Create => "Create",
            EventType::Change => "Change",
            EventType::Destroy => "Destroy",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        EventType::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == s)
            .ok_or(())
    }
}

/// Keys the parser did not recognise, in line order. Kept so nothing is lost and counted by
/// the state; printed back after the known keys.
pub type UnknownKeys = Vec<(String, String)>;

/// Known keys whose value this version does not know (a newer kernel's state or flag), in
/// line order, with the value as printed. The event holds the vocabulary's unknown value
/// (`OutOfRange`, the `other` flag, or `None` where there is none); the [`Line`] keeps the
/// token so the daemon can warn once per key and value ([`crate::SeenUnknowns`]) and count
/// it, and the printer can print it back. Empty (no allocation) when every value is known.
pub type UnknownValues = Vec<(String, String)>;

/// One line: an optional `--timestamps` prefix, what it says, and the values in it that this
/// version does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub timestamp: Option<String>,
    pub event: Event,
    /// Known keys of an object line whose value this version does not know (see
    /// [`UnknownValues`]); kept beside the event so the line types stay as small as they
    /// were (the parser's hot path moves them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_values: UnknownValues,
}

impl Line {
    /// A line without unknown values.
    pub fn new(timestamp: Option<String>, event: Event) -> Line {
        Line {
            timestamp,
            event,
            unknown_values: Vec::new(),
        }
    }
}

/// What a line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// `exists|create|change|destroy <kind> key:value...`
    Object {
        event_type: EventType,
        object: ObjectLine,
    },
    /// `exists -`: the initial dump is complete.
    EndOfDump,
    /// `rename resource name:<old> new_name:<new>`
    Rename {
        resource: String,
        new_name: String,
        unknown: UnknownKeys,
    },
    /// `call helper ...` / `response helper ...`
    Helper(HelperLine),
    /// `- skipped <n>` (drbd-utils before 9.14): n kernel notifications were lost.
    Skipped(u64),
    /// A verb or kind this version does not know; kept aside and counted, never fatal.
    Unknown { verb: String, kind: String },
}

/// An object line, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectLine {
    Resource(ResourceLine),
    Device(DeviceLine),
    Connection(ConnectionLine),
    PeerDevice(PeerDeviceLine),
    Path(PathLine),
}

impl ObjectLine {
    /// The resource the line is about.
    pub fn resource_name(&self) -> &str {
        match self {
            ObjectLine::Resource(l) => &l.name,
            ObjectLine::Device(l) => &l.name,
            ObjectLine::Connection(l) => &l.name,
            ObjectLine::PeerDevice(l) => &l.name,
            ObjectLine::Path(l) => &l.name,
        }
    }

    /// The kind as drbdsetup prints it.
    pub const fn kind(&self) -> &'static str {
        match self {
            ObjectLine::Resource(_) => "resource",
            ObjectLine::Device(_) => "device",
            ObjectLine::Connection(_) => "connection",
            ObjectLine::PeerDevice(_) => "peer-device",
            ObjectLine::Path(_) => "path",
        }
    }

    pub fn unknown_keys(&self) -> &UnknownKeys {
        match self {
            ObjectLine::Resource(l) => &l.unknown,
            ObjectLine::Device(l) => &l.unknown,
            ObjectLine::Connection(l) => &l.unknown,
            ObjectLine::PeerDevice(l) => &l.unknown,
            ObjectLine::Path(l) => &l.unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResourceLine {
    pub name: String,
    pub role: Option<Role>,
    pub suspended: Option<Suspended>,
    pub force_io_failures: Option<bool>,
    pub write_ordering: Option<WriteOrdering>,
    pub may_promote: Option<bool>,
    pub promotion_score: Option<u32>,
    pub unknown: UnknownKeys,
}

/// `backing_dev`: a block device path, or `none` for a diskless volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BackingDev {
    None,
    Path(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceLine {
    pub name: String,
    pub volume: u32,
    /// Absent on destroy lines.
    pub minor: Option<u32>,
    pub backing_dev: Option<BackingDev>,
    pub disk: Option<DiskState>,
    pub client: Option<Tristate>,
    pub open: Option<Tristate>,
    pub quorum: Option<bool>,
    pub size: Option<u64>,
    pub read: Option<u64>,
    pub written: Option<u64>,
    pub al_writes: Option<u64>,
    pub bm_writes: Option<u64>,
    pub upper_pending: Option<u64>,
    pub lower_pending: Option<u64>,
    pub al_suspended: Option<bool>,
    pub blocked: Option<Blocked>,
    pub unknown: UnknownKeys,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectionLine {
    pub name: String,
    pub peer_node_id: u32,
    pub conn_name: String,
    pub connection: Option<ConnectionState>,
    /// The peer's role.
    pub role: Option<Role>,
    pub congested: Option<bool>,
    pub ap_in_flight: Option<u64>,
    pub rs_in_flight: Option<u64>,
    pub unknown: UnknownKeys,
}

/// Resync and online-verify progress of a peer device (`done` and the statistics keys that
/// drbdsetup prints only while a resync or verify runs).
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct ResyncProgress {
    /// Percent done.
    pub done: Option<Hundredths>,
    pub rs_total: Option<u64>,
    pub rs_dt_start_ms: Option<u64>,
    pub rs_paused_ms: Option<u64>,
    pub rs_dt0_ms: Option<u64>,
    pub rs_db0_sectors: Option<u64>,
    pub rs_dt1_ms: Option<u64>,
    pub rs_db1_sectors: Option<u64>,
    pub ov_start_sector: Option<u64>,
    pub ov_stop_sector: Option<u64>,
    pub ov_position: Option<u64>,
    pub ov_left: Option<u64>,
    pub ov_skipped: Option<u64>,
    pub rs_failed: Option<u64>,
    pub rs_same_csum: Option<u64>,
    /// MiB/s
    pub want: Option<Hundredths>,
    pub dbdt: Option<Hundredths>,
    pub dbdt0: Option<Hundredths>,
    pub dbdt1: Option<Hundredths>,
    /// Seconds until done.
    pub eta: Option<Eta>,
}

impl ResyncProgress {
    pub fn is_empty(&self) -> bool {
        *self == ResyncProgress::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerDeviceLine {
    pub name: String,
    pub peer_node_id: u32,
    pub conn_name: String,
    pub volume: u32,
    pub replication: Option<ReplicationState>,
    pub peer_disk: Option<DiskState>,
    pub peer_client: Option<Tristate>,
    pub resync_suspended: Option<ResyncSuspended>,
    pub received: Option<u64>,
    pub sent: Option<u64>,
    pub out_of_sync: Option<u64>,
    pub pending: Option<u64>,
    pub unacked: Option<u64>,
    /// Present when the line carries any resync or verify progress key (boxed: rare, large).
    pub progress: Option<Box<ResyncProgress>>,
    pub unknown: UnknownKeys,
}

impl PeerDeviceLine {
    /// True if the line carries the statistics group (drbdsetup prints it as a whole), so the
    /// absence of progress keys means "no resync running" rather than "unchanged".
    pub fn has_statistics(&self) -> bool {
        self.received.is_some()
            || self.sent.is_some()
            || self.out_of_sync.is_some()
            || self.pending.is_some()
            || self.unacked.is_some()
            || self.progress.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathLine {
    pub name: String,
    pub peer_node_id: u32,
    pub conn_name: String,
    pub local: Address,
    pub peer: Address,
    pub established: Option<bool>,
    pub unknown: UnknownKeys,
}

/// `call` (the kernel starts a user-mode helper) or `response` (it finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HelperPhase {
    Call,
    Response,
}

impl HelperPhase {
    pub const fn verb(self) -> &'static str {
        match self {
            HelperPhase::Call => "call",
            HelperPhase::Response => "response",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperLine {
    pub phase: HelperPhase,
    pub name: String,
    pub peer_node_id: Option<u32>,
    pub conn_name: Option<String>,
    pub local: Option<Address>,
    pub peer: Option<Address>,
    pub volume: Option<u32>,
    pub minor: Option<u32>,
    /// The handler name, e.g. `before-resync-target`, `fence-peer`, `quorum-lost`.
    pub helper: String,
    /// Raw kernel status on `response` lines (see [`HelperStatus`]).
    pub status: Option<u32>,
    pub unknown: UnknownKeys,
}

/// The decoded `status` of a `response helper` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HelperStatus {
    /// The helper exited normally with this code (raw = code × 256).
    Exited(u8),
    /// The helper was killed by this signal.
    Signaled(u8),
    /// The kernel could not start the helper: a negative errno, printed as unsigned.
    StartFailed(i32),
}

impl HelperStatus {
    /// Decodes the raw value as the kernel's wait status or negative errno.
    pub const fn decode(raw: u32) -> HelperStatus {
        let signed = raw as i32;
        if signed < 0 {
            HelperStatus::StartFailed(signed)
        } else if raw & 0x7f == 0 {
            HelperStatus::Exited(((raw >> 8) & 0xff) as u8)
        } else {
            HelperStatus::Signaled((raw & 0x7f) as u8)
        }
    }

    /// The exit code, if the helper exited normally.
    pub const fn exit_code(self) -> Option<u8> {
        match self {
            HelperStatus::Exited(c) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_status_decodes_exit_code_signal_and_errno() {
        assert_eq!(HelperStatus::decode(0), HelperStatus::Exited(0));
        assert_eq!(HelperStatus::decode(1024), HelperStatus::Exited(4));
        assert_eq!(HelperStatus::decode(9), HelperStatus::Signaled(9));
        assert_eq!(
            HelperStatus::decode((-2i32) as u32),
            HelperStatus::StartFailed(-2)
        );
        // The corpus' helper fixture has status:1: killed by signal 1 in wait-status terms.
        assert_eq!(HelperStatus::decode(1), HelperStatus::Signaled(1));
    }

    #[test]
    fn event_type_names_round_trip() {
        for e in EventType::ALL {
            assert_eq!(e.as_str().parse::<EventType>().unwrap(), *e);
        }
        assert!("change".parse::<EventType>().is_err());
    }
}
