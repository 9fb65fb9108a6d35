//! Reloading the daemon on real systemd (`systemctl reload drbd-reactor`, which sends SIGHUP):
//! a changed `[[promoter]]` section is restarted alone, finds its services running on this
//! node and keeps them; the other sections' services are not touched; a removed resource's
//! drop-ins are deleted; `stop-services-on-exit` stops the stack and demotes through systemd.
//! One container (alpha) on a simulated 3-node cluster whose peers run no daemon.

use promoter_real_systemd::{Cluster, Container};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);
const UNIT_DIR: &str = "/run/systemd/system";

const R0: &str = r#"[[promoter]]
[promoter.resources.r0]
start = ["dummy-app.service"]
"#;
const R1: &str = r#"[[promoter]]
[promoter.resources.r1]
start = ["dummy-r1.service"]
"#;
const R1_CHANGED: &str = r#"[[promoter]]
[promoter.resources.r1]
start = ["dummy-r1.service", "dummy-r1b.service"]
"#;
const R0_STOP_ON_EXIT: &str = r#"[[promoter]]
[promoter.resources.r0]
start = ["dummy-app.service"]
stop-services-on-exit = true
"#;

fn invocation(c: &Container, unit: &str) -> String {
    let id = c.property(unit, "InvocationID");
    assert!(!id.is_empty(), "{unit} has no invocation");
    id
}

fn write_snippet(c: &Container, name: &str, text: &str) {
    std::fs::write(c.host_path(format!("/etc/drbd-reactor.d/{name}")), text).unwrap();
}

/// Waits until the daemon finished configuration pass `n` (1 = start) without error.
fn wait_generation(c: &Container, n: u32) {
    c.wait_until(&format!("configuration pass {n}"), DEADLINE, || {
        std::fs::read_to_string(c.host_path("/run/drbd-reactor/config-generation"))
            .is_ok_and(|g| g.contains(&format!("generation={n}\n")) && g.contains("result=ok"))
    });
}

fn reload(c: &Container) {
    c.ok(&["systemctl", "reload", "drbd-reactor.service"]);
}

/// The drop-in directories of `res` in the runtime unit directory (with `dummy` for its start
/// unit's).
fn dropin_dirs(res: &str, start_units: &[&str]) -> Vec<String> {
    let mut dirs = vec![
        format!("{UNIT_DIR}/drbd-promote@{res}.service.d"),
        format!("{UNIT_DIR}/drbd-services@{res}.target.d"),
    ];
    dirs.extend(start_units.iter().map(|u| format!("{UNIT_DIR}/{u}.d")));
    dirs
}

#[test]
fn a_changed_section_keeps_its_running_services_other_sections_are_untouched_and_a_removed_resource_loses_its_drop_ins(
) {
    let mut cl = Cluster::new("reload", &["r0", "r1"]);
    cl.boot("alpha", &[("r0.toml", R0), ("r1.toml", R1)]);
    cl.start_daemon("alpha");
    let c = cl.node("alpha");
    for unit in ["dummy-app.service", "dummy-r1.service"] {
        c.wait_for_property(unit, "ActiveState", "active", DEADLINE);
    }
    let daemon_pid = c.property("drbd-reactor.service", "MainPID");
    let r0_service = invocation(c, "dummy-app.service");
    let r0_target = invocation(c, "drbd-services@r0.target");
    let r1_service = invocation(c, "dummy-r1.service");
    for dir in dropin_dirs("r1", &["dummy-r1.service"]) {
        assert!(c.host_path(&dir).is_dir(), "{dir} missing after start");
    }

    // Change r1's section: its instance restarts, completes its now longer start list and
    // keeps what ran; r0's services are not touched.
    write_snippet(c, "r1.toml", R1_CHANGED);
    reload(c);
    c.wait_for_property("dummy-r1b.service", "ActiveState", "active", DEADLINE);
    assert_eq!(
        c.property("drbd-reactor.service", "MainPID"),
        daemon_pid,
        "reload restarted the daemon"
    );
    assert_eq!(
        invocation(c, "dummy-r1.service"),
        r1_service,
        "r1's running service was restarted"
    );
    assert_eq!(
        invocation(c, "dummy-app.service"),
        r0_service,
        "r0's service was restarted"
    );
    assert_eq!(
        invocation(c, "drbd-services@r0.target"),
        r0_target,
        "r0's target was restarted"
    );
    assert!(c
        .host_path(format!("{UNIT_DIR}/dummy-r1b.service.d"))
        .is_dir());

    // Remove r1 while its services run: its drop-ins stay (they make stopping its target stop
    // the services before the demotion); stopped by hand, a later reload deletes them all.
    std::fs::remove_file(c.host_path("/etc/drbd-reactor.d/r1.toml")).unwrap();
    reload(c);
    wait_generation(c, 3);
    let dirs = dropin_dirs("r1", &["dummy-r1.service", "dummy-r1b.service"]);
    for dir in &dirs {
        assert!(
            c.host_path(dir).is_dir(),
            "{dir} deleted while r1's services run"
        );
    }
    c.ok(&["systemctl", "stop", "drbd-services@r1.target"]);
    for unit in [
        "dummy-r1.service",
        "dummy-r1b.service",
        "drbd-promote@r1.service",
    ] {
        c.wait_for_property(unit, "ActiveState", "inactive", DEADLINE);
    }
    assert_eq!(c.ok(&["drbdadm", "role", "r1"]).trim(), "Secondary");
    reload(c);
    c.wait_until("r1's drop-ins deleted", DEADLINE, || {
        dirs.iter().all(|d| !c.host_path(d).exists())
    });
    for dir in dropin_dirs("r0", &["dummy-app.service"]) {
        assert!(c.host_path(&dir).is_dir(), "{dir} of r0 was deleted too");
    }
    assert_eq!(
        invocation(c, "dummy-app.service"),
        r0_service,
        "r0's service was restarted"
    );
    assert_eq!(c.property("drbd-reactor.service", "ActiveState"), "active");

    // Without stop-services-on-exit, stopping the daemon leaves the services running.
    c.ok(&["systemctl", "stop", "drbd-reactor.service"]);
    assert_eq!(
        c.property("drbd-reactor.service", "ActiveState"),
        "inactive"
    );
    assert_eq!(invocation(c, "dummy-app.service"), r0_service);
    assert_eq!(
        c.property("drbd-services@r0.target", "ActiveState"),
        "active"
    );
}

#[test]
fn stop_services_on_exit_stops_the_stack_and_demotes_when_the_daemon_stops() {
    let mut cl = Cluster::new("onexit", &["r0"]);
    // Started without the key, switched on by a reload: the restarted instance keeps the
    // services (the old one did not stop them), the new one stops them on exit.
    cl.boot("alpha", &[("r0.toml", R0)]);
    cl.start_daemon("alpha");
    let c = cl.node("alpha");
    c.wait_for_property("dummy-app.service", "ActiveState", "active", DEADLINE);
    let service = invocation(c, "dummy-app.service");
    write_snippet(c, "r0.toml", R0_STOP_ON_EXIT);
    reload(c);
    wait_generation(c, 2);
    // Instances of one resource are serial: the new one starts after the old one stopped.
    c.wait_until("the new instance took the services over", DEADLINE, || {
        c.journal("drbd-reactor.service")
            .matches("started the services of 'r0'")
            .count()
            == 2
    });
    assert_eq!(
        invocation(c, "dummy-app.service"),
        service,
        "the reload restarted the service"
    );
    assert_eq!(
        c.property("drbd-services@r0.target", "ActiveState"),
        "active"
    );

    c.ok(&["systemctl", "stop", "drbd-reactor.service"]);
    c.wait_for_property("dummy-app.service", "ActiveState", "inactive", DEADLINE);
    c.wait_for_property(
        "drbd-promote@r0.service",
        "ActiveState",
        "inactive",
        DEADLINE,
    );
    assert_eq!(
        c.property("drbd-services@r0.target", "ActiveState"),
        "inactive"
    );
    assert_eq!(c.ok(&["drbdadm", "role", "r0"]).trim(), "Secondary");
}
