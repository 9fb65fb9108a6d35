//! The processes of a cluster, found through /proc by the tag every daemon is started with
//! (`HA_REAL_TAG=<cluster dir>/<node>#<instance>`, inherited by everything it starts,
//! whatever process group or session it moves to): to end a node's processes on a power
//! loss, and to find orphans (processes of daemon instances that are gone).
//!
//! Must never: touch a process without this cluster's tag.

use std::time::{Duration, Instant};

pub const TAG: &str = "HA_REAL_TAG";

/// A live (not zombie) process carrying a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub pid: i32,
    pub tag: String,
    pub cmdline: String,
}

/// Every live process whose tag starts with `prefix`.
pub fn tagged(prefix: &str) -> Vec<Tagged> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let want = format!("{TAG}={prefix}");
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let Some(tag) = env
            .split(|b| *b == 0)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .find(|v| v.starts_with(&want))
        else {
            continue;
        };
        if zombie(pid) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline"))
            .map(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default();
        out.push(Tagged {
            pid,
            tag: tag[TAG.len() + 1..].to_string(),
            cmdline,
        });
    }
    out
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // "pid (comm) S ...": the state follows the last ')'.
            s.rfind(')')
                .and_then(|i| s[i + 1..].trim_start().chars().next())
        })
        .map(|state| state == 'Z' || state == 'X')
        .unwrap_or(true)
}

/// SIGKILLs every process tagged with `prefix` until none is left (a shell between its
/// fork and our scan is caught by the next scan). Returns how many were killed. Done after
/// two scans in a row find none: a process in the middle of an `execve` shows an empty
/// environment for a moment, so one empty scan does not prove there is none.
pub fn kill_all(prefix: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut killed = 0;
    let mut empty_scans = 0;
    loop {
        let found = tagged(prefix);
        if found.is_empty() {
            empty_scans += 1;
            if empty_scans == 2 {
                return killed;
            }
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        empty_scans = 0;
        for p in &found {
            // SAFETY: kill(2) with a pid read from /proc and a valid signal number.
            if unsafe { libc::kill(p.pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
        assert!(
            Instant::now() < deadline,
            "processes tagged {prefix} survive SIGKILL: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls until no process tagged with `prefix` is left, at most `within`; returns those
/// still there after it.
pub fn wait_gone(prefix: &str, within: Duration) -> Vec<Tagged> {
    let deadline = Instant::now() + within;
    loop {
        let found = tagged(prefix);
        if found.is_empty() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
