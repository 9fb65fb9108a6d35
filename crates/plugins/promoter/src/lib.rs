//! The promoter plugin: turns DRBD's own arbitration (quorum, `may_promote`) into a minimal
//! HA cluster manager that starts a resource's services where it may promote.
//!
//! `config` types the `[[promoter]]` section, `units` and `dropins` name and render the
//! systemd units, `write` puts the drop-ins on disk, `policy` decides in virtual time (pure,
//! one state machine per resource), `exec` runs the decided actions (systemd or shell), and
//! `shell` ties them into one task per resource; `status` is what state readers see and
//! `publish` puts it into the self-metrics and the status files.
//!
//! Wiring it into the daemon's plugin host:
//! - parse each section with `PluginInstance::parse::<PromoterConfig>(WarnUnknownKeys)`; turn
//!   the keys of `config::validate` errors/warnings, `config::deprecation_warnings` and
//!   `config::duplicate_resources` into file:line with `PluginInstance::origin_of(key)`;
//! - each instance runs `drbdadm --version` as it starts (`plugin.rs`): `version::check`
//!   failing for versions is a configuration error (the host tries again at the next reload),
//!   for a kernel module that is not loaded yet a failure (tried again with backoff);
//! - run each instance with `shell::run(config, updates, Context { executor:
//!   Executor::new(Arc::new(ProcessRunner), UnitDir::default()), node_name:
//!   shell::node_name(), status, query_unit_states }, shutdown)`; a `PromoterError::Config`
//!   must not be restarted;
//! - after a (re)load, delete the drop-ins of `UnitDir::unconfigured` resources whose stack is
//!   down (`UnitDir::remove_escaped_all`; `plugin.rs` does this), then `systemctl
//!   daemon-reload` if it deleted anything.

pub mod config;
pub mod detect;
pub mod dropins;
pub mod exec;
pub mod plugin;
pub mod policy;
pub mod publish;
pub mod shell;
pub mod status;
pub mod task;
pub mod units;
pub mod version;
pub mod write;

pub use config::PromoterConfig;
pub use shell::{run, Context, PromoterError, UpdateSource};
