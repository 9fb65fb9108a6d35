//! Bounded fail-back (docs/compat/promoter.md): with `preferred-nodes-policy = "always"` a
//! Primary running the services hands them to a more preferred peer that is connected with
//! every volume UpToDate whenever it sees one (a state update, its own start completing, the
//! ticker), not only when the peer becomes UpToDate; and after a fail-back it does not fail
//! back again on its own for `FAILBACK_HOLDOFF`, so a preferred node whose start keeps
//! failing makes no loop.

mod common;
use common::cluster::Cluster;
use common::*;
use drbd::vocab::{DiskState, Role};
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::policy::machine::TICK;
use drbd_reactor_promoter::policy::{Action, Services, SplitBrainPolicy, FAILBACK_HOLDOFF};
use std::time::Duration;

/// This node is alpha; beta is preferred over it.
fn prefers_beta(policy: PreferredNodesPolicy) -> ResourceConfig {
    ResourceConfig {
        start: vec!["app.service".into()],
        preferred_nodes: vec!["beta".into(), "alpha".into()],
        preferred_nodes_policy: policy,
        ..ResourceConfig::default()
    }
}

/// alpha running the services as Primary while beta was UpToDate all along (it lost the race).
fn running_beside_an_uptodate_beta(policy: PreferredNodesPolicy) -> Harness {
    let mut v = secondary();
    // beta is busy with something else while alpha starts: not UpToDate yet.
    v.peer("beta").disks = vec![DiskState::Outdated];
    let mut h = Harness::ready(prefers_beta(policy), SplitBrainPolicy::Quorum, v);
    h.set(|v| v.may_promote = true);
    h.advance(secs(10));
    assert_eq!(h.starts().len(), 1);
    h
}

#[test]
fn a_primary_whose_start_completes_beside_an_uptodate_preferred_peer_fails_back() {
    let mut h = running_beside_an_uptodate_beta(PreferredNodesPolicy::Always);
    // beta became UpToDate while the start ran: no transition is seen while Running.
    h.set(|v| v.peer("beta").disks = vec![DiskState::UpToDate]);
    h.set(|v| v.role = Role::Primary);
    assert!(h.stops().is_empty(), "still starting");
    h.finish_start(Ok(()));
    assert_eq!(h.stops().len(), 1);
    assert!(h.said("(its start completed)"));
    assert!(h.said("the more preferred node 'beta' is connected and UpToDate"));
    assert!(h.said("no further fail-back from here for 300s"));
}

/// The order the daemon sees it in: the start's outcome arrives before the update that shows
/// this node Primary, so the fail-back comes with that update.
#[test]
fn a_primary_seen_after_its_start_completed_beside_an_uptodate_preferred_peer_fails_back() {
    let mut h = running_beside_an_uptodate_beta(PreferredNodesPolicy::Always);
    h.set(|v| v.peer("beta").disks = vec![DiskState::UpToDate]);
    h.finish_start(Ok(()));
    assert!(h.stops().is_empty(), "not Primary yet");
    h.set(|v| v.role = Role::Primary);
    assert_eq!(h.stops().len(), 1);
    assert!(h.said("(state update)"));
}

#[test]
fn start_only_and_a_less_preferred_peer_never_fail_back() {
    let mut h = running_beside_an_uptodate_beta(PreferredNodesPolicy::StartOnly);
    h.set(|v| v.peer("beta").disks = vec![DiskState::UpToDate]);
    h.set(|v| v.role = Role::Primary);
    h.finish_start(Ok(()));
    h.advance(secs(600));
    assert!(h.stops().is_empty(), "start-only");

    let cfg = ResourceConfig {
        start: vec!["app.service".into()],
        preferred_nodes: vec!["alpha".into(), "beta".into()],
        ..ResourceConfig::default()
    };
    let mut h = Harness::ready(cfg, SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.advance(secs(1));
    h.set(|v| v.role = Role::Primary);
    h.finish_start(Ok(()));
    h.advance(secs(600));
    assert!(
        h.stops().is_empty(),
        "beta and the unlisted gamma rank below alpha"
    );
}

#[test]
fn the_ticker_fails_back_once_the_holdoff_has_passed_and_not_before() {
    let mut h = running_beside_an_uptodate_beta(PreferredNodesPolicy::Always);
    h.set(|v| v.peer("beta").disks = vec![DiskState::UpToDate]);
    h.set(|v| v.role = Role::Primary);
    h.finish_start(Ok(()));
    assert_eq!(h.stops().len(), 1, "the first fail-back");
    // beta's start failed: it never became Primary; alpha was demoted by its stop and
    // runs the services again.
    h.finish_stop(Ok(()));
    h.set(|v| v.role = Role::Secondary);
    h.advance(FAILBACK_HOLDOFF / 3);
    assert_eq!(h.starts().len(), 2, "alpha takes the services back");
    h.set(|v| v.role = Role::Primary);
    h.finish_start(Ok(()));
    h.clear();
    let held = FAILBACK_HOLDOFF - FAILBACK_HOLDOFF / 3 - TICK;
    h.advance(held);
    assert!(h.stops().is_empty(), "held off");
    h.advance(TICK + TICK);
    assert_eq!(
        h.stops().len(),
        1,
        "the ticker fails back after the hold-off"
    );
    assert!(h.said("(ticker)"));
}

/// The loop guard: the preferred alpha's start always fails. Whoever runs the services in
/// its place fails back at most once per hold-off; alpha's own backoff spaces its attempts.
#[test]
fn a_preferred_node_whose_start_always_fails_makes_no_start_loop() {
    let cfg = ResourceConfig {
        start: vec!["app.service".into()],
        preferred_nodes: vec!["alpha".into(), "beta".into()],
        ..ResourceConfig::default()
    };
    let mut c = Cluster::new(cfg);
    c.broken[0] = true;
    let hours = 3;
    c.advance(secs(3600 * hours));
    assert_eq!(c.max_running, 1);
    let stops = |i: usize| {
        c.events
            .iter()
            .filter(|(_, n, a)| *n == i && matches!(a, Action::Stop { .. }))
            .count() as u64
    };
    let starts = |i: usize| {
        c.starts_after(Duration::ZERO)
            .iter()
            .filter(|(_, n)| *n == i)
            .count() as u64
    };
    let per_holdoff = 3600 * hours / FAILBACK_HOLDOFF.as_secs();
    for i in 1..3 {
        assert!(
            stops(i) <= per_holdoff + 1,
            "{}: {} stops in {hours} h",
            c.nodes[i].m.name(),
            stops(i)
        );
    }
    // alpha fails at most once per fail-back to it, plus its first attempts.
    assert!(starts(0) <= per_holdoff + 3, "alpha: {} starts", starts(0));
    // The services run, on a healthy node, at the end.
    assert!(c.nodes[1..]
        .iter()
        .any(|n| n.m.services() == Services::Running));
}
