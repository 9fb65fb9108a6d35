//! What runs "on" a simulated node: process ids registered by a harness (a drbd-reactor and
//! the services it starts), so that `ctl crash NODE` ends them as a power loss would.
//!
//! Must never: kill anything that was not registered (a registered process that ended and
//! whose pid now names another process is left alone: the start time tells them apart), or
//! wait for the processes (they are the harness's children; it reaps them).

use std::collections::BTreeMap;

/// A registered process: its pid and, where /proc had it, its start time.
#[derive(Debug, Clone, Copy)]
struct Registered {
    pid: i32,
    start: Option<u64>,
}

/// Registered processes per node.
#[derive(Debug, Default)]
pub struct Registry {
    by_node: BTreeMap<String, Vec<Registered>>,
}

/// What a crash does to one registered pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Still the registered process: its group, else itself.
    GroupElseProcess,
    /// The leader is gone; its group may live on (a pid is not reused while a group has it
    /// as its id).
    GroupOnly,
    /// Another process has the pid now.
    Nothing,
}

fn decide(registered: Option<u64>, now: Option<u64>) -> Kill {
    match (registered, now) {
        (_, None) => Kill::GroupOnly,
        (Some(then), Some(now)) if then != now => Kill::Nothing,
        _ => Kill::GroupElseProcess,
    }
}

impl Registry {
    pub fn register(&mut self, node: &str, pid: i32) {
        let start = start_time(pid);
        self.by_node
            .entry(node.to_string())
            .or_default()
            .push(Registered { pid, start });
    }

    /// Kills every process registered for `node` with SIGKILL: the process group it leads
    /// (so a daemon started as a group leader takes its children along), else the process
    /// alone. Forgets them; returns how many were registered.
    pub fn crash(&mut self, node: &str) -> usize {
        let registered = self.by_node.remove(node).unwrap_or_default();
        for r in &registered {
            kill(r.pid, decide(r.start, start_time(r.pid)));
        }
        registered.len()
    }
}

/// Field 22 of /proc/PID/stat (clock ticks after boot); None if there is no such process. The
/// reading of `drbd_reactor_process::start_time`, kept here: the simulator does not depend on
/// that crate (nor on tokio, which it brings).
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields 3.. follow the last
    // ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn kill(pid: i32, how: Kill) {
    // SAFETY: kill(2) has no memory effects; a stale pid only yields ESRCH.
    unsafe {
        match how {
            Kill::GroupElseProcess => {
                if libc::kill(-pid, libc::SIGKILL) != 0 {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            Kill::GroupOnly => {
                libc::kill(-pid, libc::SIGKILL);
            }
            Kill::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_now_naming_another_process_is_left_alone() {
        assert_eq!(decide(Some(100), Some(200)), Kill::Nothing);
        assert_eq!(decide(Some(100), Some(100)), Kill::GroupElseProcess);
        // Registered before /proc could be read: as before, trusted.
        assert_eq!(decide(None, Some(100)), Kill::GroupElseProcess);
        assert_eq!(decide(Some(100), None), Kill::GroupOnly);
    }

    #[test]
    fn the_start_time_of_this_process_is_read_and_stays_the_same() {
        let me = std::process::id() as i32;
        let start = start_time(me);
        assert!(start.is_some());
        assert_eq!(start_time(me), start);
        assert_eq!(start_time(i32::MAX), None);
    }

    #[test]
    fn a_crash_kills_a_registered_live_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        let mut registry = Registry::default();
        registry.register("alpha", child.id() as i32);
        assert_eq!(registry.crash("alpha"), 1);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert_eq!(registry.crash("alpha"), 0, "the crash did not forget it");
    }
}
