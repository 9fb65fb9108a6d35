//! The reload step (spec ctl.md §3) and waiting until the daemon runs the new
//! configuration. Under systemd: `systemctl is-active -q drbd-reactor-reload.path`, else
//! `systemctl reload drbd-reactor.service`. Without systemd: SIGHUP to the daemon's pid.
//! In both cases, when the daemon publishes its generation file (below), ctl waits until a
//! configuration pass that began after the latest change of the step has finished, and
//! reports a rejected configuration. With the path unit, a pass that has not finished within
//! a grace period is asked for with `systemctl reload` (systemd drops a trigger that comes
//! while the reload service it started still runs; a pass takes milliseconds, so one still
//! running then costs one more, harmless, pass). Must never leave before that pass or the
//! timeout, and never ask for more than one reload per step.
//!
//! The generation file (`$DRBD_REACTOR_RUN_DIR/config-generation`, default
//! `/run/drbd-reactor/config-generation`), written atomically by the daemon at the end of
//! every configuration pass (start and each reload), before it sends READY=1:
//!
//! ```text
//! pid=<daemon pid>
//! generation=<passes completed since start, 1 after start>
//! read-at=<CLOCK_REALTIME in ns when the pass began reading the config files>
//! result=ok|failed
//! error=<one line; empty when ok>
//! start=<the daemon's start time, field 22 of /proc/PID/stat; absent from older daemons>
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};

use crate::system::{systemctl, systemctl_quiet};

pub const RELOAD_PATH_UNIT: &str = "drbd-reactor-reload.path";
pub const DAEMON_UNIT: &str = "drbd-reactor.service";
pub const DEFAULT_RUN_DIR: &str = "/run/drbd-reactor";
pub const GENERATION_FILE: &str = "config-generation";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the path unit's own reload may take to finish before ctl asks for one (at most a
/// third of the timeout).
pub const PATH_UNIT_GRACE: Duration = Duration::from_secs(10);

/// One snapshot of the daemon's generation file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    pub pid: i32,
    pub generation: u64,
    pub read_at_ns: u128,
    pub ok: bool,
    pub error: String,
    /// The daemon's start time (field 22 of /proc/PID/stat), when it wrote one.
    pub start: Option<u64>,
}

/// Parses the generation file; None if it is incomplete.
pub fn parse_generation(text: &str) -> Option<Generation> {
    let mut pid = None;
    let mut generation = None;
    let mut read_at_ns = None;
    let mut ok = None;
    let mut error = String::new();
    let mut start = None;
    for line in text.lines() {
        let (key, value) = line.split_once('=')?;
        match key {
            "pid" => pid = value.parse().ok(),
            "generation" => generation = value.parse().ok(),
            "read-at" => read_at_ns = value.parse().ok(),
            "result" => ok = Some(value == "ok"),
            "error" => error = value.to_string(),
            "start" => start = value.parse().ok(),
            _ => {}
        }
    }
    Some(Generation {
        pid: pid?,
        generation: generation?,
        read_at_ns: read_at_ns?,
        ok: ok?,
        error,
        start,
    })
}

/// What the step waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Awaited {
    /// A pass with a higher generation than this (after our own reload request).
    After { pid: i32, generation: u64 },
    /// A pass that began reading at or after this time (the path unit reloads by itself).
    ReadSince(u128),
}

/// Whether `now` is the pass we wait for.
pub fn reached(awaited: &Awaited, now: &Generation) -> bool {
    match awaited {
        Awaited::After { pid, generation } => now.pid != *pid || now.generation > *generation,
        Awaited::ReadSince(t) => now.read_at_ns >= *t,
    }
}

/// The snippet changes one reload step is for: when the latest of them began. The pass ctl
/// waits for (with the path unit) is one that began reading after that time, not after the
/// reload step began: the path unit reloads on the first change, and that pass may well have
/// begun before the reload step (while `rm` asks about the next file, while `edit` runs the
/// editor on the next one), and then no later pass comes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    latest: Option<u128>,
}

impl Changes {
    /// Makes one change to a snippet file; when it succeeds it is the latest of this step.
    pub fn make<T, E>(&mut self, change: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let at = now_ns();
        let result = change();
        if result.is_ok() {
            self.record(at);
        }
        result
    }

    /// `make` for a change that may decline: `Ok(false)` changed nothing.
    pub fn make_if<E>(&mut self, change: impl FnOnce() -> Result<bool, E>) -> Result<bool, E> {
        let at = now_ns();
        let result = change();
        if let Ok(true) = result {
            self.record(at);
        }
        result
    }

    /// A change that began at `at` (a `now_ns()` taken before it) and succeeded.
    pub fn record(&mut self, at: u128) {
        self.latest = Some(self.latest.map_or(at, |t| t.max(at)));
    }

    /// Whether anything changed, i.e. whether the reload step runs.
    pub fn any(&self) -> bool {
        self.latest.is_some()
    }
}

/// How this machine reloads the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    Systemd,
    None,
}

pub struct Reloader {
    pub init: Init,
    pub generation_file: PathBuf,
    pub timeout: Duration,
}

/// Nanoseconds since the epoch (CLOCK_REALTIME, as the daemon's `read-at`).
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn read_generation(path: &Path) -> Option<Generation> {
    parse_generation(&std::fs::read_to_string(path).ok()?)
}

/// The generation file of a daemon that still runs (under systemd, where it is only read:
/// a pid that now names another process makes ctl wait for a pass from a new pid, which the
/// restarted daemon's is).
fn read_live_generation(path: &Path) -> Option<Generation> {
    read_generation(path).filter(|g| alive(g.pid))
}

fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// The daemon's process name: `/proc/PID/comm` is the file name it was started as (the
/// daemon never renames its main thread).
pub const DAEMON_COMM: &str = "drbd-reactor";

/// Whether the generation file's pid is the daemon that wrote it, before it gets a SIGHUP
/// (whose default action ends an unrelated process that got the pid after a crash): its start
/// time is the one the file records; a daemon that records none must be called drbd-reactor.
fn is_daemon(g: &Generation) -> bool {
    g.pid > 0
        && match g.start {
            Some(start) => drbd_reactor_process::start_time(g.pid as u32) == Some(start),
            None => std::fs::read_to_string(format!("/proc/{}/comm", g.pid))
                .is_ok_and(|comm| comm.trim_end_matches('\n') == DAEMON_COMM),
        }
}

/// Sends SIGHUP to the generation file's daemon; false (nothing sent) if its pid names
/// another process now. The process is held by a pidfd before it is checked and signalled
/// through it: a pid freed and reused between the check and the signal cannot get it (the
/// pidfd still names the process checked, or one that is gone).
fn hup_if_daemon(g: &Generation) -> std::io::Result<bool> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, g.pid, 0) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ESRCH) => Ok(false),
            // A kernel before 5.3: check, then kill(2).
            Some(libc::ENOSYS) if is_daemon(g) => {
                // SAFETY: kill(2) with the pid just checked.
                if unsafe { libc::kill(g.pid, libc::SIGHUP) } == 0 {
                    Ok(true)
                } else {
                    Err(std::io::Error::last_os_error())
                }
            }
            Some(libc::ENOSYS) => Ok(false),
            _ => Err(err),
        };
    }
    // SAFETY: a descriptor pidfd_open just returned, owned from here on.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    if !is_daemon(g) {
        return Ok(false);
    }
    // SAFETY: pidfd_send_signal(2) on the descriptor above, no siginfo, no flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGHUP,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match rc {
        0 => Ok(true),
        _ => match std::io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
            e => Err(e),
        },
    }
}

impl Reloader {
    /// From the environment: `DRBD_REACTORCTL_INIT=systemd|none` (default: systemd when
    /// `/run/systemd/system` exists), `DRBD_REACTOR_RUN_DIR`, `DRBD_REACTORCTL_RELOAD_TIMEOUT`
    /// (seconds).
    pub fn from_env() -> Reloader {
        let init = match std::env::var("DRBD_REACTORCTL_INIT").as_deref() {
            Ok("none") => Init::None,
            Ok("systemd") => Init::Systemd,
            _ if Path::new("/run/systemd/system").is_dir() => Init::Systemd,
            _ => Init::None,
        };
        let run_dir = std::env::var_os("DRBD_REACTOR_RUN_DIR")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_RUN_DIR), PathBuf::from);
        let timeout = std::env::var("DRBD_REACTORCTL_RELOAD_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        Reloader {
            init,
            generation_file: run_dir.join(GENERATION_FILE),
            timeout,
        }
    }

    /// The reload step; returns once the daemon runs a configuration read after `changes`.
    pub fn reload(&self, changes: &Changes) -> anyhow::Result<()> {
        let changed_at = changes.latest.unwrap_or_else(now_ns);
        let before = read_live_generation(&self.generation_file);
        let awaited = match self.init {
            Init::Systemd => {
                if systemctl_quiet(&["is-active", "-q", RELOAD_PATH_UNIT])? {
                    Awaited::ReadSince(changed_at)
                } else {
                    systemctl(&["reload", DAEMON_UNIT])?;
                    match &before {
                        Some(g) => Awaited::After {
                            pid: g.pid,
                            generation: g.generation,
                        },
                        None => Awaited::ReadSince(changed_at),
                    }
                }
            }
            Init::None => {
                let not_running = |pid: i32| {
                    anyhow!(
                        "cannot reload drbd-reactor without systemd: pid {pid} in '{}' is not a running drbd-reactor (is the daemon running?)",
                        self.generation_file.display()
                    )
                };
                let g = before.clone().ok_or_else(|| {
                    match read_generation(&self.generation_file) {
                        Some(stale) => not_running(stale.pid),
                        None => anyhow!(
                            "cannot reload drbd-reactor without systemd: '{}' is missing or incomplete (is the daemon running?)",
                            self.generation_file.display()
                        ),
                    }
                })?;
                let signalled = hup_if_daemon(&g).with_context(|| {
                    format!(
                        "cannot send SIGHUP to drbd-reactor (pid {} from '{}')",
                        g.pid,
                        self.generation_file.display()
                    )
                })?;
                if !signalled {
                    return Err(not_running(g.pid));
                }
                Awaited::After {
                    pid: g.pid,
                    generation: g.generation,
                }
            }
        };
        if before.is_none() && self.init == Init::Systemd {
            // A daemon that does not publish its generation: systemctl's return is all we have.
            return Ok(());
        }
        let deadline = Instant::now() + self.timeout;
        if let Awaited::ReadSince(_) = awaited {
            if self.init == Init::Systemd {
                // The path unit's reload; systemd drops a trigger that comes while the reload
                // service it started for an earlier change still runs, and then no pass
                // begins after our change.
                let grace = Instant::now() + (self.timeout / 3).min(PATH_UNIT_GRACE);
                if self.wait_until(&awaited, grace)? {
                    return Ok(());
                }
                eprintln!(
                    "{RELOAD_PATH_UNIT} started no reload of the change within {} s; reloading {DAEMON_UNIT}",
                    (self.timeout / 3).min(PATH_UNIT_GRACE).as_secs_f32()
                );
                systemctl(&["reload", DAEMON_UNIT])?;
            }
        }
        if self.wait_until(&awaited, deadline)? {
            return Ok(());
        }
        bail!(
            "drbd-reactor did not finish reloading its configuration within {} s (watching '{}'); check its log",
            self.timeout.as_secs(),
            self.generation_file.display()
        )
    }

    /// Waits for the pass until `deadline`: true once it finished, false at the deadline, an
    /// error if it rejected the configuration.
    fn wait_until(&self, awaited: &Awaited, deadline: Instant) -> anyhow::Result<bool> {
        loop {
            if let Some(now) = read_generation(&self.generation_file) {
                if reached(awaited, &now) {
                    if !now.ok {
                        bail!(
                            "drbd-reactor rejected the new configuration and keeps running the previous one: {}",
                            now.error
                        );
                    }
                    return Ok(true);
                }
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_file_parses_and_incomplete_files_do_not() {
        let g =
            parse_generation("pid=7\ngeneration=3\nread-at=100\nresult=failed\nerror=x:1: bad\n")
                .unwrap();
        assert_eq!(
            g,
            Generation {
                pid: 7,
                generation: 3,
                read_at_ns: 100,
                ok: false,
                error: "x:1: bad".into(),
                start: None,
            }
        );
        assert_eq!(parse_generation("pid=7\ngeneration=3\n"), None);
        let with_start =
            parse_generation("pid=7\ngeneration=3\nread-at=100\nresult=ok\nerror=\nstart=42\n")
                .unwrap();
        assert_eq!(with_start.start, Some(42));
    }

    #[test]
    fn a_pass_counts_when_newer_or_from_a_restarted_daemon() {
        let g = |pid, generation, read_at_ns| Generation {
            pid,
            generation,
            read_at_ns,
            ok: true,
            error: String::new(),
            start: None,
        };
        let after = Awaited::After {
            pid: 7,
            generation: 3,
        };
        assert!(!reached(&after, &g(7, 3, 0)));
        assert!(reached(&after, &g(7, 4, 0)));
        assert!(reached(&after, &g(8, 1, 0)));
        let since = Awaited::ReadSince(50);
        assert!(!reached(&since, &g(7, 9, 49)));
        assert!(reached(&since, &g(7, 9, 50)));
    }

    #[test]
    fn a_failed_change_is_no_change_and_the_latest_successful_one_counts() {
        let mut changes = Changes::default();
        assert!(changes.make(|| Err::<(), ()>(())).is_err());
        assert!(!changes.any());
        changes.record(10);
        let before = now_ns();
        changes.make(|| Ok::<(), ()>(())).unwrap();
        assert!(changes.latest.unwrap() >= before);
        changes.record(10);
        assert!(
            changes.latest.unwrap() >= before,
            "an earlier change never wins"
        );
        let mut declined = Changes::default();
        assert!(!declined.make_if(|| Ok::<bool, ()>(false)).unwrap());
        assert!(
            !declined.any(),
            "a declined change (target exists) is no change"
        );
    }
}
