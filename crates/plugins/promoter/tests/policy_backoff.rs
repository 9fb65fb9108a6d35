//! The backoff after this node's own failed starts: a stack that fails after promoting, or
//! dies right after each start, must not promote and demote in an unbounded loop (the
//! original's 20 s rate limit bounded it), and a lost race still is no failure.

mod common;
use common::cluster::Cluster;
use common::*;
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::policy::machine::STABLE;
use drbd_reactor_promoter::policy::{Action, Outcome, Services, SplitBrainPolicy};

fn cfg() -> ResourceConfig {
    ResourceConfig {
        start: vec!["app.service".into()],
        ..ResourceConfig::default()
    }
}

/// A stack that cannot run anywhere (a file system that does not mount): each node promotes,
/// fails and demotes; the next node's `may_promote` edge follows at once. A failure after
/// this node's own promotion was taken for a lost race once a peer became Primary, which
/// lifted its backoff: hundreds of starts per node in ten minutes.
#[test]
fn a_stack_failing_after_the_promotion_on_every_node_backs_off_on_every_node() {
    let mut c = Cluster::new(cfg());
    c.fails_after_promote = [true; 3];
    c.advance(secs(600));
    for i in 0..3 {
        let starts = c
            .starts_after(secs(0))
            .iter()
            .filter(|(_, n)| *n == i)
            .count();
        // Own failures: 0, 20, 60, 140, 300 s; a start that lost the race to a peer's
        // (failing) attempt in between adds one at most per own failure.
        assert!(starts <= 12, "node {i}: {starts} starts in 10 minutes");
        assert!(
            starts >= 2,
            "node {i}: tried again after its backoff ({starts})"
        );
        let counters = &c.nodes[i].m.counters;
        assert_eq!(
            (counters.failures + counters.lost_races) as usize,
            starts,
            "node {i}: every start failed or lost a race"
        );
        assert!(counters.failures >= 1, "node {i}: its own failures count");
    }
}

/// `target-as = "BindsTo"`: the service dies right after each start, which demotes. The
/// preferred node started again at once (its backoff was reset by the successful start) and
/// won every race: the stack never moved to a healthy peer.
#[test]
fn services_dying_right_after_each_start_on_the_preferred_node_move_to_a_peer() {
    let mut c = Cluster::new(ResourceConfig {
        preferred_nodes: vec!["alpha".into(), "beta".into(), "gamma".into()],
        ..cfg()
    });
    let mut alpha_starts = 0;
    for _ in 0..600 {
        c.advance(secs(1));
        if c.primary == Some(0) && c.nodes[0].m.services() == Services::Running {
            alpha_starts += 1;
            c.services_die(0);
        }
    }
    assert!(
        alpha_starts <= 6,
        "alpha: {alpha_starts} starts in 10 minutes"
    );
    assert_eq!(c.primary, Some(1), "beta took the services over");
    assert_eq!(c.nodes[1].m.services(), Services::Running);
    assert!(c.nodes[0].m.counters.failures >= 1);
}

/// A failure counter never goes down (Prometheus takes a decrease for a reset): a failed
/// start is counted once it is known not to be a lost race.
#[test]
fn a_failed_start_reclassified_as_a_lost_race_never_lowers_the_failure_counter() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Err("Return code not status success".into()));
    assert_eq!(h.m.counters.failures, 0, "not known yet");
    h.set(|v| {
        v.may_promote = false;
        v.peer("beta").role = drbd::vocab::Role::Primary;
    });
    assert_eq!((h.m.counters.failures, h.m.counters.lost_races), (0, 1));
}

#[test]
fn a_failed_start_without_a_peer_primary_is_counted_when_the_next_start_fires() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    h.finish_start(Err("x".into()));
    h.finish_stop(Ok(()));
    assert_eq!(h.m.counters.failures, 0);
    h.advance(secs(20));
    assert_eq!(h.starts().len(), 2);
    assert_eq!(h.m.counters.failures, 1);
}

/// A `systemctl show` that fails says nothing about the target: taken for "inactive", the
/// services were marked stopped while they ran, and never probed again.
#[test]
fn a_failed_probe_leaves_running_services_running() {
    let mut h = running(cfg(), SplitBrainPolicy::Quorum);
    h.advance(secs(20));
    assert!(h.took(|a| *a == Action::Probe));
    h.outcome(Outcome::Probed(Err("Connection timed out".into())));
    assert_eq!(h.m.services(), Services::Running);
    assert!(h.said("could not tell whether the services of 'r0' are active"));
    h.clear();
    h.advance(secs(20));
    assert!(
        h.took(|a| *a == Action::Probe),
        "probed again at the next tick"
    );
}

/// The first pass on a Secondary asks whether an earlier instance left the target active;
/// a start with no delay fired beside that probe and took the active target over as its
/// own (starting an active target is a no-op that succeeds), on a Secondary.
#[test]
fn no_start_fires_before_the_first_probe_answers_and_a_left_target_is_stopped() {
    let mut v = secondary();
    v.may_promote = true;
    let mut h = Harness::ready_unanswered(cfg(), SplitBrainPolicy::Quorum, v);
    assert!(h.took(|a| *a == Action::Probe));
    h.advance(secs(5));
    assert!(h.starts().is_empty(), "{:?}", h.messages());
    h.outcome(Outcome::Probed(Ok(true)));
    assert_eq!(h.stops().len(), 1);
    assert!(h.starts().is_empty());
    h.finish_stop(Ok(()));
    assert_eq!(h.starts().len(), 1, "then it races like any node");
}

/// A run that held for `STABLE` clears the failures before it: a later early death starts
/// the backoff from its first step again.
#[test]
fn services_that_held_for_a_while_reset_the_backoff_steps() {
    let mut h = Harness::ready(cfg(), SplitBrainPolicy::Quorum, secondary());
    h.set(|v| v.may_promote = true);
    for _ in 0..2 {
        h.finish_start(Err("x".into()));
        h.finish_stop(Ok(()));
        let n = h.starts().len();
        while h.starts().len() == n {
            h.advance(secs(1));
        }
    }
    h.finish_start(Ok(()));
    h.advance(STABLE + secs(20));
    h.outcome(Outcome::Probed(Ok(false)));
    let n = h.starts().len();
    assert_eq!(n, 4, "ran long enough: started again at once");
    h.finish_start(Ok(()));
    h.advance(secs(20));
    h.outcome(Outcome::Probed(Ok(false)));
    assert!(h.said("starts them again after 20 s"));
}

/// The delay of a pending start follows the state (seed 13): a shorter one that has passed
/// when the update comes must not fire beside the first probe either.
#[test]
fn a_pending_start_moved_into_the_past_waits_for_the_first_probe_too() {
    let mut v = secondary();
    v.may_promote = true;
    v.disks = vec![drbd::vocab::DiskState::Outdated];
    let mut h = Harness::ready_unanswered(cfg(), SplitBrainPolicy::Quorum, v);
    assert!(h.took(|a| *a == Action::Probe));
    h.advance(secs(5));
    h.set(|v| v.disks = vec![drbd::vocab::DiskState::UpToDate]);
    assert!(h.starts().is_empty(), "{:?}", h.messages());
    h.outcome(Outcome::Probed(Ok(true)));
    assert_eq!(h.stops().len(), 1);
    assert!(h.starts().is_empty());
}
