//! drbd-reactorctl on real systemd, inside a container whose drbd-reactor runs as a systemd
//! service with a `[[promoter]]` for r0 (one container on a simulated 3-node cluster):
//! `status` shows the promoter's units as systemd reports them, `disable --now` renames the
//! snippet, reloads through `systemctl reload drbd-reactor.service` (the reload path unit is
//! not active), waits for the daemon's configuration pass and stops the target.

use promoter_real_systemd::{Cluster, Container};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);
const R0: &str = r#"[[promoter]]
[promoter.resources.r0]
start = ["ocf:heartbeat:Dummy p_dummy", "dummy-app.service"]
"#;

/// `drbd-reactorctl ARGS` inside, as an operator's shell runs it: a clean environment (nothing
/// of this test process leaks in through nsenter) and no cluster context file (this node only).
fn ctl_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "env",
        "-i",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/nonexistent",
        "drbd-reactorctl",
    ];
    all.extend_from_slice(args);
    all
}

fn generation(c: &Container) -> String {
    std::fs::read_to_string(c.host_path("/run/drbd-reactor/config-generation")).unwrap_or_default()
}

#[test]
fn status_shows_the_promoter_units_and_disable_now_reloads_through_systemctl_and_stops_the_target()
{
    let mut cl = Cluster::new("ctl", &["r0"]);
    cl.boot("alpha", &[("r0.toml", R0)]);
    cl.start_daemon("alpha");
    let c = cl.node("alpha");
    c.wait_for_property("dummy-app.service", "ActiveState", "active", DEADLINE);
    c.wait_for_property(
        "ocf.rs@p_dummy_r0.service",
        "ActiveState",
        "active",
        DEADLINE,
    );

    let status = c.ok(&ctl_args(&["status"]));
    for line in [
        "/etc/drbd-reactor.d/r0.toml:",
        "Promoter: Resource r0 currently active on this node",
        "● drbd-services@r0.target",
        "● ├─ drbd-promote@r0.service",
        "● ├─ ocf.rs@p_dummy_r0.service",
        "● └─ dummy-app.service",
    ] {
        assert!(
            status.lines().any(|l| l == line),
            "no line {line:?} in:\n{status}"
        );
    }
    // Frozen units say so (the quorum-loss `freeze` policy's state, as systemd reports it).
    c.ok(&["systemctl", "freeze", "dummy-app.service"]);
    let frozen = c.ok(&ctl_args(&["status", "r0"]));
    assert!(
        frozen
            .lines()
            .any(|l| l == "● └─ dummy-app.service(frozen)"),
        "{frozen}"
    );
    c.ok(&["systemctl", "thaw", "dummy-app.service"]);

    assert!(generation(c).contains("generation=1"), "{}", generation(c));
    let daemon_pid = c.property("drbd-reactor.service", "MainPID");
    let out = c.exec(&ctl_args(&["disable", "--now", "r0"]));
    assert!(
        out.status.success(),
        "disable --now failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // ctl returned after the daemon finished the pass its reload caused.
    let after = generation(c);
    assert!(
        after.contains("generation=2") && after.contains("result=ok"),
        "{after}"
    );
    assert_eq!(
        c.property("drbd-reactor.service", "MainPID"),
        daemon_pid,
        "a reload, not a restart"
    );
    assert!(c
        .host_path("/etc/drbd-reactor.d/r0.toml.disabled")
        .is_file());
    assert!(!c.host_path("/etc/drbd-reactor.d/r0.toml").exists());
    for unit in [
        "dummy-app.service",
        "ocf.rs@p_dummy_r0.service",
        "drbd-promote@r0.service",
    ] {
        c.wait_for_property(unit, "ActiveState", "inactive", DEADLINE);
    }
    assert_eq!(c.ok(&["drbdadm", "role", "r0"]).trim(), "Secondary");

    // Disabled and demoted: listed as disabled, without the "disabled but Primary" warning.
    let status = c.ok(&ctl_args(&["status"]));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Promoter: Resource r0 (disabled) currently active on ")),
        "{status}"
    );
    assert!(!status.contains("disabled but Primary"), "{status}");
}
