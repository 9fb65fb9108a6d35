//! How long each kind of command may run before its process group is killed.
//!
//! Must never: be unbounded; a hung systemctl would otherwise hold a resource forever.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `systemctl start` of the target waits for promotion and the whole stack (errata A1),
    /// each unit bounded by its own start timeout (90 s by default).
    pub start: Duration,
    /// `systemctl stop` returns before the members stopped (errata A1).
    pub stop: Duration,
    /// `sh -c` of one shell-runner entry.
    pub shell: Duration,
    /// `drbdadm adjust`.
    pub adjust: Duration,
    /// Queries and quick commands: show, reset-failed, freeze, thaw, daemon-reload,
    /// journalctl --flush, drbdsetup show, drbdadm sh-ll-dev.
    pub quick: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            start: Duration::from_secs(600),
            stop: Duration::from_secs(120),
            shell: Duration::from_secs(600),
            adjust: Duration::from_secs(120),
            quick: Duration::from_secs(30),
        }
    }
}
