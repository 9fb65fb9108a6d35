//! Test harness: a temporary directory with a config, a stand-in `drbdsetup` first in PATH
//! that replays stream files, and the real `drbd-reactor` binary. Conditions are polled
//! with a deadline, never slept for.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(30);

/// The stand-in for `drbdsetup events2 --full --poll`. Each start appends its pid to
/// `pids`, records its arguments, then prints `stream.<n>` (n = start number, from 1) or
/// `stream`; afterwards it prints any file the test renames to `more`, writes what it reads
/// on stdin to `stdin`, and exits on stdin EOF. With a file `fail` present it exits 20
/// at once with a message on stderr; with `exit-after-stream` it exits 0 after the stream.
const STANDIN: &str = r#"#!/bin/bash
d="$(dirname "$0")/.."
echo $$ >> "$d/pids"
echo "$*" > "$d/args"
n=$(wc -l < "$d/pids")
if [ -e "$d/fail" ]; then echo "stand-in: told to fail (start $n)" >&2; exit 20; fi
f="$d/stream.$n"; [ -e "$f" ] || f="$d/stream"
cat "$f"
[ -e "$d/exit-after-stream" ] && exit 0
while :; do
  if [ -e "$d/more" ]; then mv -f "$d/more" "$d/more.$$"; cat "$d/more.$$"; fi
  if read -t 0.05 -r l; then echo "$l" >> "$d/stdin"; elif [ $? -le 128 ]; then exit 0; fi
done
"#;

pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let standin = dir.path().join("bin/drbdsetup");
        drbd_reactor_process::write_script(&standin, STANDIN).unwrap();
        std::fs::write(dir.path().join("stream"), "exists -\n").unwrap();
        Setup { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: &str) {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, content).unwrap();
    }

    /// Replaces the stand-in `drbdsetup` with `script` (written so that running it cannot fail
    /// with "Text file busy" while other tests spawn children).
    pub fn drbdsetup(&self, script: &str) {
        drbd_reactor_process::write_script(&self.path("bin/drbdsetup"), script).unwrap();
    }

    /// Hands more lines to the running stand-in.
    pub fn more(&self, lines: &str) {
        let tmp = self.path("more.tmp");
        std::fs::write(&tmp, lines).unwrap();
        wait_for("the stand-in to take the previous lines", || {
            !self.path("more").exists()
        });
        std::fs::rename(tmp, self.path("more")).unwrap();
    }

    /// Writes `reactor.toml`: a debug-level log file sink first, then `body`.
    pub fn config(&self, body: &str) -> PathBuf {
        self.config_with("", body)
    }

    /// Like [`Setup::config`], with global keys before the log sink.
    pub fn config_with(&self, globals: &str, body: &str) -> PathBuf {
        let log = self.path("log");
        let text = format!(
            "{globals}[[log]]\nlevel = \"trace\"\nfile = \"{}\"\n\n{body}",
            log.display()
        );
        self.write("reactor.toml", &text);
        self.path("reactor.toml")
    }

    pub fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.path("pids"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    }

    pub fn command(&self, config: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_drbd-reactor"));
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.arg("-c")
            .arg(config)
            .env("PATH", path)
            .env("DRBD_REACTOR_RUN_DIR", self.path("run"))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// A stand-in `drbdadm` in the daemon's PATH that answers `--version` with `output`.
    pub fn drbdadm_version(&self, output: &str) {
        let drbdadm = self.path("bin/drbdadm");
        let text = format!("#!/bin/sh\ncat <<'EOF'\n{output}EOF\n");
        drbd_reactor_process::write_script(&drbdadm, &text).unwrap();
    }

    pub fn start(&self, config: &Path) -> Daemon {
        self.start_with(self.command(config))
    }

    pub fn start_with(&self, mut cmd: Command) -> Daemon {
        Daemon {
            child: cmd.spawn().unwrap(),
            log: self.path("log"),
        }
    }
}

/// Polls `cond` until it holds; panics naming `what` after the deadline.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // a zombie is not running any more; its parent or init reaps it
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// The log file without the timestamp before each record (tests compare the rest).
    pub fn log(&self) -> String {
        strip_timestamps(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Log records (a record is a line starting with a level, plus its continuation lines).
    pub fn records(&self) -> Vec<String> {
        records(&self.log())
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    pub fn wait_log(&self, needle: &str, times: usize) {
        wait_for(&format!("{times} x {needle:?} in the log"), || {
            self.count(needle) >= times
        });
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_for("the daemon to exit", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.unwrap()
    }

    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes the `2026-12-05T19:30:01.123456Z ` a file sink puts before each record.
pub fn strip_timestamps(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    for line in log.split_inclusive('\n') {
        let stamped = line.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && line.get(10..11) == Some("T")
            && line.get(26..28) == Some("Z ");
        out.push_str(if stamped { &line[28..] } else { line });
    }
    out
}

pub fn records(log: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in log.lines() {
        let starts = ["ERROR [", "WARN [", "INFO [", "DEBUG [", "TRACE ["]
            .iter()
            .any(|p| line.starts_with(p));
        match out.last_mut() {
            Some(last) if !starts => {
                last.push('\n');
                last.push_str(line);
            }
            _ => out.push(line.to_string()),
        }
    }
    out
}

/// Runs the binary to completion with `args`, returning (status, stdout, stderr).
pub fn run_once(setup: &Setup, args: &[&str]) -> (ExitStatus, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drbd-reactor"));
    cmd.args(args)
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", setup.path("bin").display()),
        )
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A loopback TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
