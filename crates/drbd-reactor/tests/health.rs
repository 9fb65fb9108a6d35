//! `drbd-reactor --health` through the binary, against a daemon started with its own run
//! directory: healthy only while that daemon lives, its events2 child runs and the initial
//! dump arrived; one line of reason otherwise.

mod common;

use common::{wait_for, Setup};
use std::process::{Command, Stdio};

/// Runs `drbd-reactor --health` for `setup`'s run directory: (exit code, stdout, stderr).
fn probe(setup: &Setup) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drbd-reactor"))
        .arg("--health")
        .env("DRBD_REACTOR_RUN_DIR", setup.path("run"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_probe(setup: &Setup, code: i32, needle: &str) -> (String, String) {
    let mut last = (0, String::new(), String::new());
    wait_for(
        &format!("--health to exit {code} saying {needle:?}"),
        || {
            last = probe(setup);
            last.0 == code && (last.1.contains(needle) || last.2.contains(needle))
        },
    );
    (last.1, last.2)
}

#[test]
fn health_without_a_daemon_fails_naming_the_file_it_looked_for() {
    let setup = Setup::new();
    let (code, out, err) = probe(&setup);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&setup.path("run/health").display().to_string()),
        "{err}"
    );
}

#[test]
fn health_passes_once_the_dump_arrived_and_fails_after_the_daemon_stopped() {
    let setup = Setup::new();
    let config = setup.config("");
    let mut daemon = setup.start(&config);
    let (out, err) = wait_probe(&setup, 0, "healthy: ");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.is_empty(), "{err}");
    assert!(daemon.stop().success());
    // A clean stop removes the daemon's run files: the probe finds no daemon.
    assert!(!setup.path("run/health").exists());
    let path = setup.path("run/health").display().to_string();
    let (_, err) = wait_probe(&setup, 1, &path);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn health_fails_while_the_initial_dump_has_not_arrived() {
    let setup = Setup::new();
    // The stand-in prints nothing (no `exists -` that ends the dump) and stays up.
    setup.write("stream", "");
    let config = setup.config("");
    let mut daemon = setup.start(&config);
    wait_probe(&setup, 1, "initial events2 dump has not arrived");
    // The rest of the dump arrives: healthy.
    setup.more("exists -\n");
    wait_probe(&setup, 0, "healthy: ");
    assert!(daemon.stop().success());
}

#[test]
fn health_fails_while_drbdsetup_events2_cannot_run() {
    let setup = Setup::new();
    setup.write("fail", "");
    let config = setup.config("");
    let mut daemon = setup.start(&config);
    wait_for("the stand-in to have failed once", || {
        !setup.pids().is_empty()
    });
    wait_probe(&setup, 1, "no running drbdsetup events2");
    assert!(daemon.stop().success());
}
