//! The umh plugin: user-written filter rules that run a command when a DRBD state change (or
//! a kernel helper call) matches.
//!
//! `pattern` and `rules` type the configuration (unknown keys are errors: a typo must not
//! widen a rule), `matcher` decides which rules fire for an update and `env` builds their
//! environment; all pure. The runner that spawns the commands is the daemon's edge.

pub mod env;
pub mod matcher;
pub mod pattern;
pub mod plugin;
pub mod rules;
pub mod runner;
