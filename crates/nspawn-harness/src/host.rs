//! The host side of the harness: checks that the host can run containers, polling, commands
//! on the host, cgroup directories, and reading /proc.
//!
//! Must never: touch a cgroup, mount or file that is not the harness's own.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Where overlays and images live: tmpfs, fast, gone after a host reboot.
pub(crate) const BASE: &str = "/dev/shm/nspawn-harness";
/// Host tools the harness and the tests' real components need, with their Debian packages.
pub(crate) const TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("nsenter", "util-linux"),
    ("mount", "mount"),
];
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Panics with a clear message unless this process is root and the host has what the
/// containers need. Call first in every real-systemd test: such a test must fail, not skip.
pub fn require_host() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "real-systemd tests need root (systemd-nspawn, overlay mounts, cgroups); run them as root"
    );
    for (tool, package) in TOOLS {
        assert!(
            find_in_path(tool).is_some(),
            "real-systemd tests need `{tool}` (Debian package {package}): apt-get install -y --no-install-recommends {package}"
        );
    }
}

/// Panics unless `path` exists, naming the package that ships it.
pub fn require_file(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "this test needs {path} (Debian package {package}): apt-get install -y --no-install-recommends {package}"
    );
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Calls `f` every 50 ms until it returns `Some` or `deadline` passes.
pub fn poll<T>(deadline: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        sleep(POLL);
    }
}

pub(crate) fn run_host(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

pub(crate) fn symlink_force(target: &str, link: &Path) -> io::Result<()> {
    let _ = fs::remove_file(link);
    std::os::unix::fs::symlink(target, link)
}

pub(crate) fn machine_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/uuid")
        .unwrap_or_default()
        .trim()
        .replace('-', "")
}

/// The cgroup directories this container's nspawn starts from: the v1 `name=systemd` and v2
/// `unified` hierarchies on a hybrid host, the root on a pure v2 host.
pub(crate) fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let leaf = format!("nspawn-harness-{name}");
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return vec![root.join(leaf)];
    }
    ["systemd", "unified"]
        .iter()
        .map(|h| root.join(h))
        .filter(|h| h.is_dir())
        .map(|h| h.join(&leaf))
        .collect()
}

pub(crate) fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

pub(crate) fn is_mountpoint(path: &Path) -> bool {
    let Ok(mounts) = fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let wanted = path.display().to_string();
    mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(1))
        .any(|m| m == wanted)
}

/// The pid of a child of `parent` whose command name is `comm`.
pub(crate) fn child_named(parent: u32, comm: &str) -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, tail) = stat.rsplit_once(") ")?;
        let name = head.split_once(" (")?.1;
        let ppid: u32 = tail.split(' ').nth(1)?.parse().ok()?;
        (ppid == parent && name == comm).then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_returns_the_first_value_and_gives_up_at_the_deadline() {
        let mut n = 0;
        assert_eq!(
            poll(Duration::from_secs(5), || {
                n += 1;
                (n == 3).then_some(n)
            }),
            Some(3)
        );
        assert_eq!(poll(Duration::from_millis(10), || None::<()>), None);
    }

    #[test]
    fn the_parent_of_this_process_has_it_as_a_child() {
        let me = std::process::id();
        let stat = fs::read_to_string("/proc/self/stat").unwrap();
        let ppid: u32 = stat
            .rsplit_once(") ")
            .unwrap()
            .1
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let comm = fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(child_named(ppid, comm.trim()), Some(me));
    }
}
