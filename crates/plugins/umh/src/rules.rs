//! The `[[umh]]` configuration: rule lists per object kind, each rule a set of filters plus
//! the command to run (umh spec §2). Typed once at load; unknown keys are errors.
//!
//! Must never: accept a key it does not know (a typo would widen a rule to match everything),
//! a state name outside DRBD's vocabulary, or an empty command.

use crate::pattern::{Int, Pattern};
use drbd::event::{EventType, HelperPhase};
use drbd::vocab::{ConnectionState, DiskState, ReplicationState, Role};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// One `[[umh]]` instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UmhConfig {
    /// Deprecated and ignored (kept for identity, like the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// At most this many commands run at once; further ones wait in order. Unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<usize>,
    #[serde(default)]
    pub resource: Vec<ResourceRule>,
    #[serde(default)]
    pub device: Vec<DeviceRule>,
    #[serde(default)]
    pub peerdevice: Vec<PeerDeviceRule>,
    #[serde(default)]
    pub connection: Vec<ConnectionRule>,
    /// Rules on kernel helper calls and responses (`call helper` / `response helper`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub helper: Vec<HelperRule>,
}

/// A `command` that runs something: an empty or blank one would start `sh -c ""` on every
/// match and do nothing, silently (a template left unfilled); the error names the key.
fn non_blank_command<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let command = String::deserialize(d)?;
    if command.trim().is_empty() {
        return Err(D::Error::custom(
            "the command is empty: give the program to run (it runs as `sh -c COMMAND`)",
        ));
    }
    Ok(command)
}

/// Declares a rule struct: the keys every rule has (umh spec §2.2) plus the kind's own.
macro_rules! rule {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct $name {
            /// Shown in the logs.
            #[serde(default)]
            pub name: String,
            /// Run as `sh -c COMMAND`; never empty or blank.
            #[serde(deserialize_with = "non_blank_command")]
            pub command: String,
            /// Extra environment; wins over the DRBD_* variables and the fixed ones.
            #[serde(default)]
            pub env: BTreeMap<String, String>,
            /// Seconds after which the command's process group is killed. Unset: never.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub timeout: Option<u64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub resource_name: Option<Pattern<String>>,
            $($(#[$fm])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: $ty,)*
        }
    };
}

/// Declares the old/new filter table of a kind.
macro_rules! filter {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct $name {
            $(#[serde(default, skip_serializing_if = "Option::is_none")] pub $field: Option<Pattern<$ty>>,)*
        }
    };
}

filter!(ResourceFilter {
    role: Role,
    may_promote: bool,
    promotion_score: Int
});
filter!(DeviceFilter {
    disk_state: DiskState,
    client: bool,
    quorum: bool,
    open: bool,
    size: u64
});
filter!(PeerDeviceFilter {
    replication_state: ReplicationState,
    peer_disk_state: DiskState,
    peer_client: bool,
    resync_suspended: bool,
});
filter!(ConnectionFilter {
    conn_name: String,
    connection_state: ConnectionState,
    peer_role: Role,
    congested: bool,
});

rule!(ResourceRule { event_type: Option<Pattern<EventType>>, old: Option<ResourceFilter>, new: Option<ResourceFilter> });
rule!(DeviceRule {
    event_type: Option<Pattern<EventType>>,
    volume: Option<Pattern<Int>>,
    old: Option<DeviceFilter>,
    new: Option<DeviceFilter>,
});
rule!(PeerDeviceRule {
    event_type: Option<Pattern<EventType>>,
    volume: Option<Pattern<Int>>,
    peer_node_id: Option<Pattern<Int>>,
    old: Option<PeerDeviceFilter>,
    new: Option<PeerDeviceFilter>,
});
rule!(ConnectionRule {
    event_type: Option<Pattern<EventType>>,
    peer_node_id: Option<Pattern<Int>>,
    old: Option<ConnectionFilter>,
    new: Option<ConnectionFilter>,
});
rule!(
    /// A rule on `call helper` / `response helper` events (kernel helpers: fence-peer,
    /// before-resync-target, ...). Has no `event-type`: helper events are not object changes.
    HelperRule {
        /// `Call` or `Response`.
        phase: Option<Pattern<HelperPhase>>,
        /// The handler name, e.g. `fence-peer`, `before-resync-target`.
        helper: Option<Pattern<String>>,
        volume: Option<Pattern<Int>>,
        peer_node_id: Option<Pattern<Int>>,
        /// The helper's exit code (responses of helpers that exited normally).
        exit_code: Option<Pattern<u8>>,
    }
);
