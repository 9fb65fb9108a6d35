//! The promoter's stories on real systemd: three containers (alpha, beta, gamma) with systemd
//! as PID 1 on one simulated DRBD cluster, drbd-reactor as a service in each with a
//! `[[promoter]]` for r0 whose start list has an `ocf:heartbeat:Dummy` and a plain service,
//! started through drbd-utils' own `drbd-promote@`/`drbd-services@` units. At every sample no
//! two live nodes run the service. Needs root, systemd-container, drbd-utils, resource-agents.

use promoter_real_systemd::Cluster;
use std::time::Duration;

const NODES: [&str; 3] = ["alpha", "beta", "gamma"];
const SERVICE: &str = "dummy-app.service";
const OCF: &str = "ocf.rs@p_dummy_r0.service";
const TARGET: &str = "drbd-services@r0.target";
const PROMOTE: &str = "drbd-promote@r0.service";
const DEADLINE: Duration = Duration::from_secs(30);

const R0: &str = r#"[[promoter]]
[promoter.resources.r0]
start = ["ocf:heartbeat:Dummy p_dummy", "dummy-app.service"]
on-quorum-loss = "shutdown"
"#;

#[test]
fn one_node_runs_the_services_and_another_takes_over_after_a_crash_a_partition_stops_it_and_heal_and_rejoin_leave_exactly_one(
) {
    let mut cl = Cluster::new("story", &["r0"]);
    for n in NODES {
        cl.boot(n, &[("r0.toml", R0)]);
    }
    for n in NODES {
        cl.start_daemon(n);
    }

    // Start: the race has exactly one winner, with its whole stack up.
    let first = cl.wait_one_active("initial start", SERVICE, None, DEADLINE);
    assert_eq!(cl.state(&first, TARGET), "active");
    assert_eq!(cl.state(&first, OCF), "active");
    assert_eq!(
        cl.node(&first).ok(&["drbdadm", "role", "r0"]).trim(),
        "Primary"
    );
    for n in cl.nodes().iter().filter(|n| **n != first) {
        assert_eq!(cl.state(n, OCF), "inactive", "{n} runs the OCF agent too");
    }

    // Crash of the active node: a survivor takes over (no 20 s wait after its lost race).
    cl.crash(&first);
    let second = cl.wait_one_active("take-over after the crash", SERVICE, None, DEADLINE);
    assert_eq!(cl.state(&second, OCF), "active");

    // The new active node alone in a partition loses quorum and shuts its stack down and
    // demotes; the remaining node has no quorum either, so nobody runs the services.
    cl.ctl(&["partition", &second]);
    cl.wait_none_running("partition of the active node", SERVICE, DEADLINE);
    cl.node(&second)
        .wait_for_property(PROMOTE, "ActiveState", "inactive", DEADLINE);
    assert_eq!(cl.state(&second, OCF), "inactive");
    assert_eq!(
        cl.node(&second).ok(&["drbdadm", "role", "r0"]).trim(),
        "Secondary"
    );

    // Heal: quorum is back for the two live nodes, exactly one runs the services again.
    cl.ctl(&["heal"]);
    let third = cl.wait_one_active("heal", SERVICE, None, DEADLINE);

    // Rejoin: the crashed node comes back (new container, fresh daemon): it resyncs and does
    // not take the services.
    cl.ctl(&["restart", &first]);
    cl.boot(&first, &[("r0.toml", R0)]);
    cl.start_daemon(&first);
    cl.wait_daemon_active(&first, DEADLINE);
    cl.assert_stays_on("rejoin", SERVICE, &third, Duration::from_secs(3));
    assert_eq!(cl.state(&first, TARGET), "inactive");
}

#[test]
fn a_failed_demotion_with_the_device_held_open_escalates_and_reboots_the_container() {
    let mut cl = Cluster::new("escal", &["r0"]);
    // Only alpha is a container; beta and gamma are simulated peers without a daemon.
    let r0 = r#"[[promoter]]
[promoter.resources.r0]
start = ["dummy-app.service"]
on-drbd-demote-failure = "reboot-immediate"
secondary-force = false
"#;
    cl.boot("alpha", &[("r0.toml", r0)]);
    cl.start_daemon("alpha");
    cl.wait_one_active("start", SERVICE, None, DEADLINE);
    cl.node("alpha").wait_for_property(
        "drbd-demote-or-escalate@r0.service",
        "FailureAction",
        "reboot-immediate",
        DEADLINE,
    );

    // Something keeps the device open; alpha loses quorum and stops its services, the
    // demotion fails, drbd-demote-or-escalate@r0 fails too, and systemd reboots.
    cl.ctl(&["open", "alpha", "r0"]);
    cl.ctl(&["partition", "alpha"]);
    let exit = cl.node_mut("alpha").wait_exit(DEADLINE);
    assert_eq!(
        exit,
        Some(133),
        "nspawn's exit status (133 = the container rebooted)"
    );
}

#[test]
fn quorum_loss_with_freeze_freezes_the_services_the_majority_takes_over_and_after_heal_the_old_primary_stops(
) {
    let mut cl = Cluster::with_on_no_quorum("freeze", &["r0"], "suspend-io");
    let r0 = r#"[[promoter]]
[promoter.resources.r0]
start = ["ocf:heartbeat:Dummy p_dummy", "dummy-app.service"]
on-quorum-loss = "freeze"
"#;
    for n in NODES {
        cl.boot(n, &[("r0.toml", r0)]);
    }
    for n in NODES {
        cl.start_daemon(n);
    }
    let first = cl.wait_one_active("initial start", SERVICE, None, DEADLINE);

    // Partitioned alone, the Primary freezes its services (no stop, no demotion); the two
    // others keep quorum and one of them takes over.
    cl.ctl(&["partition", &first]);
    for unit in [SERVICE, OCF] {
        cl.node(&first)
            .wait_for_property(unit, "FreezerState", "frozen", DEADLINE);
    }
    let second = cl.wait_one_active("take-over from the frozen node", SERVICE, None, DEADLINE);
    assert_ne!(second, first);
    assert_eq!(
        cl.state(&first, TARGET),
        "active",
        "the frozen node stopped its target"
    );
    assert_eq!(
        cl.node(&first).ok(&["drbdadm", "role", "r0"]).trim(),
        "Primary"
    );

    // Heal: DRBD forces the outdated Primary Secondary; it stops its (thawed) services.
    cl.ctl(&["heal"]);
    cl.wait_checked("heal", SERVICE, DEADLINE, |running| {
        running == [second.clone()] && cl.state(&first, SERVICE) == "inactive"
    });
    cl.node(&first)
        .wait_for_property(PROMOTE, "ActiveState", "inactive", DEADLINE);
    assert_eq!(
        cl.node(&first).ok(&["drbdadm", "role", "r0"]).trim(),
        "Secondary"
    );
    cl.assert_stays_on("after heal", SERVICE, &second, Duration::from_secs(1));
}
