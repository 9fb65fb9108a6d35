//! The real drbd-reactor daemon against the simulator: it starts `drbdsetup events2 --full
//! --poll` through the shims, sees the initial state and live changes, restarts the child
//! after its stream is killed; a crash of its node kills it (and what it started); and the
//! demo plays its whole story and exits 0.
//! These tests fail (never skip) when the daemon binary is missing.

mod common;
use common::*;

use drbd_sim::config::ClusterConfig;
use drbd_sim::server::{install_shims, Sim};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for_log(log: &Path, what: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(what).count() >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never logged {what:?} ({count}x):\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_daemon_follows_the_simulator_and_restarts_a_killed_events2() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let cfg = ClusterConfig::simple(&["alpha", "beta", "gamma"], "r0");
    let sim = Sim::from_config(cfg, &socket, Some(20)).unwrap();
    let shims = dir.path().join("alpha");
    install_shims(
        Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
        &shims,
        "alpha",
        &socket,
    )
    .unwrap();
    let log = dir.path().join("reactor.log");
    let config = dir.path().join("reactor.toml");
    std::fs::write(
        &config,
        format!(
            "[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n\n[[debugger]]\n",
            log.display()
        ),
    )
    .unwrap();
    let _daemon = start_daemon(&config, &shims);
    wait_for_log(&log, "Resource Exists r0", 1);
    wait_for_log(&log, "conn-name:gamma connection-state:Connected", 1);
    sim.ctl(&["primary", "alpha", "r0"]);
    wait_for_log(
        &log,
        "new: may-promote:false promotion-score:10103 role:Primary",
        1,
    );
    sim.ctl(&["partition", "alpha"]);
    wait_for_log(&log, "quorum:false", 1);
    wait_for_log(&log, "suspended:quorum", 1);
    sim.ctl(&["kill-events2", "alpha"]);
    wait_for_log(&log, "drbdsetup events2 started", 2);
}

#[test]
fn crashing_a_node_kills_the_drbd_reactor_registered_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let cfg = ClusterConfig::simple(&["alpha", "beta", "gamma"], "r0");
    let sim = Sim::from_config(cfg, &socket, Some(20)).unwrap();
    let shims = dir.path().join("alpha");
    install_shims(
        Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
        &shims,
        "alpha",
        &socket,
    )
    .unwrap();
    let log = dir.path().join("reactor.log");
    let config = dir.path().join("reactor.toml");
    std::fs::write(
        &config,
        format!(
            "[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n\n[[debugger]]\n",
            log.display()
        ),
    )
    .unwrap();
    let mut daemon = start_daemon_on(&sim, "alpha", &config, &shims);
    wait_for_log(&log, "Resource Exists r0", 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.streams("alpha") == 0 {
        assert!(Instant::now() < deadline, "no events2 stream from alpha");
        std::thread::sleep(Duration::from_millis(20));
    }
    sim.ctl(&["crash", "alpha"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the daemon survived the crash");
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
}

#[test]
fn the_demo_plays_its_story_against_real_daemons_and_exits_0() {
    let bin = reactor();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_drbd-sim"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .env("DRBD_REACTOR_BIN", bin)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "[beta] Resource Change r0",
        "quorum:false",
        "replication:SyncTarget",
        "=== resync done",
        "[alpha] INFO [drbd_reactor_promoter::shell] started the services of 'r0': this node runs them",
        "service runs on: alpha",
        "run: resource 'r0' lost quorum; stopping its services",
        "not promoting r0: peer",
    ] {
        assert!(text.contains(want), "demo output lacks {want:?}:\n{text}");
    }
    // The service moved to a survivor when alpha crashed, visible in that node's output.
    assert!(
        ["beta", "gamma"].iter().any(|n| text.contains(&format!(
            "[{n}] INFO [drbd_reactor_promoter::shell] started the services of 'r0'"
        ))),
        "no survivor took the service over:\n{text}"
    );
}
