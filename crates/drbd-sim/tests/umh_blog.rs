//! The seed blog post's example, end to end: its two `[[umh.device]]` rules in the real
//! drbd-reactor daemon, its on-no-quorum-io-error.sh, and the simulated cluster.
//! Test-only changes to the rules: the script's path, `TIMEOUT` shortened to 1 s, and `PATH`
//! pointing at the simulator's shims (umh commands get a fixed PATH otherwise).
//! Fails (never skips) when the daemon binary is missing.

mod common;
use common::*;

use drbd_sim::config::{ClusterConfig, OnNoQuorum};
use drbd_sim::server::{install_shims, Sim};
use std::path::Path;
use std::time::{Duration, Instant};

fn wait_until(what: &str, mut cond: impl FnMut() -> bool, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; daemon log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_blog_example_sets_io_error_after_the_timeout_and_suspend_io_after_healing() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let sim = Sim::from_config(
        ClusterConfig::simple(&["alpha", "beta", "gamma"], "drbd-data"),
        &socket,
        Some(20),
    )
    .unwrap();
    let shims = dir.path().join("alpha");
    install_shims(
        Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
        &shims,
        "alpha",
        &socket,
    )
    .unwrap();
    let script = dir.path().join("on-no-quorum-io-error.sh");
    let text = include_str!("fixtures/on-no-quorum-io-error.sh");
    drbd_reactor_process::write_script(&script, text).unwrap();
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", shims.display());
    let log = dir.path().join("reactor.log");
    let config = dir.path().join("reactor.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[log]]
level = "debug"
file = "{log}"

[[umh]]
id = "drbd-data"
[[umh.device]]
resource-name = "drbd-data"
old.quorum = true
new.quorum = false
command = "{script}"
name = "quorum lost"
[umh.device.env]
TIMEOUT = "1"
PATH = "{path}"
[[umh.device]]
resource-name = "drbd-data"
old.quorum = false
new.quorum = true
command = "{script}"
name = "quorum gained"
[umh.device.env]
PATH = "{path}"
"#,
            log = log.display(),
            script = script.display(),
        ),
    )
    .unwrap();
    sim.ctl(&["primary", "alpha", "drbd-data"]);
    let policy = || sim.with(|c| c.options("alpha", "drbd-data").unwrap().on_no_quorum);
    let _daemon = start_daemon(&config, &shims);
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    // At start the device appears with quorum: "quorum gained" runs once and keeps suspend-io.
    wait_until(
        "the startup run of 'quorum gained'",
        || text().contains("rule 'quorum gained': stdout: Got quorum"),
        &log,
    );

    sim.ctl(&["partition", "alpha"]);
    wait_until(
        "'quorum lost' to sleep its TIMEOUT",
        || text().contains("rule 'quorum lost': stdout: Sleeping 1..."),
        &log,
    );
    assert_eq!(
        policy(),
        OnNoQuorum::SuspendIo,
        "io-error only after the timeout"
    );
    wait_until(
        "io-error in the simulator",
        || policy() == OnNoQuorum::IoError,
        &log,
    );
    assert!(
        text().contains("rule 'quorum lost': stdout: Setting io-error"),
        "{}",
        text()
    );

    sim.ctl(&["heal"]);
    wait_until(
        "suspend-io again after healing",
        || policy() == OnNoQuorum::SuspendIo,
        &log,
    );
    assert_eq!(
        text()
            .matches("rule 'quorum gained': stdout: Got quorum")
            .count(),
        2
    );
}
