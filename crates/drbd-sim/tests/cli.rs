//! drbd-sim's command line as a user meets it, and the demo stopping its daemons on SIGTERM
//! (it used to leave three drbd-reactor processes running).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drbd-sim"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn per_command_help_version_and_rejected_unknown_flags() {
    let out = sim(&["demo", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--interactive"));
    let out = sim(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("drbd-sim "));
    let out = sim(&["demo", "--bogus"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
    let out = sim(&["ctl", "--socket", "/nonexistent", "help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("partition NODE"));
}

/// The drbd-reactor processes whose parent is `pid`.
fn daemons_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let ppid = rest.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        if comm.ends_with("(drbd-reactor") && ppid == Some(pid) && !rest.starts_with('Z') {
            out.push(child);
        }
    }
    out
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(") ").next().unwrap_or("").starts_with('Z'))
}

#[test]
fn sigterm_to_the_demo_stops_its_three_daemons_and_removes_its_directory() {
    let reactor =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/drbd-reactor");
    assert!(reactor.exists(), "cargo build -p drbd-reactor first");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_drbd-sim"))
        .args(["demo", "--interactive"])
        .env("DRBD_REACTOR_BIN", &reactor)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let dir = loop {
        let line = lines.next().expect("demo output").unwrap();
        if let Some(d) = line.trim().strip_prefix("working directory ") {
            break std::path::PathBuf::from(d);
        }
    };
    // keep reading the narration so the demo never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    let deadline = Instant::now() + Duration::from_secs(60);
    let daemons = loop {
        let d = daemons_of(demo.id());
        if d.len() == 3 {
            break d;
        }
        assert!(Instant::now() < deadline, "3 daemons did not start: {d:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // wait() would close stdin first, which ends an interactive demo by itself
    let _stdin = demo.stdin.take();
    unsafe { libc::kill(demo.id() as i32, libc::SIGTERM) };
    let status = demo.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemons.iter().any(|p| running(*p)) {
        assert!(
            Instant::now() < deadline,
            "daemons left running: {daemons:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(!dir.exists(), "{} left behind: {left:?}", dir.display());
}
