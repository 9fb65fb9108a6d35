//! The promoter's decisions, pure and in virtual time: one state machine per resource, fed
//! with the resource's state (the `Arc<Resource>` every update carries), command outcomes and
//! timer expiries, returning the actions to run. The clock is an argument (`now`), timers are
//! deadlines the caller asks for with `next_deadline`, so a test runs hours in milliseconds.
//!
//! Must never: run a command, read a clock, sleep, or log; every decision is returned with
//! its reason for the shell to log and publish.

pub mod delay;
pub mod facts;
pub mod machine;

pub use machine::{Counters, Machine, Services, FAILBACK_HOLDOFF};

use serde::Serialize;

/// How the resource avoids split brain, from `drbdsetup show` (spec §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitBrainPolicy {
    Quorum,
    Fencing,
}

impl SplitBrainPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SplitBrainPolicy::Quorum => "quorum",
            SplitBrainPolicy::Fencing => "fencing",
        }
    }
}

/// Log level of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Debug,
    Info,
    Warn,
    /// The node cannot do its part (its drop-ins could not be written).
    Error,
}

/// One thing the machine decided, with the reason an operator reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub level: Level,
    pub message: String,
}

/// What the shell must do. Actions that run commands report back as an [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write the resource's drop-ins (and daemon-reload if any changed) →
    /// [`Outcome::UnitsWritten`].
    WriteUnits,
    /// `drbdadm sh-ll-dev RES` → [`Outcome::BackingDevices`].
    ListBackingDevices,
    /// Are these paths block devices now? → [`Outcome::DevicesReady`]. Never waits.
    CheckDevices(Vec<String>),
    /// `drbdadm adjust RES` → [`Outcome::Adjusted`].
    Adjust,
    /// `drbdsetup show --show-defaults --json RES` → [`Outcome::Policy`].
    DetectPolicy,
    /// START (§6.9) → [`Outcome::Started`].
    Start { id: u64 },
    /// STOP (§6.9) → [`Outcome::Stopped`]. `flush_journal`: it may escalate.
    Stop { id: u64 },
    /// `systemctl freeze` of exactly these units (reverse start order, no mounts).
    Freeze(Vec<String>),
    /// `systemctl thaw` of exactly these units (start order, no mounts).
    Thaw(Vec<String>),
    /// Is the target active? → [`Outcome::Probed`].
    Probe,
    /// Delete the before drop-in and daemon-reload (exit with stop-services-on-exit).
    RemoveBefore,
    /// Log (and publish) a decision.
    Log(Decision),
}

/// A command's result, fed back into the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UnitsWritten(Result<(), String>),
    BackingDevices(Result<Vec<String>, String>),
    DevicesReady(bool),
    Adjusted(Result<(), String>),
    Policy(Result<SplitBrainPolicy, String>),
    Started {
        id: u64,
        result: Result<(), String>,
    },
    Stopped {
        id: u64,
        result: Result<(), String>,
    },
    /// Err: the query failed (the state is unknown, not inactive).
    Probed(Result<bool, String>),
}
