//! The shell runner's two gaps found by the real-mode HA campaign (issue 15, docs/ha-campaign.md):
//! services a dead daemon left on a node that is a Secondary now (seed 46), and a failed stop
//! list that leaves a Primary nobody can take over from (seed 41). In virtual time.

mod common;
use common::*;
use drbd::vocab::Role;
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::policy::{Action, Outcome, SplitBrainPolicy::Quorum};

fn shell() -> ResourceConfig {
    ResourceConfig {
        runner: Runner::Shell,
        start: vec!["drbdadm primary r0".into(), "svc start r0".into()],
        ..ResourceConfig::default()
    }
}

/// Running, then quorum lost (`on-quorum-loss = shutdown`) and the stop list failed.
fn stop_failed(c: ResourceConfig) -> Harness {
    let mut h = running(c, Quorum);
    h.set(|v| v.quorum = false);
    assert_eq!(h.stops().len(), 1);
    h.finish_stop(Err("svc stop r0: exit status 1".into()));
    h.clear();
    h
}

#[test]
fn an_instance_starting_on_a_secondary_asks_for_the_shell_runners_record() {
    let h = Harness::ready(shell(), Quorum, secondary());
    assert!(h.took(|a| *a == Action::Probe));
}

#[test]
fn a_record_of_a_start_left_by_an_earlier_instance_on_a_secondary_runs_the_stop_list() {
    let mut h = Harness::ready_unanswered(shell(), Quorum, secondary());
    h.outcome(Outcome::Probed(Ok(true)));
    assert_eq!(h.stops().len(), 1);
    assert!(h.said("the start list (shell runner) of 'r0' is active on a Secondary"));
}

#[test]
fn no_record_on_a_secondary_stops_nothing() {
    let mut h = Harness::ready_unanswered(shell(), Quorum, secondary());
    h.outcome(Outcome::Probed(Ok(false)));
    assert!(h.stops().is_empty());
}

#[test]
fn a_primary_whose_stop_list_failed_runs_it_again_on_each_tick_until_it_succeeds() {
    let mut h = stop_failed(shell());
    assert!(
        h.stops().is_empty(),
        "not at once: the failure is logged first"
    );
    h.advance(secs(20));
    assert_eq!(h.stops().len(), 1, "the ticker runs the stop list again");
    assert!(h.said("'r0' is still Primary after its stop list failed"));
    h.finish_stop(Err("svc stop r0: exit status 1".into()));
    h.advance(secs(20));
    assert_eq!(h.stops().len(), 2, "and again while it fails");
    h.finish_stop(Ok(()));
    h.clear();
    h.advance(secs(3600));
    assert!(
        h.stops().is_empty(),
        "a stop list that completed is not run again"
    );
}

/// Real-mode campaign seed 480: a node demoted after its stop list failed kept the record of
/// a start whose services had ended; the stop list is run again on a Secondary too, and
/// once it completes nothing more happens.
#[test]
fn a_node_demoted_after_its_stop_list_failed_runs_it_again_until_it_completes() {
    let mut h = stop_failed(shell());
    h.set(|v| v.role = Role::Secondary);
    h.advance(secs(20));
    assert_eq!(h.stops().len(), 1);
    assert!(h.said("the stop list of 'r0' failed: running it again"));
    h.finish_stop(Ok(()));
    h.clear();
    h.advance(secs(3600));
    assert!(h.stops().is_empty());
}

#[test]
fn a_new_start_ends_the_retries_of_an_earlier_failed_stop() {
    let mut h = stop_failed(shell());
    h.set(|v| {
        v.role = Role::Secondary;
        v.quorum = true;
        v.may_promote = true;
    });
    assert_eq!(h.starts().len(), 1, "promotable again: started");
    h.finish_start(Ok(()));
    h.clear();
    h.advance(secs(3600));
    assert!(
        h.stops().is_empty(),
        "the start's stop list is not the failed one"
    );
}

#[test]
fn the_systemd_runner_leaves_a_failed_stop_to_its_escalation() {
    let c = ResourceConfig {
        start: vec!["fs.mount".into()],
        ..ResourceConfig::default()
    };
    let mut h = stop_failed(c);
    h.advance(secs(3600));
    assert!(h.stops().is_empty());
}
