//! The shell (`shell::run`) in tokio's paused time with a recording command runner
//! (`shell_harness`): the exact command lines of spec §6.9 for starts and stops, one task per
//! resource, and the published status. The end of an instance is `shell_exit.rs`.

mod common;
mod shell_harness;
use drbd::vocab::Role;
use drbd::EventType;
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::shell::PromoterError;
use shell_harness::*;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn may_promote_runs_the_exact_systemd_start_commands_and_publishes_the_status() {
    let r = start(config(&[("r0", app())]), Rec::default());
    r.send("r0", &promotable(), EventType::Exists);
    r.until("running", |r| r.runs("r0")).await;
    let lines = r.rec.lines();
    let want = [
        "systemctl daemon-reload",
        "drbdadm sh-ll-dev r0",
        "drbdsetup show --show-defaults --json r0",
        // The initial pass on a Secondary: is a target left active by an earlier instance?
        "systemctl show --property=ActiveState drbd-services@r0.target",
        "systemctl reset-failed drbd-services@r0.target",
        "systemctl start drbd-services@r0.target",
        "systemctl show --property=ActiveState drbd-services@r0.target",
    ];
    assert_eq!(lines, want);
    assert!(
        r.rec.log.lock().unwrap().iter().all(|(_, c)| c.stdin_null),
        "stdin from /dev/null"
    );
    assert!(r.units.root.join("app.service.d/reactor.conf").exists());
    let s = r.status.borrow().resources["r0"].clone();
    assert_eq!((s.starts, s.stops, s.failures), (1, 0, 0));
    assert_eq!(s.start_units, vec!["app.service".to_string()]);
    assert!(s.last_decision.unwrap().contains("this node runs them"));
    assert_eq!(r.shutdown().await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn quorum_loss_flushes_the_journal_then_stops_the_target() {
    let r = start(config(&[("r0", app())]), Rec::default());
    let mut v = promotable();
    r.send("r0", &v, EventType::Exists);
    r.until("running", |r| r.runs("r0")).await;
    v.role = Role::Primary;
    v.may_promote = false;
    r.send("r0", &v, EventType::Change);
    v.quorum = false;
    r.send("r0", &v, EventType::Change);
    r.until("stopped", |r| {
        r.rec
            .lines()
            .iter()
            .any(|l| l.starts_with("systemctl stop"))
    })
    .await;
    let lines = r.rec.lines();
    let n = lines.len();
    assert_eq!(
        &lines[n - 2..],
        [
            "journalctl --flush --sync",
            "systemctl stop drbd-services@r0.target"
        ]
    );
    r.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_slow_stop_of_one_resource_never_delays_another_resource() {
    let rec = Rec::default();
    rec.slow.lock().unwrap().insert(
        "systemctl stop drbd-services@r0.target".into(),
        Duration::from_secs(100),
    );
    // Each resource its own service: one unit's drop-ins cannot belong to two resources.
    let other = ResourceConfig {
        start: vec!["other.service".into()],
        ..app()
    };
    let r = start(config(&[("r0", app()), ("r1", other)]), rec);
    let mut v = promotable();
    r.send("r0", &v, EventType::Exists);
    r.until("r0 running", |r| r.runs("r0")).await;
    v.role = Role::Primary;
    v.quorum = false;
    v.may_promote = false;
    r.send("r0", &v, EventType::Change);
    r.until("r0 stopping", |r| {
        !r.rec.at("systemctl stop drbd-services@r0").is_empty()
    })
    .await;
    let stop_at = r.rec.at("systemctl stop drbd-services@r0")[0];
    r.send("r1", &promotable(), EventType::Exists);
    r.until("r1 running", |r| r.runs("r1")).await;
    let r1_start = r.rec.at("systemctl start drbd-services@r1")[0];
    assert!(
        r1_start < stop_at + Duration::from_secs(1),
        "r1 started at {r1_start:?}, r0's stop began at {stop_at:?}"
    );
    r.shutdown().await.unwrap();
}

/// Drop-ins written but systemd not reloaded (daemon-reload failed): no start on them, and
/// the retry reloads although the files on disk are already current.
#[tokio::test(start_paused = true)]
async fn a_failed_daemon_reload_after_the_drop_ins_blocks_starts_until_a_retry_reloads() {
    let rec = Rec::default();
    rec.fail.lock().unwrap().push("daemon-reload".into());
    let r = start(config(&[("r0", app())]), rec);
    r.send("r0", &promotable(), EventType::Exists);
    r.until("the reload failed", |r| {
        !r.rec.at("systemctl daemon-reload").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        r.rec.at("systemctl start").is_empty(),
        "started although systemd has not read the drop-ins"
    );
    r.rec.fail.lock().unwrap().clear();
    r.until("r0 running", |r| r.runs("r0")).await;
    assert_eq!(
        r.rec.at("systemctl daemon-reload").len(),
        2,
        "{:#?}",
        r.rec.lines()
    );
    r.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stop_decided_during_a_slow_start_is_not_queued_behind_it() {
    let rec = Rec::default();
    rec.slow
        .lock()
        .unwrap()
        .insert("systemctl start".into(), Duration::from_secs(300));
    let r = start(config(&[("r0", app())]), rec);
    let mut v = promotable();
    r.send("r0", &v, EventType::Exists);
    r.until("starting", |r| !r.rec.at("systemctl start").is_empty())
        .await;
    let started = r.rec.at("systemctl start")[0];
    v.quorum = false;
    v.may_promote = false;
    v.role = Role::Primary;
    r.send("r0", &v, EventType::Change);
    r.until("stop", |r| !r.rec.at("systemctl stop").is_empty())
        .await;
    assert!(r.rec.at("systemctl stop")[0] < started + Duration::from_secs(1));
    r.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_bad_start_list_is_a_configuration_error_not_a_failure() {
    let cfg = ResourceConfig {
        start: vec!["/var/lib/x.mount".into()],
        ..app()
    };
    let r = start(config(&[("r0", cfg)]), Rec::default());
    match r.task.await.unwrap() {
        Err(PromoterError::Config(e)) => assert_eq!(e[0].key, "resources.r0.start[0]"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_is_followed_by_a_stop_and_counted() {
    let rec = Rec::default();
    rec.fail.lock().unwrap().push("systemctl start".into());
    let r = start(config(&[("r0", app())]), rec);
    r.send("r0", &promotable(), EventType::Exists);
    r.until("stopped", |r| !r.rec.at("systemctl stop").is_empty())
        .await;
    r.until("counted", |r| {
        r.status
            .borrow()
            .resources
            .get("r0")
            .is_some_and(|s| s.failures == 1)
    })
    .await;
    assert!(r.status.borrow().resources["r0"]
        .last_decision
        .as_deref()
        .is_some());
    r.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn freeze_and_thaw_run_one_systemctl_per_resolved_unit_mounts_excluded() {
    let cfg = ResourceConfig {
        start: vec![
            "var-lib-x.mount".into(),
            "a.service".into(),
            "ocf:heartbeat:Dummy d".into(),
        ],
        on_quorum_loss: QuorumLoss::Freeze,
        ..app()
    };
    let r = start(config(&[("r0", cfg)]), Rec::default());
    let mut v = promotable();
    r.send("r0", &v, EventType::Exists);
    r.until("running", |r| r.runs("r0")).await;
    v.role = Role::Primary;
    v.may_promote = false;
    v.quorum = false;
    r.send("r0", &v, EventType::Change);
    r.until("frozen", |r| r.rec.at("systemctl freeze").len() == 2)
        .await;
    v.quorum = true;
    r.send("r0", &v, EventType::Change);
    r.until("thawed", |r| r.rec.at("systemctl thaw").len() == 2)
        .await;
    let lines: Vec<String> = r
        .rec
        .lines()
        .into_iter()
        .filter(|l| l.contains("freeze") || l.contains("thaw"))
        .collect();
    assert_eq!(
        lines,
        [
            "systemctl freeze ocf.rs@d_r0.service",
            "systemctl freeze a.service",
            "systemctl thaw a.service",
            "systemctl thaw ocf.rs@d_r0.service",
        ]
    );
    r.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shell_runner_start_stops_at_the_first_failing_entry_then_runs_the_stop_list() {
    let rec = Rec::default();
    rec.fail.lock().unwrap().push("sh -c second".into());
    let cfg = ResourceConfig {
        runner: Runner::Shell,
        start: vec!["first".into(), "second".into(), "third".into()],
        stop: vec!["undo".into()],
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    };
    let r = start(config(&[("r0", cfg)]), rec);
    r.send("r0", &promotable(), EventType::Exists);
    r.until("undone", |r| !r.rec.at("sh -c undo").is_empty())
        .await;
    let sh: Vec<String> = r
        .rec
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("sh "))
        .collect();
    assert_eq!(sh, ["sh -c first", "sh -c second", "sh -c undo"]);
    r.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn unit_states_are_queried_after_a_start_and_published_when_asked_for() {
    let r = start_with(config(&[("r0", app())]), Rec::default(), true);
    r.send("r0", &promotable(), EventType::Exists);
    r.until("queried", |r| !r.rec.at("--property=Id").is_empty())
        .await;
    let line = r
        .rec
        .lines()
        .into_iter()
        .find(|l| l.contains("--property=Id"))
        .unwrap();
    assert_eq!(
        line,
        "systemctl show --property=Id --property=ActiveState --property=FreezerState drbd-services@r0.target drbd-promote@r0.service app.service"
    );
    r.shutdown().await.unwrap();
}

/// A `systemctl show` that fails at a tick (a D-Bus timeout) says nothing about the target.
#[tokio::test(start_paused = true)]
async fn a_failing_probe_at_a_tick_keeps_the_services_running() {
    let r = start(config(&[("r0", app())]), Rec::default());
    r.send("r0", &promotable(), EventType::Exists);
    r.until("running", |r| r.runs("r0")).await;
    r.rec.fail.lock().unwrap().push("systemctl show".into());
    let probes = r.rec.at("systemctl show").len();
    r.until("a probe at the tick", |r| {
        r.rec.at("systemctl show").len() > probes
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(r.runs("r0"));
    let s = r.status.borrow().resources["r0"].clone();
    assert!(
        s.last_decision.unwrap().contains("could not tell whether"),
        "the failure is reported"
    );
    assert_eq!(r.shutdown().await, Ok(()));
}
