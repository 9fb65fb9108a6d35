//! A unit taken out of a start list while it runs keeps its drop-in (`PartOf` the target,
//! `BindsTo` the promote unit) until it is down: deleting it under the running stack let the
//! next stop of the target leave that unit running on a node about to demote.

mod common;
mod shell_harness;
use drbd_reactor_promoter::config::{DemoteFailureAction, ResourceConfig};
use drbd_reactor_promoter::policy::Action;
use shell_harness::{executor_in, Rec};

fn config(start: &[&str]) -> ResourceConfig {
    ResourceConfig {
        start: start.iter().map(|s| s.to_string()).collect(),
        ..ResourceConfig::default()
    }
}

#[tokio::test]
async fn a_unit_dropped_from_the_start_list_keeps_its_drop_in_while_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = Rec::default();
    let (executor, units) = executor_in(tmp.path(), &rec);
    let b = units.root.join("b.service.d/reactor.conf");
    executor
        .perform(
            "r0",
            &config(&["a.service", "b.service"]),
            Action::WriteUnits,
        )
        .await;
    assert!(b.exists());

    rec.active.lock().unwrap().insert("b.service".into());
    executor
        .perform("r0", &config(&["a.service"]), Action::WriteUnits)
        .await;
    assert!(b.exists(), "deleted under the running unit");

    // Down now: the next write deletes it, and only it.
    rec.active.lock().unwrap().remove("b.service");
    executor
        .perform("r0", &config(&["a.service"]), Action::WriteUnits)
        .await;
    assert!(!b.exists(), "kept after the unit went down");
    assert!(units.root.join("a.service.d/reactor.conf").exists());
}

#[tokio::test]
async fn a_dropped_unit_that_is_not_running_loses_its_drop_in_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = Rec::default();
    let (executor, units) = executor_in(tmp.path(), &rec);
    executor
        .perform(
            "r0",
            &config(&["a.service", "b.service"]),
            Action::WriteUnits,
        )
        .await;
    executor
        .perform("r0", &config(&["a.service"]), Action::WriteUnits)
        .await;
    assert!(!units.root.join("b.service.d").exists());
}

#[tokio::test]
async fn an_escalation_configured_away_goes_even_while_the_promote_unit_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = Rec::default();
    let (executor, units) = executor_in(tmp.path(), &rec);
    let escalating = ResourceConfig {
        on_drbd_demote_failure: DemoteFailureAction::Reboot,
        ..config(&["a.service"])
    };
    executor
        .perform("r0", &escalating, Action::WriteUnits)
        .await;
    let escalation_dir = units.root.join("drbd-demote-or-escalate@r0.service.d");
    assert!(escalation_dir.exists());
    for unit in [
        "drbd-promote@r0.service",
        "drbd-services@r0.target",
        "drbd-demote-or-escalate@r0.service",
    ] {
        rec.active.lock().unwrap().insert(unit.into());
    }
    executor
        .perform("r0", &config(&["a.service"]), Action::WriteUnits)
        .await;
    assert!(
        !escalation_dir.exists(),
        "a reboot escalation the operator removed stayed"
    );
}
