//! The diffs handed to change plugins (events2 spec §5.2): kind, event type, identity, the
//! old and new values of the fields plugins match on, and the resource as a shared `Arc`.
//!
//! Must never: deep-copy the resource per update or per subscriber.

use crate::event::{EventType, HelperPhase, HelperStatus};
use crate::model::{Connection, Device, PeerDevice, Resource};
use crate::vocab::{ConnectionState, DiskState, ReplicationState, Role};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The matchable fields of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResourceFields {
    pub role: Role,
    pub may_promote: bool,
    pub promotion_score: u32,
}

impl From<&Resource> for ResourceFields {
    fn from(r: &Resource) -> Self {
        ResourceFields {
            role: r.role,
            may_promote: r.may_promote,
            promotion_score: r.promotion_score,
        }
    }
}

/// The matchable fields of a device. `client` and `open` are true only for `yes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeviceFields {
    pub disk_state: DiskState,
    pub client: bool,
    pub quorum: bool,
    /// KiB
    pub size: u64,
    pub open: bool,
}

impl From<&Device> for DeviceFields {
    fn from(d: &Device) -> Self {
        DeviceFields {
            disk_state: d.disk_state,
            client: d.client.is_yes(),
            quorum: d.quorum,
            size: d.size,
            open: d.open.is_yes(),
        }
    }
}

/// The matchable fields of a peer device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PeerDeviceFields {
    pub replication_state: ReplicationState,
    pub peer_disk_state: DiskState,
    pub peer_client: bool,
    pub resync_suspended: bool,
}

impl From<&PeerDevice> for PeerDeviceFields {
    fn from(p: &PeerDevice) -> Self {
        PeerDeviceFields {
            replication_state: p.replication_state,
            peer_disk_state: p.peer_disk_state,
            peer_client: p.peer_client.is_yes(),
            resync_suspended: p.resync_suspended.any(),
        }
    }
}

/// The matchable fields of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConnectionFields {
    pub conn_name: Arc<str>,
    pub connection_state: ConnectionState,
    pub peer_role: Role,
    pub congested: bool,
}

impl From<&Connection> for ConnectionFields {
    fn from(c: &Connection) -> Self {
        ConnectionFields {
            conn_name: c.conn_name.clone(),
            connection_state: c.connection_state,
            peer_role: c.peer_role,
            congested: c.congested,
        }
    }
}

/// An old/new pair of one object kind's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff<F> {
    pub old: F,
    pub new: F,
}

/// What changed, by object kind, with its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    Resource(Diff<ResourceFields>),
    Device {
        volume: u32,
        #[serde(flatten)]
        diff: Diff<DeviceFields>,
    },
    PeerDevice {
        volume: u32,
        peer_node_id: u32,
        #[serde(flatten)]
        diff: Diff<PeerDeviceFields>,
    },
    Connection {
        peer_node_id: u32,
        #[serde(flatten)]
        diff: Diff<ConnectionFields>,
    },
}

/// One diff update for change plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectUpdate {
    pub event_type: EventType,
    pub change: Change,
    /// The whole resource after the line was applied (before it, for a resource Destroy).
    pub resource: Arc<Resource>,
}

impl ObjectUpdate {
    pub fn resource_name(&self) -> &str {
        &self.resource.name
    }
}

/// A `call helper` / `response helper` line, for kernel-helper rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HelperUpdate {
    pub phase: HelperPhase,
    pub resource_name: String,
    pub helper: String,
    pub volume: Option<u32>,
    pub minor: Option<u32>,
    pub peer_node_id: Option<u32>,
    pub conn_name: Option<String>,
    /// Raw status, on responses.
    pub status: Option<u32>,
    /// The resource as currently known, if it is.
    pub resource: Option<Arc<Resource>>,
}

impl HelperUpdate {
    pub fn decoded_status(&self) -> Option<HelperStatus> {
        self.status.map(HelperStatus::decode)
    }
}

/// Everything the core hands to change plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginUpdate {
    Object(ObjectUpdate),
    Helper(HelperUpdate),
}

impl PluginUpdate {
    pub fn resource_name(&self) -> &str {
        match self {
            PluginUpdate::Object(o) => o.resource_name(),
            PluginUpdate::Helper(h) => &h.resource_name,
        }
    }
}
