//! Real systemd for tests: boot a container named N whose root is a throw-away overlay of the
//! host's `/`, with given files, binaries and units installed and its own hostname; run commands
//! inside (`nsenter`), read `systemctl show` properties and a unit's journal, poll with a
//! deadline, power off. Everything it created (container, overlay mount, per-container
//! cgroups, loop devices) is removed on drop, also when the test panics.
//!
//! Works as root on a host whose PID 1 is not systemd: `--register=no --keep-unit`, one
//! cgroup per container, unified hierarchy inside (needed for `systemctl freeze`).
//!
//! ```no_run
//! use nspawn_harness::{Container, Spec};
//! use std::time::Duration;
//! let c = Container::boot(
//!     Spec::new("alpha")
//!         .binary("/path/to/ocf-rs-wrapper", "/usr/libexec/drbd-reactor/ocf-rs-wrapper")
//!         .file("/usr/lib/systemd/system/ocf.rs@.service", "[Service]\n", 0o644)
//!         .unit("ocf.rs@p_dummy_r0.service.d/reactor.conf", "[Service]\nEnvironment=AGENT=/x\n"),
//! );
//! c.ok(&["systemctl", "start", "ocf.rs@p_dummy_r0.service"]);
//! c.wait_for_property("ocf.rs@p_dummy_r0.service", "ActiveState", "active", Duration::from_secs(10));
//! println!("{}", c.journal("ocf.rs@p_dummy_r0.service"));
//! // dropped: powered off, overlay unmounted, cgroups removed
//! ```
//!
//! Must never: skip silently (a host that cannot run containers makes the test fail with a
//! message saying what is missing), touch anything outside its own directories, mounts and
//! cgroups, or leave a container running after its handle is gone.

mod host;
mod loop_device;

pub use host::{poll, require_file, require_host};
pub use loop_device::LoopDevice;

use host::{
    cgroup_dirs, child_named, is_mountpoint, machine_id, remove_cgroup_tree, run_host,
    symlink_force, BASE,
};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// What to put into a container before it boots.
#[derive(Debug, Clone)]
pub struct Spec {
    name: String,
    hostname: String,
    files: Vec<(PathBuf, Vec<u8>, u32)>,
    symlinks: Vec<(PathBuf, PathBuf)>,
    binds: Vec<PathBuf>,
    masked: Vec<String>,
}

impl Spec {
    /// A container named `name` (also its hostname unless [`Spec::hostname`] says otherwise).
    /// Names must be unique among the containers running at the same time.
    pub fn new(name: &str) -> Self {
        assert!(
            !name.is_empty()
                && name.len() <= 40
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "container name {name:?}: use 1-40 letters, digits or dashes"
        );
        Spec {
            name: name.to_string(),
            hostname: name.to_string(),
            files: Vec::new(),
            symlinks: Vec::new(),
            binds: Vec::new(),
            masked: vec![
                "nvmf-autoconnect.service".into(),
                "nvmefc-boot-connections.service".into(),
                "timers.target".into(),
            ],
        }
    }

    /// `uname -n` inside.
    pub fn hostname(mut self, hostname: &str) -> Self {
        self.hostname = hostname.to_string();
        self
    }

    /// A file at `path` (absolute, inside the container) with `contents` and `mode`. Not under
    /// `/run` or `/tmp`: those are fresh tmpfs inside; write there after boot through
    /// [`Container::host_path`].
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        assert!(path.starts_with('/'), "{path}: give an absolute path");
        assert!(
            !path.starts_with("/run/") && !path.starts_with("/tmp/"),
            "{path}: /run and /tmp are tmpfs in the container; write it after boot"
        );
        self.files.push((path.into(), contents.into(), mode));
        self
    }

    /// A copy of the host file `source` (a binary, say) at `path`, mode 0755.
    pub fn binary(self, source: impl AsRef<Path>, path: &str) -> Self {
        let source = source.as_ref();
        let contents =
            fs::read(source).unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
        self.file(path, contents, 0o755)
    }

    /// A unit file in `/etc/systemd/system/` (a drop-in too: `name` may be `x.service.d/y.conf`).
    pub fn unit(self, name: &str, text: &str) -> Self {
        self.file(&format!("/etc/systemd/system/{name}"), text, 0o644)
    }

    /// A symbolic link at `path` (inside) pointing to `target` (say, `/usr/sbin/drbdsetup` to a
    /// stand-in installed with [`Spec::binary`]).
    pub fn symlink(mut self, target: &str, path: &str) -> Self {
        assert!(path.starts_with('/'), "{path}: give an absolute path");
        self.symlinks.push((target.into(), path.into()));
        self
    }

    /// Bind-mount a host path (a device node like `/dev/loop3`, a directory) at the same place.
    pub fn bind(mut self, path: impl Into<PathBuf>) -> Self {
        self.binds.push(path.into());
        self
    }

    /// Mask a unit the host's root would otherwise start.
    pub fn mask(mut self, unit: &str) -> Self {
        self.masked.push(unit.to_string());
        self
    }
}

/// A running container. Dropping it powers it off and removes everything.
pub struct Container {
    name: String,
    dir: PathBuf,
    merged: PathBuf,
    cgroups: Vec<PathBuf>,
    nspawn: Option<Child>,
    leader: Option<u32>,
}

impl Container {
    /// Mounts the overlay, installs `spec`, boots systemd and waits until it finished booting.
    pub fn boot(spec: Spec) -> Container {
        require_host();
        let dir = Path::new(BASE).join(&spec.name);
        let mut c = Container {
            name: spec.name.clone(),
            merged: dir.join("merged"),
            dir,
            cgroups: cgroup_dirs(&spec.name),
            nspawn: None,
            leader: None,
        };
        c.cleanup(); // leftovers of an earlier run that was killed
        c.prepare(&spec)
            .unwrap_or_else(|e| panic!("preparing container {}: {e}", c.name));
        c.start(&spec);
        c
    }

    fn prepare(&mut self, spec: &Spec) -> io::Result<()> {
        for d in ["upper", "work", "merged"] {
            fs::create_dir_all(self.dir.join(d))?;
        }
        let options = format!(
            "lowerdir=/,upperdir={},workdir={}",
            self.dir.join("upper").display(),
            self.dir.join("work").display()
        );
        run_host(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o", &options])
                .arg(&self.merged),
        )?;
        let test_target = "[Unit]\nDescription=nspawn-harness boot target\nRequires=basic.target\nAfter=basic.target\nAllowIsolate=yes\n";
        let mut files: Vec<(PathBuf, Vec<u8>, u32)> = vec![
            (
                "/etc/hostname".into(),
                format!("{}\n", spec.hostname).into(),
                0o644,
            ),
            (
                "/etc/machine-id".into(),
                format!("{}\n", machine_id()).into(),
                0o444,
            ),
            (
                "/etc/systemd/system/test.target".into(),
                test_target.into(),
                0o644,
            ),
        ];
        files.extend(spec.files.iter().cloned());
        for (path, contents, mode) in &files {
            let host = self.host_path(path);
            if let Some(parent) = host.parent() {
                fs::create_dir_all(parent)?;
            }
            let _ = fs::remove_file(&host);
            fs::write(&host, contents)?;
            fs::set_permissions(&host, fs::Permissions::from_mode(*mode))?;
        }
        for (target, path) in &spec.symlinks {
            let host = self.host_path(path);
            if let Some(parent) = host.parent() {
                fs::create_dir_all(parent)?;
            }
            let _ = fs::remove_file(&host);
            std::os::unix::fs::symlink(target, &host)?;
        }
        let system = self.host_path("/etc/systemd/system");
        symlink_force("test.target", &system.join("default.target"))?;
        for unit in &spec.masked {
            symlink_force("/dev/null", &system.join(unit))?;
        }
        for cg in &self.cgroups {
            fs::create_dir_all(cg)?;
        }
        Ok(())
    }

    fn start(&mut self, spec: &Spec) {
        // Every container starts from a cgroup of its own (--keep-unit puts its payload under
        // the caller's cgroup): otherwise parallel containers share one tree.
        let join_cgroups: String = self
            .cgroups
            .iter()
            .map(|cg| format!("echo $$ > {}/cgroup.procs && ", cg.display()))
            .collect();
        let mut args = vec![
            "-D".to_string(),
            self.merged.display().to_string(),
            "-M".into(),
            spec.name.clone(),
            "--register=no".into(),
            "--keep-unit".into(),
            "--console=passive".into(),
            "--private-network".into(),
        ];
        for b in &spec.binds {
            args.push(format!("--bind={}", b.display()));
        }
        args.push("-b".into());
        let log = fs::File::create(self.dir.join("boot.log")).expect("boot log");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("{join_cgroups}exec systemd-nspawn \"$@\""))
            .arg("nspawn-harness")
            .args(&args)
            .env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("boot log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning systemd-nspawn: {e}"));
        let nspawn_pid = child.id();
        self.nspawn = Some(child);
        let leader = poll(Duration::from_secs(30), || {
            child_named(nspawn_pid, "systemd")
        })
        .unwrap_or_else(|| {
            panic!(
                "container {}: no systemd PID 1 within 30 s; boot log:\n{}",
                self.name,
                self.boot_log()
            )
        });
        self.leader = Some(leader);
        let socket = PathBuf::from(format!("/proc/{leader}/root/run/systemd/private"));
        poll(Duration::from_secs(30), || socket.exists().then_some(())).unwrap_or_else(|| {
            panic!(
                "container {}: systemd never opened its private socket; boot log:\n{}",
                self.name,
                self.boot_log()
            )
        });
        let out = self.exec(&["timeout", "60", "systemctl", "is-system-running", "--wait"]);
        let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            state == "running" || state == "degraded",
            "container {}: boot ended in state {state:?}; boot log:\n{}",
            self.name,
            self.boot_log()
        );
    }

    /// The container's name (also its machine name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host path of `path` inside the running container (through its PID 1's root, so
    /// `/run` and `/tmp`, tmpfs inside, are reached too); reads and writes go straight in.
    pub fn host_path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        let relative = path.strip_prefix("/").unwrap_or(path);
        match self.leader {
            Some(leader) => PathBuf::from(format!("/proc/{leader}/root")).join(relative),
            None => self.merged.join(relative),
        }
    }

    /// Runs `args` inside the container (all namespaces of its PID 1).
    pub fn exec(&self, args: &[&str]) -> Output {
        let leader = self.leader.expect("container is not running");
        Command::new("nsenter")
            .args(["-t", &leader.to_string(), "-a"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running nsenter {args:?}: {e}"))
    }

    /// Runs `args` inside and returns stdout; panics with both streams when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "in container {}: {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `sh -c script` inside.
    pub fn sh(&self, script: &str) -> Output {
        self.exec(&["sh", "-c", script])
    }

    /// `systemctl args...` inside.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        let mut all = vec!["systemctl"];
        all.extend_from_slice(args);
        self.exec(&all)
    }

    /// `systemctl show -p P1 -p P2 unit` as a map.
    pub fn show(&self, unit: &str, properties: &[&str]) -> HashMap<String, String> {
        let mut args = vec!["systemctl", "show"];
        for p in properties {
            args.extend(["-p", p]);
        }
        args.push("--");
        args.push(unit);
        self.ok(&args)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// One `systemctl show` property of `unit`.
    pub fn property(&self, unit: &str, property: &str) -> String {
        self.show(unit, &[property])
            .remove(property)
            .unwrap_or_default()
    }

    /// The unit's journal of this boot, messages only.
    pub fn journal(&self, unit: &str) -> String {
        let _ = self.exec(&["journalctl", "--sync"]);
        let out = self.exec(&["journalctl", "-b", "--no-pager", "-o", "cat", "-u", unit]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls `condition` until it holds or `deadline` passes; then panics naming `what`, with
    /// `context()` (say, `systemctl status` output) in the message.
    pub fn wait_until(&self, what: &str, deadline: Duration, mut condition: impl FnMut() -> bool) {
        if poll(deadline, || condition().then_some(())).is_none() {
            panic!(
                "container {}: {what}: not reached within {deadline:?}",
                self.name
            );
        }
    }

    /// Polls until `unit`'s `property` equals `value`; panics with the unit's status and
    /// journal otherwise.
    pub fn wait_for_property(&self, unit: &str, property: &str, value: &str, deadline: Duration) {
        let mut last = String::new();
        let reached = poll(deadline, || {
            last = self.property(unit, property);
            (last == value).then_some(())
        });
        if reached.is_none() {
            let status = self.systemctl(&["status", "--no-pager", "-l", "--", unit]);
            panic!(
                "container {}: {unit} {property} is {last:?}, not {value:?} after {deadline:?}\n{}\njournal:\n{}",
                self.name,
                String::from_utf8_lossy(&status.stdout),
                self.journal(unit)
            );
        }
    }

    /// `systemctl daemon-reload` inside (after writing units through [`Container::host_path`]).
    pub fn daemon_reload(&self) {
        self.ok(&["systemctl", "daemon-reload"]);
    }

    /// Powers the container off and waits for it (at most 20 s, then kills it). Returns
    /// nspawn's exit status, `None` when it had to be killed.
    pub fn poweroff(&mut self) -> Option<i32> {
        let (Some(mut nspawn), leader) = (self.nspawn.take(), self.leader.take()) else {
            return None;
        };
        if let Some(leader) = leader {
            // SAFETY: plain kill(2) of the container's PID 1, a process we started.
            unsafe { libc::kill(leader as i32, libc::SIGRTMIN() + 4) };
        }
        let exited = poll(Duration::from_secs(20), || nspawn.try_wait().ok().flatten());
        match exited {
            Some(status) => status.code(),
            None => {
                if let Some(leader) = leader {
                    // SAFETY: as above.
                    unsafe { libc::kill(leader as i32, libc::SIGKILL) };
                }
                if poll(Duration::from_secs(10), || nspawn.try_wait().ok().flatten()).is_none() {
                    let _ = nspawn.kill();
                    let _ = nspawn.wait();
                }
                None
            }
        }
    }

    /// Kills the container's PID 1 with SIGKILL (a power loss: nothing inside gets to run a
    /// stop job) and waits for nspawn. Returns nspawn's exit status, `None` when it was not
    /// running.
    pub fn kill(&mut self) -> Option<i32> {
        let (Some(mut nspawn), leader) = (self.nspawn.take(), self.leader.take()) else {
            return None;
        };
        if let Some(leader) = leader {
            // SAFETY: plain kill(2) of the container's PID 1, a process we started.
            unsafe { libc::kill(leader as i32, libc::SIGKILL) };
        }
        if poll(Duration::from_secs(10), || nspawn.try_wait().ok().flatten()).is_none() {
            let _ = nspawn.kill();
        }
        nspawn.wait().ok().and_then(|s| s.code())
    }

    /// Waits up to `deadline` for the container to end by itself (say, an escalation that
    /// reboots it: nspawn exits with 133). Returns nspawn's exit status, `None` if it still runs
    /// (it keeps running; drop or [`Container::poweroff`] ends it).
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let nspawn = self.nspawn.as_mut()?;
        let status = poll(deadline, || nspawn.try_wait().ok().flatten())?;
        self.nspawn = None;
        self.leader = None;
        Some(status.code().unwrap_or(-1))
    }

    fn boot_log(&self) -> String {
        fs::read_to_string(self.dir.join("boot.log")).unwrap_or_default()
    }

    fn cleanup(&mut self) {
        self.poweroff();
        if is_mountpoint(&self.merged)
            && run_host(Command::new("umount").arg(&self.merged)).is_err()
        {
            let _ = run_host(Command::new("umount").arg("-l").arg(&self.merged));
        }
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir(format!("/run/systemd/nspawn/propagate/{}", self.name));
        for cg in &self.cgroups {
            remove_cgroup_tree(cg);
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.cleanup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_keeps_its_hostname_and_puts_units_under_etc_systemd_system() {
        let s = Spec::new("alpha-1")
            .hostname("node-a")
            .unit("x.service", "[Service]\n");
        assert_eq!(s.hostname, "node-a");
        assert_eq!(s.files[0].0, PathBuf::from("/etc/systemd/system/x.service"));
    }

    #[test]
    #[should_panic(expected = "container name")]
    fn a_container_name_with_a_slash_is_refused() {
        Spec::new("../x");
    }
}
