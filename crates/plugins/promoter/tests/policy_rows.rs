//! One test per row of spec §6.11 (the per-resource state machine), in virtual time.

mod common;
use common::*;
use drbd::vocab::{ConnectionState, DiskState, Role};
use drbd::EventType;
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::policy::{Action, Machine, Outcome, SplitBrainPolicy};
use std::sync::Arc;
use std::time::Instant;

use SplitBrainPolicy::{Fencing, Quorum};

fn cfg() -> ResourceConfig {
    ResourceConfig {
        start: vec![
            "var-lib-x.mount".into(),
            "ocf:heartbeat:IPaddr2 p_ip ip=1.2.3.4".into(),
            "app.service".into(),
        ],
        ..ResourceConfig::default()
    }
}

#[test]
fn row1_construction_waits_for_backing_devices_with_timers_and_never_blocks() {
    let now = Instant::now();
    let (mut m, first) = Machine::new("r0", Arc::new(cfg()), None, now);
    assert_eq!(first, vec![Action::WriteUnits, Action::ListBackingDevices]);
    let a = m.on_outcome(
        now,
        Outcome::BackingDevices(Ok(vec!["/dev/sdb".into(), "none".into()])),
    );
    assert!(a.contains(&Action::CheckDevices(vec!["/dev/sdb".into()])));
    // Not there yet: a timer 2 s later, no loop.
    assert!(m
        .on_outcome(now, Outcome::DevicesReady(false))
        .iter()
        .all(|a| !matches!(a, Action::Adjust)));
    assert_eq!(m.next_deadline(), Some(now + secs(2)));
    let a = m.on_timer(now + secs(2));
    assert!(a.contains(&Action::CheckDevices(vec!["/dev/sdb".into()])));
    let a = m.on_outcome(now + secs(2), Outcome::DevicesReady(true));
    assert!(a.contains(&Action::Adjust));
}

#[test]
fn row1_construction_gives_up_waiting_after_the_limit_and_still_manages_the_resource() {
    let now = Instant::now();
    let (mut m, _) = Machine::new("r0", Arc::new(cfg()), None, now);
    m.on_outcome(now, Outcome::BackingDevices(Ok(vec!["/dev/sdb".into()])));
    let mut t = now;
    let mut gave_up = false;
    for _ in 0..400 {
        let a = m.on_outcome(t, Outcome::DevicesReady(false));
        if a.iter()
            .any(|a| matches!(a, Action::Log(d) if d.message.contains("not ready after")))
        {
            gave_up = true;
            break;
        }
        t = m.next_deadline().unwrap();
        m.on_timer(t);
    }
    assert!(gave_up);
    assert!(t - now >= secs(600));
}

#[test]
fn row1_without_adjust_nothing_waits_or_adjusts() {
    let c = ResourceConfig {
        adjust_resource_on_start: false,
        ..cfg()
    };
    let h = Harness::ready(c, Quorum, secondary());
    assert!(!h.took(|a| matches!(a, Action::CheckDevices(_) | Action::Adjust)));
}

#[test]
fn row2_units_are_written_for_the_systemd_runner_only() {
    let now = Instant::now();
    let (_, a) = Machine::new(
        "r0",
        Arc::new(ResourceConfig {
            runner: Runner::Shell,
            ..cfg()
        }),
        None,
        now,
    );
    assert_eq!(a, vec![Action::ListBackingDevices]);
}

/// Spec §6.2 step 3: drop-ins that could not be written (a unit another resource's drop-ins
/// already name, a full /run) mean no start here; the ticker writes them again.
#[test]
fn row2_a_node_whose_drop_ins_failed_never_starts_until_a_retry_writes_them() {
    let start = Instant::now();
    let (m, first) = Machine::new("r0", Arc::new(cfg()), Some("alpha".into()), start);
    let mut h = Harness {
        m,
        start,
        now: start,
        log: Vec::new(),
        view: secondary(),
    };
    h.record(first);
    let refused = "'x.service.d/reactor.conf' is already written for another resource ('r1')";
    h.outcome(Outcome::UnitsWritten(Err(refused.into())));
    h.outcome(Outcome::BackingDevices(Ok(vec!["/dev/loop0".into()])));
    h.outcome(Outcome::DevicesReady(true));
    h.outcome(Outcome::Adjusted(Ok(())));
    h.push_view_event(EventType::Exists);
    h.outcome(Outcome::Policy(Ok(Quorum)));
    h.set(|v| v.may_promote = true);
    for _ in 0..3 {
        h.advance(secs(20));
        h.outcome(Outcome::UnitsWritten(Err(refused.into())));
    }
    assert!(
        h.starts().is_empty(),
        "started on drop-ins that were not written"
    );
    let written = h
        .log
        .iter()
        .filter(|(_, a)| *a == Action::WriteUnits)
        .count();
    assert_eq!(written, 4, "the first write and one per tick");
    let said: Vec<String> = h
        .messages()
        .into_iter()
        .filter(|m| m.contains(refused))
        .collect();
    assert_eq!(said.len(), 1, "the same error is said once: {said:?}");
    assert!(said[0].starts_with("not starting the services of 'r0' on this node"));
    h.outcome(Outcome::UnitsWritten(Ok(())));
    assert!(h.said("wrote the drop-ins of 'r0'"));
    h.advance(secs(2));
    assert!(
        h.starts().is_empty(),
        "no start before the first probe's answer"
    );
    h.outcome(Outcome::Probed(Ok(false)));
    assert_eq!(h.starts().len(), 1, "started once they were written");
}

/// A quorum loss that cancels a pending start says so (every HA decision with its reason).
#[test]
fn a_quorum_loss_before_a_pending_start_fires_cancels_it_and_says_so() {
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    // An Outdated disk: a start 2 s after the edge.
    h.view.disks = vec![DiskState::Outdated];
    h.set(|v| v.may_promote = true);
    assert!(h.m.pending_start().is_some(), "a start is pending");
    // DRBD clears may_promote with quorum, which says "may_promote went back to no" first;
    // in a line where it has not yet, the quorum loss is the reason given.
    h.set(|v| v.quorum = false);
    assert!(
        h.said("lost quorum; not promoting it: its pending start is cancelled"),
        "{:?}",
        h.messages()
    );
    h.set(|v| v.may_promote = false);
    h.advance(secs(60));
    assert!(h.starts().is_empty());
}

#[test]
fn row3_primary_at_start_completes_its_services_without_delay() {
    let mut v = secondary();
    v.role = Role::Primary;
    let h = Harness::ready(cfg(), Quorum, v);
    assert_eq!(h.starts().len(), 1);
    assert_eq!(h.starts()[0].0, secs(0));
}

#[test]
fn row3_a_peer_primary_at_start_means_no_start() {
    let mut v = secondary();
    v.peer("beta").role = Role::Primary;
    let mut h = Harness::ready(cfg(), Quorum, v);
    assert!(h.said("not promoting r0: peer beta is Primary"));
    h.advance(secs(3600));
    assert!(h.starts().is_empty());
}

#[test]
fn row3_a_secondary_that_may_not_promote_at_start_says_so_once_and_then_follows_the_peer() {
    // all three nodes start at once; this one sees the winner's promotion take away its
    // may_promote before the winner's role shows: the decision not to start has a reason
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    let why = "not promoting r0: DRBD does not allow it here (may_promote: no)";
    assert!(h.said(why), "{:?}", h.messages());
    h.set(|v| v.peer("beta").role = Role::Primary);
    h.set(|v| v.peer("beta").role = Role::Secondary);
    let said = h.messages().iter().filter(|m| m.contains(why)).count();
    assert_eq!(said, 1, "{:?}", h.messages());
    assert!(h.starts().is_empty());
}

#[test]
fn row4_policy_is_detected_once_and_a_failure_is_retried_with_backoff() {
    let now = Instant::now();
    let c = ResourceConfig {
        adjust_resource_on_start: false,
        ..cfg()
    };
    let (mut m, _) = Machine::new("r0", Arc::new(c), None, now);
    m.on_outcome(now, Outcome::BackingDevices(Ok(vec![])));
    let mut v = secondary();
    v.may_promote = true;
    let a = m.on_update(now, &update(v.resource("r0"), EventType::Exists));
    assert_eq!(a.iter().filter(|a| **a == Action::DetectPolicy).count(), 1);
    let a = m.on_update(now, &update(v.resource("r0"), EventType::Change));
    assert!(
        !a.contains(&Action::DetectPolicy),
        "one detection in flight"
    );
    let a = m.on_outcome(
        now,
        Outcome::Policy(Err(
            "quorum is 'off', but also fencing is 'dont-care'".into()
        )),
    );
    assert!(a.iter().any(|a| matches!(a, Action::Log(d) if d.message.starts_with("IGNORING resource 'r0': quorum is 'off'"))));
    assert!(!a.iter().any(|a| matches!(a, Action::Start { .. })));
    assert_eq!(m.next_deadline(), Some(now + secs(5)));
    assert!(m.on_timer(now + secs(5)).contains(&Action::DetectPolicy));
    let a = m.on_outcome(now + secs(5), Outcome::Policy(Err("again".into())));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Log(d) if d.message.contains("retrying in 10s"))));
    let a = m.on_timer(now + secs(15));
    assert!(a.contains(&Action::DetectPolicy));
    let a = m.on_outcome(now + secs(15), Outcome::Policy(Ok(Quorum)));
    assert!(a.iter().any(|a| matches!(a, Action::Log(d) if d.message == "Detected split-brain avoidance policy: 'quorum'")));
    assert!(
        a.contains(&Action::Probe) && !a.iter().any(|a| matches!(a, Action::Start { .. })),
        "the first pass asks whether services were left running, and waits for the answer"
    );
    let a = m.on_outcome(now + secs(15), Outcome::Probed(Ok(false)));
    assert!(
        a.iter().any(|a| matches!(a, Action::Start { .. })),
        "may_promote seen while detecting"
    );
}

#[test]
fn row5_6_may_promote_edge_starts_after_the_delay_table() {
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    h.view.disks = vec![DiskState::Outdated];
    h.set(|v| v.may_promote = true);
    assert!(h.said("run: resource 'r0' may promote after 2000ms"));
    h.advance(secs(1));
    assert!(h.starts().is_empty());
    h.advance(secs(1));
    assert_eq!(h.starts(), vec![(secs(2), 1)]);
}

#[test]
fn row5_6_may_promote_dropping_cancels_a_pending_start() {
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    h.view.disks = vec![DiskState::Inconsistent];
    h.set(|v| v.may_promote = true);
    h.set(|v| v.may_promote = false);
    h.advance(secs(600));
    assert!(h.starts().is_empty());
}

#[test]
fn row5_6_a_peer_becoming_primary_cancels_a_pending_start_with_a_reason() {
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    h.view.disks = vec![DiskState::Inconsistent];
    h.set(|v| v.may_promote = true);
    h.set(|v| {
        v.may_promote = false;
        v.peer("beta").role = Role::Primary;
    });
    assert!(h.said("not promoting r0: peer beta is Primary"));
    h.advance(secs(600));
    assert!(h.starts().is_empty());
}

#[test]
fn row7_forced_to_secondary_while_frozen_stops_the_services() {
    let c = ResourceConfig {
        on_quorum_loss: QuorumLoss::Freeze,
        ..cfg()
    };
    let mut h = running(c, Quorum);
    h.set(|v| v.quorum = false);
    assert!(h.took(|a| matches!(a, Action::Freeze(_))));
    h.set(|v| v.role = Role::Secondary);
    assert!(h.said("resource 'r0' got forced to Secondary while frozen, stopping services"));
    assert_eq!(h.stops().len(), 1);
}

#[test]
fn row7_shell_runner_that_could_not_freeze_stops_when_forced_to_secondary() {
    let c = ResourceConfig {
        on_quorum_loss: QuorumLoss::Freeze,
        runner: Runner::Shell,
        start: vec!["drbdadm primary r0".into()],
        ..ResourceConfig::default()
    };
    let mut h = running(c, Quorum);
    h.set(|v| v.quorum = false);
    assert!(h.said("Shell runner can not freeze/thaw services"));
    assert!(h.stops().is_empty());
    h.set(|v| v.role = Role::Secondary);
    assert!(h.said("resource 'r0' got forced to Secondary while its services ran"));
    assert_eq!(h.stops().len(), 1);
}

#[test]
fn row8_quorum_loss_with_shutdown_stops_once_per_resource_not_per_volume() {
    let mut v = secondary();
    v.disks = vec![DiskState::UpToDate, DiskState::UpToDate];
    let mut h = Harness::ready(cfg(), Quorum, v);
    h.set(|v| v.may_promote = true);
    h.finish_start(Ok(()));
    h.set(|v| v.role = Role::Primary);
    h.clear();
    h.set(|v| v.quorum = false);
    assert!(h.said("run: resource 'r0' lost quorum"));
    assert_eq!(h.stops().len(), 1);
    h.set(|v| v.disks = vec![DiskState::UpToDate, DiskState::UpToDate]);
    assert_eq!(h.stops().len(), 1);
}

#[test]
fn row8_quorum_loss_on_a_secondary_does_nothing() {
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    h.set(|v| v.quorum = false);
    assert!(h.stops().is_empty());
    assert!(!h.took(|a| matches!(a, Action::Freeze(_))));
}

#[test]
fn row9_quorum_loss_with_freeze_freezes_exactly_the_resolved_units_in_reverse() {
    let c = ResourceConfig {
        on_quorum_loss: QuorumLoss::Freeze,
        ..cfg()
    };
    let mut h = running(c, Quorum);
    h.set(|v| v.quorum = false);
    assert!(h.took(
        |a| *a == Action::Freeze(vec!["app.service".into(), "ocf.rs@p_ip_r0.service".into()])
    ));
    assert!(h.stops().is_empty());
}

#[test]
fn row10_quorum_back_while_a_frozen_primary_thaws_in_start_order() {
    let c = ResourceConfig {
        on_quorum_loss: QuorumLoss::Freeze,
        ..cfg()
    };
    let mut h = running(c, Quorum);
    h.set(|v| v.quorum = false);
    h.set(|v| v.quorum = true);
    assert!(h.said("resource 'r0' gained quorum, thawing Primary"));
    assert!(
        h.took(|a| *a == Action::Thaw(vec!["ocf.rs@p_ip_r0.service".into(), "app.service".into()]))
    );
    assert!(h.stops().is_empty());
}

#[test]
fn row11_disk_loss_with_fail_over_and_an_uptodate_peer_stops() {
    let c = ResourceConfig {
        on_disk_detach: DiskDetach::FailOver,
        ..cfg()
    };
    let mut h = running(c, Quorum);
    h.set(|v| v.disks = vec![DiskState::Diskless]);
    assert!(h.said("lost local disk, found UpToDate peer"));
    assert_eq!(h.stops().len(), 1);
}

#[test]
fn row11_disk_loss_without_an_uptodate_peer_keeps_the_services() {
    let c = ResourceConfig {
        on_disk_detach: DiskDetach::FailOver,
        ..cfg()
    };
    let mut h = running(c, Quorum);
    h.set(|v| {
        v.disks = vec![DiskState::Diskless];
        for p in &mut v.peers {
            p.disks = vec![DiskState::Outdated];
        }
    });
    assert!(h.said("did not find UpToDate peer"));
    assert!(h.stops().is_empty());
}

#[test]
fn row11_disk_loss_with_ignore_only_logs_even_in_fencing_mode() {
    let mut h = running(cfg(), Fencing);
    h.set(|v| v.disks = vec![DiskState::Diskless]);
    assert!(h.said("on-disk-detach policy is 'ignore', not taking action"));
    assert!(h.stops().is_empty());
}

#[test]
fn row11_fencing_mode_fails_over_on_disk_loss_too() {
    let c = ResourceConfig {
        on_disk_detach: DiskDetach::FailOver,
        ..cfg()
    };
    let mut h = running(c, Fencing);
    h.set(|v| v.disks = vec![DiskState::Diskless]);
    assert_eq!(h.stops().len(), 1);
}

fn preferred(policy: PreferredNodesPolicy) -> ResourceConfig {
    ResourceConfig {
        preferred_nodes: vec!["beta".into(), "alpha".into()],
        preferred_nodes_policy: policy,
        ..cfg()
    }
}

#[test]
fn row12_a_more_preferred_peer_uptodate_on_every_volume_takes_the_services_back() {
    let mut v = secondary();
    v.disks = vec![DiskState::UpToDate, DiskState::UpToDate];
    v.peer("beta").disks = vec![DiskState::Inconsistent, DiskState::Inconsistent];
    let mut h = Harness::ready(preferred(PreferredNodesPolicy::Always), Quorum, v);
    h.set(|v| v.may_promote = true);
    h.advance(secs(1));
    h.finish_start(Ok(()));
    h.set(|v| v.role = Role::Primary);
    h.clear();
    h.set(|v| v.peer("beta").disks = vec![DiskState::UpToDate, DiskState::Inconsistent]);
    assert!(h.stops().is_empty(), "one volume is not the resource");
    h.set(|v| v.peer("beta").disks = vec![DiskState::UpToDate, DiskState::UpToDate]);
    assert!(h.said(
        "run: resource 'r0' has a new preferred node ('beta'), stopping services locally ('alpha')"
    ));
    assert_eq!(h.stops().len(), 1);
}

#[test]
fn row12_a_less_preferred_or_unlisted_peer_never_takes_over() {
    let mut v = secondary();
    v.peer("gamma").disks = vec![DiskState::Inconsistent];
    // The preferred beta is not UpToDate (if it were, alpha would fail back to it:
    // tests/policy_failback.rs).
    v.peer("beta").disks = vec![DiskState::Outdated];
    let mut h = Harness::ready(preferred(PreferredNodesPolicy::Always), Quorum, v);
    h.set(|v| v.may_promote = true);
    h.advance(secs(1));
    h.finish_start(Ok(()));
    h.set(|v| v.role = Role::Primary);
    h.set(|v| v.peer("gamma").disks = vec![DiskState::UpToDate]);
    assert!(h.stops().is_empty());
}

#[test]
fn row12_start_only_never_fails_back() {
    let mut v = secondary();
    v.peer("beta").disks = vec![DiskState::Inconsistent];
    let mut h = Harness::ready(preferred(PreferredNodesPolicy::StartOnly), Quorum, v);
    h.set(|v| v.may_promote = true);
    h.advance(secs(1));
    h.finish_start(Ok(()));
    h.set(|v| v.role = Role::Primary);
    h.set(|v| v.peer("beta").disks = vec![DiskState::UpToDate]);
    assert!(h.stops().is_empty());
}

#[test]
fn row13_ticker_probes_a_running_target_and_restarts_a_dead_one() {
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Ok(()));
    h.clear();
    h.advance(secs(20));
    assert!(h.took(|a| *a == Action::Probe));
    h.outcome(Outcome::Probed(Ok(false)));
    assert!(h.said("is not active any more"));
    // 20 s after their start: a failed start, so the next one waits out the backoff (the
    // original's ticker restarted it within 20 s too).
    assert!(h.said("counted as a failed start"));
    assert!(h.starts().is_empty());
    assert_eq!(h.m.counters.failures, 1);
    h.advance(secs(19));
    assert!(h.starts().is_empty());
    h.advance(secs(1));
    assert_eq!(
        h.starts().len(),
        1,
        "may_promote still true: started after the backoff"
    );
}

#[test]
fn row13_a_target_that_ran_for_a_while_and_died_is_started_again_at_once() {
    let mut h = Harness::ready(cfg(), Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Ok(()));
    h.clear();
    h.advance(drbd_reactor_promoter::policy::machine::STABLE);
    h.outcome(Outcome::Probed(Ok(true)));
    h.advance(secs(20));
    assert!(h.took(|a| *a == Action::Probe));
    h.outcome(Outcome::Probed(Ok(false)));
    assert!(h.said("is not active any more"));
    assert!(!h.said("counted as a failed start"));
    assert_eq!(
        h.starts().len(),
        1,
        "may_promote still true: start again at once (UpToDate)"
    );
}

#[test]
fn row13_shell_runner_is_never_restarted_by_the_ticker_while_it_runs() {
    let c = ResourceConfig {
        runner: Runner::Shell,
        start: vec!["true".into()],
        ..ResourceConfig::default()
    };
    let mut h = Harness::ready(c, Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Ok(()));
    h.clear();
    h.advance(secs(3600));
    assert!(h.starts().is_empty());
    assert!(!h.took(|a| *a == Action::Probe));
}

#[test]
fn row14_exit_with_stop_services_on_exit_removes_the_before_drop_in_then_stops() {
    let c = ResourceConfig {
        stop_services_on_exit: true,
        ..cfg()
    };
    let mut h = running(c, Quorum);
    let a = h.m.on_exit(h.now);
    assert!(matches!(
        a.as_slice(),
        [Action::Log(_), Action::RemoveBefore, Action::Stop { .. }]
    ));
    assert!(!h.m.finished());
    h.record(a);
    h.finish_stop(Ok(()));
    assert!(h.m.finished());
}

#[test]
fn row14_exit_with_stop_services_on_exit_stops_the_shell_runner_too() {
    let c = ResourceConfig {
        stop_services_on_exit: true,
        runner: Runner::Shell,
        ..ResourceConfig::default()
    };
    let mut h = running(c, Quorum);
    let a = h.m.on_exit(h.now);
    assert!(matches!(
        a.as_slice(),
        [Action::Log(_), Action::Stop { .. }]
    ));
}

#[test]
fn row14_exit_without_stop_services_on_exit_leaves_them_and_ignores_later_updates() {
    let mut h = running(cfg(), Quorum);
    let a = h.m.on_exit(h.now);
    assert!(a.is_empty());
    assert!(h.m.finished());
    h.set(|v| v.quorum = false);
    h.advance(secs(600));
    assert!(h.log.is_empty());
}

#[test]
fn fencing_mode_ignores_quorum_and_adds_the_fencing_delay_when_disconnected() {
    let mut h = running(cfg(), Fencing);
    h.set(|v| v.quorum = false);
    assert!(h.stops().is_empty());
    let mut v = secondary();
    v.peer("beta").conn = ConnectionState::Connecting;
    let mut h = Harness::ready(cfg(), Fencing, v);
    h.set(|v| v.may_promote = true);
    assert!(h.said("may promote after 5000ms"));
}
