//! `drbd-reactor --health`: the probe for containers and Kubernetes. It reads the running
//! daemon's health file (see [`crate::runfiles`]) and says in one line whether that daemon is
//! alive, its `drbdsetup events2` child runs and the initial dump arrived. Exit 0 when all
//! three hold, 1 otherwise.
//!
//! Must never: read the configuration, start anything, talk to DRBD, or write a file (it runs
//! every few seconds in a read-only container, possibly while the daemon reloads).

use crate::runfiles::{self, Health};
use std::path::Path;
use std::process::ExitCode;

/// Why the probe fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unhealthy {
    /// No health file (no daemon started with this run directory) or it cannot be read.
    Unreadable { path: String, error: String },
    /// The file lacks a key (written by a different version, or damaged).
    Incomplete { path: String },
    /// The daemon that wrote the file is gone.
    DaemonGone { pid: u32 },
    /// `drbdsetup events2` is not running (it ended; the daemon starts it again).
    Events2NotRunning { pid: u32 },
    /// The child runs but its initial dump has not arrived yet.
    InitialDumpMissing { pid: u32 },
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::Unreadable { path, error } => {
                write!(f, "unhealthy: cannot read {path}: {error} (is drbd-reactor running with this DRBD_REACTOR_RUN_DIR?)")
            }
            Unhealthy::Incomplete { path } => {
                write!(
                    f,
                    "unhealthy: {path} lacks pid, events2-running or initial-dump-complete"
                )
            }
            Unhealthy::DaemonGone { pid } => {
                write!(
                    f,
                    "unhealthy: drbd-reactor (pid {pid}) that wrote the health file is not running"
                )
            }
            Unhealthy::Events2NotRunning { pid } => {
                write!(
                    f,
                    "unhealthy: drbd-reactor (pid {pid}) has no running drbdsetup events2"
                )
            }
            Unhealthy::InitialDumpMissing { pid } => write!(
                f,
                "unhealthy: drbd-reactor (pid {pid}): the initial events2 dump has not arrived"
            ),
        }
    }
}

/// The verdict on a health file's content (`Err` of the read when there is none).
/// `alive` says whether a process with that pid exists.
pub fn judge(
    path: &Path,
    content: Result<String, std::io::Error>,
    alive: impl Fn(u32) -> bool,
) -> Result<u32, Unhealthy> {
    let path_s = path.display().to_string();
    let text = content.map_err(|e| Unhealthy::Unreadable {
        path: path_s.clone(),
        error: e.to_string(),
    })?;
    let (pid, h) = runfiles::parse_health(&text).ok_or(Unhealthy::Incomplete { path: path_s })?;
    if !alive(pid) {
        return Err(Unhealthy::DaemonGone { pid });
    }
    match h {
        Health {
            events2_running: false,
            ..
        } => Err(Unhealthy::Events2NotRunning { pid }),
        Health {
            initial_dump_complete: false,
            ..
        } => Err(Unhealthy::InitialDumpMissing { pid }),
        _ => Ok(pid),
    }
}

/// Whether a process exists: signal 0 reaches it, or it exists but belongs to someone else.
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// The probe: one line on stdout (healthy) or stderr (not), exit 0 or 1.
pub fn main() -> ExitCode {
    let path = runfiles::run_dir().join(runfiles::HEALTH_FILE);
    let content = std::fs::read_to_string(&path);
    match judge(&path, content, process_alive) {
        Ok(pid) => {
            println!(
                "healthy: drbd-reactor (pid {pid}) follows drbdsetup events2, initial dump applied"
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("{why}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn file(running: bool, dump: bool) -> Result<String, Error> {
        let h = Health {
            events2_running: running,
            initial_dump_complete: dump,
        };
        Ok(runfiles::render_health(42, h, 1))
    }

    fn p() -> &'static Path {
        Path::new("/run/drbd-reactor/health")
    }

    #[test]
    fn healthy_only_when_alive_running_and_dumped() {
        assert_eq!(judge(p(), file(true, true), |_| true), Ok(42));
    }

    #[test]
    fn a_dead_daemon_is_unhealthy_whatever_its_file_says() {
        assert_eq!(
            judge(p(), file(true, true), |_| false),
            Err(Unhealthy::DaemonGone { pid: 42 })
        );
    }

    #[test]
    fn events2_not_running_is_unhealthy_even_after_the_dump() {
        assert_eq!(
            judge(p(), file(false, true), |_| true),
            Err(Unhealthy::Events2NotRunning { pid: 42 })
        );
    }

    #[test]
    fn a_missing_initial_dump_is_unhealthy() {
        assert_eq!(
            judge(p(), file(true, false), |_| true),
            Err(Unhealthy::InitialDumpMissing { pid: 42 })
        );
    }

    #[test]
    fn a_missing_or_torn_file_is_unhealthy_and_names_the_path() {
        let missing = judge(p(), Err(Error::from(ErrorKind::NotFound)), |_| true).unwrap_err();
        assert!(matches!(missing, Unhealthy::Unreadable { .. }));
        assert!(missing.to_string().contains("/run/drbd-reactor/health"));
        let torn = judge(p(), Ok("pid=42\nevents2-running=yes\n".into()), |_| true);
        assert!(matches!(torn, Err(Unhealthy::Incomplete { .. })));
    }

    #[test]
    fn every_reason_is_one_line() {
        let reasons = [
            Unhealthy::Unreadable {
                path: "/x".into(),
                error: "e".into(),
            },
            Unhealthy::Incomplete { path: "/x".into() },
            Unhealthy::DaemonGone { pid: 1 },
            Unhealthy::Events2NotRunning { pid: 1 },
            Unhealthy::InitialDumpMissing { pid: 1 },
        ];
        for r in reasons {
            let s = r.to_string();
            assert!(s.starts_with("unhealthy: ") && !s.contains('\n'), "{s}");
        }
    }

    #[test]
    fn this_process_is_alive_and_an_impossible_pid_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }
}
