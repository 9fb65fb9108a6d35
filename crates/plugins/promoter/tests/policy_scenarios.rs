//! Every scenario of spec §9, in virtual time, plus the fail-over fix of issue item 4: a
//! node that lost the start race did not fail and is not rate-limited.

mod common;
use common::cluster::Cluster;
use common::*;
use drbd::vocab::{DiskState, Role};
use drbd::EventType;
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::policy::{Action, Outcome, Services, SplitBrainPolicy};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn cfg() -> ResourceConfig {
    ResourceConfig {
        start: vec!["app.service".into()],
        ..ResourceConfig::default()
    }
}

#[test]
fn cold_start_exactly_one_node_runs_the_services_and_losers_are_not_failures() {
    let mut c = Cluster::new(cfg());
    c.advance(secs(60));
    assert!(c.primary.is_some());
    assert_eq!(c.max_running, 1);
    let running = c
        .nodes
        .iter()
        .filter(|n| n.m.services() == Services::Running)
        .count();
    assert_eq!(running, 1);
    for n in &c.nodes {
        assert_eq!(n.m.counters.failures, 0, "{}", n.m.name());
    }
    assert_eq!(
        c.nodes.iter().map(|n| n.m.counters.lost_races).sum::<u64>(),
        2
    );
}

#[test]
fn cold_start_a_diskless_node_waits_6s_and_loses_to_uptodate_nodes() {
    let mut c = Cluster::new(cfg());
    c.nodes[0].disk = DiskState::Diskless;
    c.advance(secs(60));
    assert_ne!(c.primary, Some(0));
    assert!(c.starts_after(secs(0)).iter().all(|(_, i)| *i != 0));
}

/// Issue item 4: in the original the losers' lost starts put them under the 20 s rate limit,
/// so a crash of the winner a few seconds later failed over only via the ticker (~18 s).
#[test]
fn survivor_that_lost_the_start_race_starts_at_once_when_the_primary_crashes() {
    for crash_after in [1, 3, 5, 10, 19, 21, 45] {
        let mut c = Cluster::new(cfg());
        c.advance(secs(0));
        let winner = c.primary.expect("someone won");
        c.advance(secs(crash_after));
        let t = c.now - c.start;
        c.crash(winner);
        c.advance(secs(1));
        let starts = c.starts_after(t);
        assert!(!starts.is_empty(), "crash after {crash_after}s: no start");
        assert_eq!(
            starts[0].0, t,
            "crash after {crash_after}s: first start must be immediate (UpToDate: 0 s delay)"
        );
        assert!(c.primary.is_some_and(|p| p != winner));
        assert_eq!(c.max_running, 1);
    }
}

#[test]
fn primary_crash_with_outdated_survivors_starts_after_their_delay() {
    let mut c = Cluster::new(cfg());
    c.advance(secs(0));
    let winner = c.primary.unwrap();
    for (i, n) in c.nodes.iter_mut().enumerate() {
        if i != winner {
            n.disk = DiskState::Outdated;
        }
    }
    c.advance(secs(30));
    let t = c.now - c.start;
    c.crash(winner);
    c.advance(secs(10));
    assert_eq!(c.starts_after(t)[0].0, t + secs(2));
}

#[test]
fn this_nodes_own_failed_starts_back_off_20_40_80_seconds() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    for _ in 0..4 {
        h.finish_start(Err("Return code not status success".into()));
        h.finish_stop(Ok(()));
        let n = h.starts().len();
        while h.starts().len() == n {
            h.advance(secs(1));
        }
    }
    let times: Vec<u64> = h.starts().iter().map(|(t, _)| t.as_secs()).collect();
    assert_eq!(times, vec![0, 20, 60, 140, 300]);
    assert!(h.said("Starting 'r0' failed: Return code not status success"));
    assert!(h.said("backing off"));
    assert_eq!(h.m.counters.failures, 4);
}

#[test]
fn a_successful_start_resets_the_backoff() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Err("x".into()));
    h.finish_stop(Ok(()));
    h.advance(secs(20));
    h.finish_start(Ok(()));
    h.set(|v| {
        v.quorum = false;
        v.may_promote = false;
    });
    h.finish_stop(Ok(()));
    h.set(|v| v.quorum = true);
    let before = h.starts().len();
    h.set(|v| v.may_promote = true);
    assert_eq!(h.starts().len(), before + 1, "no backoff after a success");
}

#[test]
fn service_failing_to_start_stops_the_target_again() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Err("unit 'drbd-services@r0.target' is not active".into()));
    assert_eq!(h.stops().len(), 1);
    assert_eq!(h.m.services(), Services::Stopping);
}

#[test]
fn demotion_failure_on_stop_is_reported_and_leaves_nothing_pending() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Ok(()));
    h.set(|v| {
        v.role = Role::Primary;
        v.may_promote = false;
    });
    h.set(|v| v.quorum = false);
    h.finish_stop(Err("Return code not status success".into()));
    assert!(h.said("Stopping 'r0' failed: Return code not status success"));
    assert_eq!(h.m.services(), Services::Stopped);
}

#[test]
fn partition_of_the_primary_stops_it_and_the_majority_takes_over() {
    let mut c = Cluster::new(cfg());
    c.advance(secs(0));
    let old = c.primary.unwrap();
    c.advance(secs(30));
    c.group[old] = 1;
    c.settle();
    // The minority Primary stops its services (on-quorum-loss = shutdown)...
    assert!(c
        .events
        .iter()
        .any(|(_, i, a)| *i == old && matches!(a, Action::Stop { .. })));
    // ...which demotes it, and the majority promotes.
    c.advance(secs(5));
    assert!(c.primary.is_some_and(|p| p != old));
    assert_eq!(c.nodes[old].m.services(), Services::Stopped);
    // Heal: exactly one runs it.
    c.group[old] = 0;
    c.advance(secs(60));
    let running: Vec<_> = (0..3)
        .filter(|i| c.nodes[*i].m.services() == Services::Running)
        .collect();
    assert_eq!(running, vec![c.primary.unwrap()]);
    assert_eq!(c.max_running, 1);
}

fn freeze_cfg() -> ResourceConfig {
    ResourceConfig {
        on_quorum_loss: QuorumLoss::Freeze,
        ..cfg()
    }
}

#[test]
fn freeze_a_quorum_returns_and_the_frozen_primary_thaws_without_restart() {
    let mut h = running(freeze_cfg(), SplitBrainPolicy::Quorum);
    h.set(|v| v.quorum = false);
    assert_eq!(h.m.services(), Services::Frozen);
    h.advance(secs(120));
    h.set(|v| v.quorum = true);
    assert_eq!(h.m.services(), Services::Running);
    assert!(h.stops().is_empty() && h.starts().is_empty());
}

#[test]
fn freeze_b_others_promoted_so_the_forced_secondary_stops() {
    let mut h = running(freeze_cfg(), SplitBrainPolicy::Quorum);
    h.set(|v| v.quorum = false);
    h.set(|v| {
        v.quorum = true;
        v.role = Role::Secondary;
        v.peer("beta").role = Role::Primary;
    });
    assert_eq!(h.stops().len(), 1);
    assert!(h.starts().is_empty());
}

#[test]
fn freeze_secondaries_of_the_other_partition_wait_2s_more() {
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    assert!(h.said("may promote after 2000ms"));
}

#[test]
fn more_preferred_node_rejoins_and_the_services_move_back() {
    let c = ResourceConfig {
        preferred_nodes: vec!["alpha".into(), "beta".into()],
        ..cfg()
    };
    let mut cl = Cluster::new(c);
    cl.nodes[0].alive = false;
    cl.advance(secs(30));
    assert_eq!(cl.primary, Some(1));
    cl.nodes[0].alive = true;
    cl.nodes[0].disk = DiskState::Inconsistent;
    cl.settle();
    cl.nodes[0].disk = DiskState::UpToDate;
    cl.advance(secs(30));
    assert_eq!(cl.primary, Some(0), "alpha is preferred and gets it back");
    assert_eq!(cl.max_running, 1);
}

#[test]
fn restart_on_the_active_node_keeps_the_running_services() {
    let mut v = secondary();
    v.role = Role::Primary;
    let h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, v);
    // Starting an active target is a no-op for systemd; nothing is stopped.
    assert_eq!(h.starts().len(), 1);
    assert!(h.stops().is_empty());
}

#[test]
fn misconfigured_split_brain_protection_ignores_the_resource_and_never_starts() {
    let now = Instant::now();
    let (mut m, _) = drbd_reactor_promoter::policy::Machine::new(
        "r0",
        Arc::new(ResourceConfig {
            adjust_resource_on_start: false,
            ..cfg()
        }),
        None,
        now,
    );
    m.on_outcome(now, Outcome::BackingDevices(Ok(vec![])));
    let mut v = secondary();
    v.may_promote = true;
    m.on_update(now, &update(v.resource("r0"), EventType::Exists));
    let mut t = now;
    let mut starts = 0;
    for _ in 0..50 {
        let a = m.on_outcome(
            t,
            Outcome::Policy(Err(
                "quorum is 'off', but also fencing is 'dont-care'".into()
            )),
        );
        starts += a
            .iter()
            .filter(|a| matches!(a, Action::Start { .. }))
            .count();
        t = m.next_deadline().unwrap();
        starts += m
            .on_timer(t)
            .iter()
            .filter(|a| matches!(a, Action::Start { .. }))
            .count();
    }
    assert_eq!(starts, 0);
    assert!(
        t - now < Duration::from_secs(50 * 21),
        "retries are bounded by the ticker period"
    );
}

#[test]
fn resource_brought_down_clears_its_state_and_the_ticker_never_starts_it() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.view.disks = vec![DiskState::Inconsistent];
    h.set(|v| v.may_promote = true);
    h.push_view_event(EventType::Destroy);
    assert!(h.said("not promoting r0: the resource was brought down"));
    h.advance(secs(3600));
    assert!(h.starts().is_empty());
}

#[test]
fn quorum_loss_on_a_secondary_cancels_a_pending_start_and_stops_nothing() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.view.disks = vec![DiskState::Consistent];
    h.set(|v| v.may_promote = true);
    h.set(|v| {
        v.quorum = false;
        v.may_promote = false;
    });
    h.advance(secs(600));
    assert!(h.starts().is_empty() && h.stops().is_empty());
}

#[test]
fn a_stop_is_never_overtaken_by_a_start() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Ok(()));
    h.set(|v| v.role = Role::Primary);
    h.set(|v| v.quorum = false);
    // The stop has not finished; may_promote comes back meanwhile.
    h.set(|v| {
        v.quorum = true;
        v.role = Role::Secondary;
        v.may_promote = true;
    });
    h.advance(secs(60));
    assert_eq!(h.starts().len(), 1, "no start while the stop is pending");
    h.finish_stop(Ok(()));
    assert_eq!(h.starts().len(), 2);
}

#[test]
fn restart_while_frozen_thaws_the_services_when_quorum_returns() {
    let mut v = secondary();
    v.role = Role::Primary;
    v.quorum = false;
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, v);
    h.finish_start(Ok(()));
    h.set(|v| v.quorum = true);
    assert!(h.took(|a| *a == Action::Thaw(vec!["app.service".into()])));
    assert!(h.stops().is_empty());
}

/// HA campaign seed 142: a daemon restarted on a Primary that had lost quorum (its services
/// still running) completed the services and then never stopped them: no quorum transition
/// was ever going to come.
#[test]
fn restart_on_a_primary_without_quorum_with_shutdown_stops_the_services_after_completing_them() {
    let mut v = secondary();
    v.role = Role::Primary;
    v.quorum = false;
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, v);
    h.finish_start(Ok(()));
    assert_eq!(h.stops().len(), 1);
    assert!(h.said("has no quorum; stopping its services"));
}

#[test]
fn restart_on_a_primary_without_quorum_with_freeze_freezes_the_services_at_once() {
    let mut v = secondary();
    v.role = Role::Primary;
    v.quorum = false;
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, v);
    h.finish_start(Ok(()));
    assert!(h.took(|a| *a == Action::Freeze(vec!["app.service".into()])));
    assert_eq!(h.m.services(), Services::Frozen);
    assert!(h.stops().is_empty());
}

/// HA campaign seed 13: a preferred node rejoining Inconsistent waited the 3 s its stale disk
/// state gave although its resync ended at once, lost to an unlisted UpToDate node (2 s),
/// and fail-back never came (its peer had become UpToDate before the other node ran them).
#[test]
fn a_pending_start_moves_earlier_when_the_disk_becomes_uptodate_during_the_wait() {
    let mut v = secondary();
    v.disks = vec![DiskState::Inconsistent];
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, v);
    h.set(|v| v.may_promote = true);
    assert!(h.said("may promote after 3000ms"));
    h.advance(Duration::from_millis(500));
    assert!(h.starts().is_empty());
    h.set(|v| v.disks = vec![DiskState::UpToDate]);
    assert_eq!(h.starts().len(), 1, "0 s delay from the edge: due already");
}

#[test]
fn a_pending_start_moves_later_when_the_disk_gets_worse_during_the_wait() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| {
        v.disks = vec![DiskState::Outdated];
        v.may_promote = true;
    });
    h.set(|v| v.disks = vec![DiskState::Inconsistent]);
    h.advance(Duration::from_millis(2500));
    assert!(h.starts().is_empty());
    h.advance(Duration::from_millis(600));
    assert_eq!(h.starts().len(), 1);
}

/// HA campaign seed 147: a frozen Primary forced to Secondary while its daemon was dead kept
/// its (frozen) services: the restarted instance saw a Secondary and never looked.
#[test]
fn restart_on_a_secondary_stops_a_target_an_earlier_instance_left_active() {
    let mut h = Harness::ready_unanswered(freeze_cfg(), SplitBrainPolicy::Quorum, secondary());
    assert!(h.took(|a| *a == Action::Probe));
    h.outcome(Outcome::Probed(Ok(true)));
    assert_eq!(h.stops().len(), 1);
    assert!(h.said("active on a Secondary"));
}

#[test]
fn restart_on_a_secondary_with_an_inactive_target_does_nothing() {
    let mut h = Harness::ready_unanswered(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.outcome(Outcome::Probed(Ok(false)));
    assert!(h.stops().is_empty() && h.starts().is_empty());
}

/// HA campaign seed 272: the daemon of a frozen Primary died; quorum came back before it
/// was restarted, so the new instance saw no quorum transition and left the services frozen.
#[test]
fn restart_on_a_primary_with_quorum_thaws_services_an_earlier_instance_froze() {
    let mut v = secondary();
    v.role = Role::Primary;
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, v);
    h.finish_start(Ok(()));
    assert!(h.took(|a| *a == Action::Thaw(vec!["app.service".into()])));
    assert_eq!(h.m.services(), Services::Running);
    assert!(h.stops().is_empty());
}

#[test]
fn an_ordinary_start_with_freeze_thaws_nothing() {
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.advance(secs(2));
    h.finish_start(Ok(()));
    assert!(!h.took(|a| matches!(a, Action::Thaw(_))));
}

/// HA campaign seed 929: a diskless Primary forced to Secondary when its peers came back kept
/// its services running on the Secondary.
#[test]
fn a_primary_demoted_under_its_running_services_stops_them() {
    let mut h = running(cfg(), SplitBrainPolicy::Quorum);
    h.set(|v| v.role = Role::Secondary);
    assert_eq!(h.stops().len(), 1);
    assert!(h.said("demoted under its running services"));
}

#[test]
fn service_crash_is_left_to_systemd_while_the_target_stays_active() {
    let mut h = running(cfg(), SplitBrainPolicy::Quorum);
    // Hours of probes that find the target active: nothing but probes.
    for _ in 0..360 {
        h.advance(secs(20));
        if h.took(|a| *a == Action::Probe) {
            h.outcome(Outcome::Probed(Ok(true)));
        }
    }
    assert!(h.starts().is_empty() && h.stops().is_empty());
    assert_eq!(h.m.services(), Services::Running);
}

#[test]
fn two_node_split_with_fencing_waits_the_fencing_delay_and_ignores_quorum() {
    let mut v = secondary();
    v.peers.truncate(1);
    v.peer("beta").conn = drbd::vocab::ConnectionState::NetworkFailure;
    v.quorum = false;
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Fencing, v);
    h.set(|v| v.may_promote = true);
    h.advance(secs(4));
    assert!(h.starts().is_empty());
    h.advance(secs(1));
    assert_eq!(
        h.starts().len(),
        1,
        "started after fencing-promote-delay (5 s)"
    );
}

/// HA campaign seeds 27672 and 53073: quorum was lost while a slow start ran (the services
/// were frozen as Starting) and came back before the start promoted this node, so the thaw
/// rule (a Primary regaining quorum) never fired; the machine kept the running services as
/// "frozen", so a later quorum loss froze nothing and fail-back never came.
#[test]
fn a_start_that_completes_with_quorum_back_thaws_what_was_frozen_while_it_ran() {
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.advance(secs(5));
    assert_eq!(h.starts().len(), 1);
    h.set(|v| v.quorum = false);
    assert_eq!(h.m.services(), Services::Frozen, "frozen while starting");
    h.set(|v| v.quorum = true);
    assert!(
        !h.took(|a| matches!(a, Action::Thaw(_))),
        "a Secondary: no thaw yet"
    );
    h.finish_start(Ok(()));
    assert!(h.took(|a| *a == Action::Thaw(vec!["app.service".into()])));
    assert_eq!(h.m.services(), Services::Running);
    assert!(h.said("thawing the services frozen meanwhile"));
    // A later quorum loss freezes them again.
    h.set(|v| v.role = Role::Primary);
    h.set(|v| v.quorum = false);
    assert!(h.took(|a| matches!(a, Action::Freeze(_))));
}

/// The start promoted this node, quorum went (the services froze) and came back (thawed)
/// while the start still ran: its failure must still be reported and stopped, or the node
/// stays Primary with nothing running and no peer can promote.
#[test]
fn a_start_that_fails_after_a_freeze_and_thaw_while_it_ran_is_stopped() {
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.advance(secs(5));
    assert_eq!(h.starts().len(), 1);
    h.set(|v| {
        v.role = Role::Primary;
        v.may_promote = false;
    });
    h.set(|v| v.quorum = false);
    assert_eq!(h.m.services(), Services::Frozen);
    h.set(|v| v.quorum = true);
    assert!(h.took(|a| matches!(a, Action::Thaw(_))));
    let stops = h.stops().len();
    h.finish_start(Err("app.service: start timed out".into()));
    assert!(h.said("Starting 'r0' failed: app.service: start timed out"));
    assert_eq!(
        h.stops().len(),
        stops + 1,
        "the failed start was not stopped"
    );
}

#[test]
fn a_start_that_succeeds_after_a_freeze_and_thaw_while_it_ran_runs() {
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.advance(secs(5));
    h.set(|v| {
        v.role = Role::Primary;
        v.may_promote = false;
    });
    h.set(|v| v.quorum = false);
    h.set(|v| v.quorum = true);
    h.finish_start(Ok(()));
    assert_eq!(h.m.services(), Services::Running);
    assert!(h.said("started the services of 'r0'"));
    assert!(h.stops().is_empty());
    // A later quorum loss freezes them again.
    h.set(|v| v.quorum = false);
    assert_eq!(h.m.services(), Services::Frozen);
}

#[test]
fn a_start_that_completes_still_without_quorum_keeps_the_services_frozen() {
    let mut h = Harness::ready(freeze_cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.advance(secs(5));
    h.set(|v| v.quorum = false);
    h.finish_start(Ok(()));
    assert!(!h.took(|a| matches!(a, Action::Thaw(_))));
    assert_eq!(h.m.services(), Services::Frozen);
}
