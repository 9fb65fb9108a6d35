//! The promoter plugin: turns DRBD's own arbitration (quorum, `may_promote`) into a minimal
//! HA cluster manager that starts a resource's services where it may promote.
//!
//! `config` types the `[[promoter]]` section, `units` and `dropins` name and render the
//! systemd units, `write` puts the drop-ins on disk, `policy` decides in virtual time (pure,
//! one state machine per resource), `exec` runs the decided actions (systemd or shell), and
//! `shell` ties them into one task per resource.

pub mod config;
pub mod detect;
pub mod dropins;
pub mod exec;
pub mod policy;
pub mod shell;
pub mod status;
pub mod units;
pub mod version;
pub mod write;
