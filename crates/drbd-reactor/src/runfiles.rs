//! Small files under the run directory (`$DRBD_REACTOR_RUN_DIR`, default `/run/drbd-reactor`)
//! that tell tools what the running daemon is doing without asking it:
//!
//! * `config-generation`: which configuration pass is in effect and whether it worked, so
//!   `drbd-reactorctl` can wait until a reload it caused has been applied (or failed);
//! * `health`: whether `drbdsetup events2` runs and its initial dump (after a restart: the
//!   new child's dump, reconciled) has been applied, for
//!   `drbd-reactor --health` (container and Kubernetes probes).
//!
//! Both are written atomically (temporary file, rename). Must never: fail the daemon (a run
//! directory that cannot be written is reported once at debug level), or block for long
//! (a few hundred bytes, written on reloads and child starts/ends only).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const GENERATION_FILE: &str = "config-generation";
pub const HEALTH_FILE: &str = "health";

/// The run directory.
pub fn run_dir() -> PathBuf {
    std::env::var_os("DRBD_REACTOR_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/drbd-reactor"))
}

/// Nanoseconds since the epoch.
pub fn realtime_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// One configuration pass (the start counts as the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPass {
    pub generation: u64,
    /// When the pass began reading the files.
    pub read_at_ns: u128,
    /// The located error of a failed pass (the running configuration was kept).
    pub error: Option<String>,
}

/// `start` is the daemon's start time as /proc/PID/stat gives it (field 22): with the pid it
/// names this process, where a pid alone may name another after a crash (drbd-reactorctl
/// signals the pid without systemd).
pub fn render_generation(pid: u32, start: Option<u64>, pass: &ConfigPass) -> String {
    let (result, error) = match &pass.error {
        None => ("ok", String::new()),
        Some(e) => ("failed", e.replace('\n', " ")),
    };
    let start = start.map_or(String::new(), |s| format!("start={s}\n"));
    format!(
        "pid={pid}\ngeneration={}\nread-at={}\nresult={result}\nerror={error}\n{start}",
        pass.generation, pass.read_at_ns
    )
}

/// What the health check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub events2_running: bool,
    pub initial_dump_complete: bool,
}

pub fn render_health(pid: u32, h: Health, since_ns: u128) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    format!(
        "pid={pid}\nevents2-running={}\ninitial-dump-complete={}\nsince={since_ns}\n",
        yes_no(h.events2_running),
        yes_no(h.initial_dump_complete)
    )
}

/// Parses a health file: `Some` only if it is complete.
pub fn parse_health(text: &str) -> Option<(u32, Health)> {
    let mut pid = None;
    let (mut running, mut dump) = (None, None);
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", v)) => pid = v.parse().ok(),
            Some(("events2-running", v)) => running = Some(v == "yes"),
            Some(("initial-dump-complete", v)) => dump = Some(v == "yes"),
            _ => {}
        }
    }
    Some((
        pid?,
        Health {
            events2_running: running?,
            initial_dump_complete: dump?,
        },
    ))
}

static REPORTED: AtomicBool = AtomicBool::new(false);

/// Removes this daemon's run files at a clean stop (tools then see no daemon, not a stale one).
pub fn remove_own() {
    let dir = run_dir();
    for name in [GENERATION_FILE, HEALTH_FILE] {
        let path = dir.join(name);
        let ours = std::fs::read_to_string(&path)
            .is_ok_and(|t| t.starts_with(&format!("pid={}\n", std::process::id())));
        if ours {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `name` in the run directory atomically; failures are reported once.
pub fn write(name: &str, content: &str) {
    let dir = run_dir();
    if let Err(e) = write_in(&dir, name, content) {
        if !REPORTED.swap(true, Ordering::Relaxed) {
            log::debug!(target: crate::core::TARGET, "cannot write {} in {}: {e} (drbd-reactorctl will not wait for reloads; --health has nothing to read)", name, dir.display());
        }
    }
}

fn write_in(dir: &Path, name: &str, content: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_pass_says_so_with_its_error_on_one_line() {
        let pass = ConfigPass {
            generation: 3,
            read_at_ns: 100,
            error: Some("r.toml:4: bad\nvalue".into()),
        };
        assert_eq!(
            render_generation(7, None, &pass),
            "pid=7\ngeneration=3\nread-at=100\nresult=failed\nerror=r.toml:4: bad value\n"
        );
        assert!(render_generation(7, Some(12345), &pass).ends_with("\nstart=12345\n"));
    }

    #[test]
    fn health_round_trips_and_a_torn_file_is_not_health() {
        let h = Health {
            events2_running: true,
            initial_dump_complete: false,
        };
        let text = render_health(9, h, 5);
        assert_eq!(parse_health(&text), Some((9, h)));
        assert_eq!(parse_health("pid=9\nevents2-running=yes\n"), None);
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        write_in(dir.path(), "health", "a\n").unwrap();
        write_in(dir.path(), "health", "b\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("health")).unwrap(),
            "b\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
