//! What runs "on" a simulated node: process ids registered by a harness (a drbd-reactor and
//! the services it starts), so that `ctl crash NODE` ends them as a power loss would.
//!
//! Must never: kill anything that was not registered, or wait for the processes (they are
//! the harness's children; it reaps them).

use std::collections::BTreeMap;

/// Registered processes per node.
#[derive(Debug, Default)]
pub struct Registry {
    by_node: BTreeMap<String, Vec<i32>>,
}

impl Registry {
    pub fn register(&mut self, node: &str, pid: i32) {
        self.by_node.entry(node.to_string()).or_default().push(pid);
    }

    /// Kills every process registered for `node` with SIGKILL: the process group it leads
    /// (so a daemon started as a group leader takes its children along), else the process
    /// alone. Forgets them; returns how many were registered.
    pub fn crash(&mut self, node: &str) -> usize {
        let pids = self.by_node.remove(node).unwrap_or_default();
        for &pid in &pids {
            kill(pid);
        }
        pids.len()
    }
}

fn kill(pid: i32) {
    // SAFETY: kill(2) has no memory effects; a stale pid only yields ESRCH.
    unsafe {
        if libc::kill(-pid, libc::SIGKILL) != 0 {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}
