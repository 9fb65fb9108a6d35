//! The plugin contract of drbd-reactor. A plugin type implements [`Plugin`] in its own folder
//! and is listed by one [`register`] line in the daemon's registry; the host needs nothing else
//! to parse, compare, run, stop and supervise its instances.
//!
//! Must never: depend on the daemon (plugins depend on this crate, the daemon on both), or
//! give a plugin a way to block the core (everything it gets is a queue end, a watch or an
//! atomic).

pub mod contract;
pub mod memory;
pub mod metrics;
pub mod snapshot;
pub mod updates;
pub mod versions;

pub use contract::{
    register, AnyPlugin, Input, Plugin, PluginContext, PluginError, Registration,
    DEFAULT_STOP_DEADLINE,
};
pub use metrics::{Labels, MetricKind, Sample, SelfMetrics};
pub use snapshot::{snapshot_channel, Snapshot, SnapshotPublisher, Snapshots, ANSWER_WAIT};
pub use updates::{Update, UpdateBatch, UpdateSource, Updates};
pub use versions::{DrbdVersions, VersionsService};
