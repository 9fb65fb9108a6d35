//! The promoter end to end: three real drbd-reactor daemons on a simulated 3-node cluster,
//! one `[[promoter]]` resource r0 with the shell runner (start: `drbdadm primary r0`, touch
//! a marker; stop: remove it, `drbdadm secondary r0`). Start, crash of the active node,
//! the new active node partitioned alone, heal and rejoin; the `freeze` variants. A sampler
//! every 20 ms asserts that never two live nodes serve (marker, Primary, quorum; with
//! `shutdown` also: never two live nodes with a marker and quorum). Reload stories at
//! daemon level. Every wait polls with a deadline.

mod common;
mod ha;

use ha::{HaCluster, Sampler, NODES};
use std::sync::Arc;

fn others(node: &str) -> Vec<&'static str> {
    NODES.iter().copied().filter(|n| *n != node).collect()
}

#[test]
fn shutdown_story_start_crash_partition_heal_never_two_live_nodes_serve() {
    let c = Arc::new(HaCluster::new("on-quorum-loss = \"shutdown\""));
    let sampler = Sampler::start(c.clone(), true);
    c.start_all();

    // Start: all three race; exactly one runs the services, the others lost a race.
    let first = c.wait_exactly_one("start");
    for n in others(first) {
        // Either it tried and lost the race, or it saw the winner before its delay ended, or
        // the winner's promotion had taken its may_promote away before it first looked. A
        // failed `drbdadm primary` is classified as a lost race once the winner shows.
        c.wait_for("the other nodes to see the winner", |c| {
            let log = c.log(n);
            log.contains("lost the promotion race")
                || (log.contains("not promoting r0: ") && !log.contains("Starting 'r0' failed"))
        });
    }
    c.wait_for_log(first, "run: resource 'r0' may promote after 0ms", 1);
    c.wait_for_log(
        first,
        "started the services of 'r0': this node runs them",
        1,
    );

    // Crash of the active node: a survivor takes over (not rate-limited by its lost race).
    c.crash(first);
    let second = c.wait_exactly_one("takeover after the crash");
    assert_ne!(second, first);
    c.wait_for_log(second, "started the services of 'r0'", 1);

    // The crashed node comes back as a Secondary and stays one.
    c.restart(first);
    c.wait_for_log(first, "not promoting r0: peer", 1);

    // The new active node alone: it loses quorum and stops its services; the other two
    // take over.
    c.ctl(&["partition", second]);
    c.wait_for_log(
        second,
        "run: resource 'r0' lost quorum; stopping its services",
        1,
    );
    c.wait_for("the partitioned node to remove its marker", |c| {
        !c.marker(second).exists()
    });
    let third = c.wait_exactly_one("takeover after the partition");
    assert_ne!(third, second);

    // Heal: the old side rejoins as a Secondary; exactly one again.
    c.ctl(&["heal"]);
    let after = c.wait_exactly_one("after heal");
    assert_eq!(after, third);
    c.wait_for("every node connected and in sync", |c| {
        c.sim
            .with(|cl| NODES.iter().all(|n| cl.all_connected(n, "r0")))
    });
    assert_eq!(c.wait_exactly_one("settled"), third);

    let report = sampler.finish();
    // The whole story can take well under a second (failover is a matter of ms here).
    assert!(report.samples > 0, "the sampler never ran");
    assert!(
        report.violations.is_empty(),
        "two live nodes ran the service: {:?}",
        report.violations
    );
}

#[test]
fn freeze_story_frozen_primary_thaws_and_an_outvoted_one_is_forced_secondary_and_stops() {
    let c = Arc::new(HaCluster::new("on-quorum-loss = \"freeze\""));
    let sampler = Sampler::start(c.clone(), false);
    c.start_all();
    let active = c.wait_exactly_one("start");
    let [peer, third] = others(active).try_into().unwrap();

    // Thaw: with the third node down, the active node and its peer are cut apart; neither
    // has quorum, the active node freezes (I/O suspended) and the peer cannot promote.
    c.crash(third);
    c.ctl(&["cut", active, peer]);
    c.wait_for_log(
        active,
        "run: resource 'r0' lost quorum; freezing its services",
        1,
    );
    assert!(
        c.marker(active).exists(),
        "a frozen node keeps its services"
    );
    c.ctl(&["restore", active, peer]);
    c.wait_for_log(active, "resource 'r0' gained quorum, thawing Primary", 1);
    assert_eq!(c.wait_exactly_one("after the thaw"), active);
    let peer_log = c.log(peer);
    assert!(
        !peer_log.contains("started the services of 'r0'"),
        "the peer without quorum started:\n{peer_log}"
    );

    // Takeover: the active node alone freezes; the two others take over; on heal the old
    // Primary meets newer data, the kernel forces it Secondary and it stops its services
    // (the shell runner cannot freeze: its services ran on while I/O was suspended).
    c.restart(third);
    c.wait_for_log(third, "not promoting r0: peer", 1);
    c.ctl(&["partition", active]);
    c.wait_for_log(
        active,
        "run: resource 'r0' lost quorum; freezing its services",
        2,
    );
    let new = c.wait_exactly_one_serving_besides(active);
    c.ctl(&["heal"]);
    c.wait_for_log(
        active,
        "resource 'r0' got forced to Secondary while its services ran (not frozen), stopping services",
        1,
    );
    c.wait_for("the old Primary to remove its marker", |c| {
        !c.marker(active).exists()
    });
    assert_eq!(c.wait_exactly_one("after heal"), new);

    let report = sampler.finish();
    // The whole story can take well under a second (failover is a matter of ms here).
    assert!(report.samples > 0, "the sampler never ran");
    assert!(
        report.violations.is_empty(),
        "two live nodes served: {:?}",
        report.violations
    );
}

impl HaCluster {
    /// While `frozen` keeps its (suspended) marker: polls until exactly one other node
    /// serves.
    fn wait_exactly_one_serving_besides(&self, frozen: &str) -> &'static str {
        let mut found = None;
        self.wait_for("a takeover besides the frozen node", |c| {
            let s = c.serving();
            if s.len() == 1 && s[0] != frozen {
                found = Some(s[0]);
                true
            } else {
                false
            }
        });
        found.unwrap()
    }
}

/// r0 and r1 on the three nodes.
fn two_resources() -> drbd_sim::config::ClusterConfig {
    let mut text = String::new();
    for (i, n) in NODES.iter().enumerate() {
        text.push_str(&format!("[[node]]\nname = \"{n}\"\nid = {i}\n"));
    }
    text.push_str("[[resource]]\nname = \"r0\"\n");
    text.push_str("[[resource]]\nname = \"r1\"\n[[resource.volume]]\nnumber = 0\nminor = 1001\n");
    drbd_sim::config::ClusterConfig::parse(&text).unwrap()
}

/// A `systemctl` that only records its arguments (the drop-ins' daemon-reload).
fn fake_systemctl(c: &HaCluster, node: &str) {
    let path = c.node_dir(node).join("systemctl");
    let log = c.node_dir(node).join("systemctl.log");
    let text = format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display());
    drbd_reactor_process::write_script(&path, &text).unwrap();
}

#[test]
fn reload_keeps_other_sections_services_untouched_removes_drop_ins_and_stops_on_exit_when_asked() {
    let c = HaCluster::with_config(two_resources(), "");
    fake_systemctl(&c, "alpha");
    let m1 = c.node_dir("alpha").join("service-r1");
    let r0 = c.promoter_section("alpha");
    let r1 = |extra: &str| {
        format!(
            "[[promoter]]\n[promoter.resources.r1]\nrunner = \"shell\"\n\
             start = [\"drbdadm primary r1\", \"touch {m}\"]\n\
             stop = [\"rm -f {m}\", \"drbdadm secondary r1\"]\n\
             adjust-resource-on-start = false\n{extra}\n",
            m = m1.display()
        )
    };
    // r2 is not known to DRBD: its instance only writes its drop-ins (systemd runner).
    let r2 = "[[promoter]]\n[promoter.resources.r2]\nstart = [\"app.service\"]\nadjust-resource-on-start = false\n";
    let units = c.node_dir("alpha").join("units");
    c.write_config("alpha", Some(&format!("{r0}\n{}\n{r2}", r1(""))));
    c.start_daemon("alpha");
    c.wait_for("both services running on alpha", |c| {
        c.marker("alpha").exists() && m1.exists()
    });
    c.wait_for("r2's drop-ins", |_| {
        units
            .join("drbd-services@r2.target.d/reactor.conf")
            .exists()
    });
    let r0_started = std::fs::metadata(c.marker("alpha"))
        .unwrap()
        .modified()
        .unwrap();
    let r0_touches = |c: &HaCluster| {
        c.log("alpha")
            .matches(&format!("touch {}\n", c.marker("alpha").display()))
            .count()
    };
    let before = r0_touches(&c);

    // Change r1's section (stop-services-on-exit on), drop r2: r1's instance restarts, finds
    // r1 Primary here and keeps its services (no stop); r0's instance is not touched; r2's
    // drop-ins are deleted.
    c.write_config(
        "alpha",
        Some(&format!("{r0}\n{}", r1("stop-services-on-exit = true"))),
    );
    c.reload("alpha");
    c.wait_for_log(
        "alpha",
        "run: resource 'r1' is Primary here; completing its services",
        1,
    );
    c.wait_for("r2's drop-ins to be deleted", |_| {
        !units.join("drbd-services@r2.target.d").exists()
    });
    c.wait_for_log("alpha", "(its resource is no longer configured", 4);
    let log = c.log("alpha");
    assert!(
        !log.contains(&format!("rm -f {}", m1.display())),
        "r1 was stopped:\n{log}"
    );
    assert!(m1.exists());
    assert_eq!(
        r0_touches(&c),
        before,
        "r0's start commands ran again:\n{log}"
    );
    assert!(!log.contains(&format!("rm -f {}\n", c.marker("alpha").display())));
    assert_eq!(
        std::fs::metadata(c.marker("alpha"))
            .unwrap()
            .modified()
            .unwrap(),
        r0_started
    );

    // Change r1 again: now the old instance has stop-services-on-exit, so it stops r1's
    // services on its way out and the new instance starts them again.
    c.write_config(
        "alpha",
        Some(&format!(
            "{r0}\n{}",
            r1("stop-services-on-exit = true\nsleep-before-promote-factor = 2")
        )),
    );
    c.reload("alpha");
    c.wait_for_log("alpha", &format!("system: sh -c rm -f {}", m1.display()), 1);
    c.wait_for_log("alpha", "stopping the services of 'r1' on exit", 1);
    c.wait_for("r1's services started again", |_| m1.exists());
    c.wait_for("r1's services running", |c| {
        c.log("alpha")
            .matches("started the services of 'r1'")
            .count()
            >= 2
    });
    assert_eq!(r0_touches(&c), before);

    // The daemon stops: r1 (stop-services-on-exit) stops its services, r0 keeps them.
    c.stop_daemon("alpha");
    assert!(!m1.exists(), "r1's services still run after exit");
    assert!(
        c.marker("alpha").exists(),
        "r0's services were stopped on exit"
    );
    let log = c.log("alpha");
    assert!(
        !log.contains(&format!("rm -f {}\n", c.marker("alpha").display())),
        "{log}"
    );
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

fn status_file(c: &HaCluster, node: &str) -> serde_json::Value {
    let path = c.run_dir(node).join("promoter/status/r0.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn operators_see_the_decision_in_metrics_status_files_and_logs() {
    let c = HaCluster::new("on-quorum-loss = \"shutdown\"");
    let mut ports = std::collections::BTreeMap::new();
    for n in NODES {
        let port = common::free_port();
        ports.insert(n, port);
        let section = format!(
            "{}\n[[prometheus]]\naddress = \"127.0.0.1:{port}\"\n",
            c.promoter_section(n)
        );
        c.write_config(n, Some(&section));
    }
    c.start_all();
    let active = c.wait_exactly_one("start");
    for n in NODES {
        let runs = if n == active { 1 } else { 0 };
        let want = format!("drbdreactor_promoter_runs_services{{resource=\"r0\"}} {runs}\n");
        c.wait_for(&format!("{n}'s metrics to say {want:?}"), |_| {
            scrape(ports[n]).contains(&want)
        });
        // The status file says the same, with the reason.
        c.wait_for(&format!("{n}'s status file"), |c| {
            let s = &status_file(c, n)["resources"]["r0"];
            s["runs-services"] == (n == active) && s["last-decision"].is_string()
        });
    }
    let body = scrape(ports[active]);
    assert!(
        body.contains("drbdreactor_promoter_starts_total{resource=\"r0\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("drbdreactor_promoter_failures_total{resource=\"r0\"} 0\n"),
        "{body}"
    );
    // The start's outcome follows its decision (written together or one after the other).
    c.wait_for("the start's outcome in the status file", |c| {
        status_file(c, active)["resources"]["r0"]["last-decision"]
            == "started the services of 'r0': this node runs them"
    });
    for n in others(active) {
        // Lost races are not failures (a failed `drbdadm primary` counts as one only until
        // the winner shows); the reason names the winner.
        c.wait_for(
            &format!("{n} to say why it does not run the services"),
            |c| {
                let s = &status_file(c, n)["resources"]["r0"];
                let why = s["last-decision"].as_str().unwrap_or_default();
                s["failures"] == 0
                    && (why.contains(&format!("peer {active} is Primary"))
                        || why.contains(&format!("lost the promotion race to {active}")))
            },
        );
        c.wait_for(&format!("{n}'s metrics to count no failure"), |_| {
            scrape(ports[n]).contains("drbdreactor_promoter_failures_total{resource=\"r0\"} 0\n")
        });
    }
    // The active node alone: it stops, says why in its log, metrics and status file.
    c.ctl(&["partition", active]);
    c.wait_for_log(
        active,
        "run: resource 'r0' lost quorum; stopping its services",
        1,
    );
    c.wait_for("the stop to show in the metrics", |_| {
        let b = scrape(ports[active]);
        b.contains("drbdreactor_promoter_runs_services{resource=\"r0\"} 0\n")
            && b.contains("drbdreactor_promoter_stops_total{resource=\"r0\"} 1\n")
    });
    c.wait_for("the stop in the status file", |c| {
        status_file(c, active)["resources"]["r0"]["services"] == "stopped"
    });
    // The daemon ends: its status file goes with it.
    c.stop_daemon(active);
    assert!(!c.run_dir(active).join("promoter/status/r0.json").exists());
}
