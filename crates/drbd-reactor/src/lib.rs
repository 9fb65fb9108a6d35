//! The drbd-reactor daemon: runs `drbdsetup events2`, keeps the DRBD state (crate `drbd`),
//! and feeds supervised plugins. The binary `drbd-reactor` is a thin shell around [`daemon`].
//!
//! Layout: `events2` owns the child process, `core` owns the state and the plugin set,
//! `plugin` holds the host (supervision, queues) and the plugins, `notify` speaks sd_notify,
//! `metrics` counts what the daemon did. Must never: parse configuration itself (that is
//! crate `drbd_reactor_config`), or let one plugin's failure reach another.

pub mod check;
pub mod cli;
pub mod core;
pub mod daemon;
pub mod events2;
pub mod health;
pub mod metrics;
pub mod notify;
pub mod pacer;
pub mod plugin;
pub mod runfiles;
