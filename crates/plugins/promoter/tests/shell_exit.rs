//! The end of an instance (a reload, a shutdown, the update stream ending), in tokio's paused
//! time with the recording command runner: what it waits for, and what stop-services-on-exit
//! runs for either runner.

mod common;
mod shell_harness;
use common::*;
use drbd::vocab::Role;
use drbd::EventType;
use drbd_reactor_promoter::config::*;
use shell_harness::*;
use std::time::Duration;
use tokio::time::Instant;

/// Spec §6.12: an instance that ends (a reload, a shutdown) waits for what it began; a new
/// instance for the resource must never act beside an old start still running.
#[tokio::test(start_paused = true)]
async fn an_instance_ending_during_a_slow_start_ends_only_after_that_start() {
    for runner in [Runner::Systemd, Runner::Shell] {
        let rec = Rec::default();
        rec.slow
            .lock()
            .unwrap()
            .insert("systemctl start".into(), Duration::from_secs(300));
        let cfg = ResourceConfig {
            runner,
            start: vec!["systemctl start app.service".into()],
            ..app()
        };
        let cfg = match runner {
            Runner::Systemd => app(),
            Runner::Shell => cfg,
        };
        let r = start(config(&[("r0", cfg)]), rec);
        r.send("r0", &promotable(), EventType::Exists);
        r.until("starting", |r| !r.rec.at("systemctl start").is_empty())
            .await;
        let began = Instant::now();
        r.shutdown().await.unwrap();
        // The start was seen within 10 ms of its beginning: 299.99 s of it were left.
        assert!(
            Instant::now() - began >= Duration::from_secs(299),
            "{runner:?}: ended {:?} after the exit was asked, during a 300 s start",
            Instant::now() - began
        );
    }
}

/// The host cancels an instance that overran its stop deadline by dropping its run. The
/// per-resource tasks were detached by that: the rest of a slow start list ran afterwards,
/// beside the next instance.
#[tokio::test(start_paused = true)]
async fn a_cancelled_instance_runs_nothing_of_its_slow_start_afterwards() {
    let rec = Rec::default();
    rec.slow
        .lock()
        .unwrap()
        .insert("slow-step".into(), Duration::from_secs(300));
    let cfg = ResourceConfig {
        runner: Runner::Shell,
        start: vec!["slow-step".into(), "after-the-slow-step".into()],
        ..app()
    };
    let r = start(config(&[("r0", cfg)]), rec.clone());
    r.send("r0", &promotable(), EventType::Exists);
    r.until("the slow step", |r| !r.rec.at("slow-step").is_empty())
        .await;
    r.task.abort();
    let _ = (&mut { r.task }).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(
        rec.at("after-the-slow-step").is_empty(),
        "{:#?}",
        rec.lines()
    );
}

#[tokio::test(start_paused = true)]
async fn stop_services_on_exit_removes_the_before_drop_in_reloads_then_stops() {
    let cfg = ResourceConfig {
        stop_services_on_exit: true,
        ..app()
    };
    let r = start(config(&[("r0", cfg)]), Rec::default());
    r.send("r0", &promotable(), EventType::Exists);
    r.until("running", |r| r.runs("r0")).await;
    let before = r
        .units
        .root
        .join("drbd-services@r0.target.d/reactor-50-before.conf");
    assert!(before.exists());
    let rec = r.rec.clone();
    let n = rec.lines().len();
    r.shutdown().await.unwrap();
    assert!(!before.exists());
    assert_eq!(
        rec.lines()[n..],
        [
            "systemctl daemon-reload",
            "journalctl --flush --sync",
            "systemctl stop drbd-services@r0.target"
        ]
    );
}

/// A shell runner resource whose start list promotes and starts an app, with
/// stop-services-on-exit.
fn shell_app_stopped_on_exit() -> ResourceConfig {
    ResourceConfig {
        runner: Runner::Shell,
        start: vec!["drbdadm primary r0".into(), "start-app".into()],
        stop_services_on_exit: true,
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn stop_services_on_exit_works_for_the_shell_runner() {
    let r = start(
        config(&[("r0", shell_app_stopped_on_exit())]),
        Rec::default(),
    );
    r.send("r0", &promotable(), EventType::Exists);
    r.until("running", |r| r.runs("r0")).await;
    let record = r.units.shell_started("r0");
    assert!(
        record.exists(),
        "the start is recorded in the run directory"
    );
    let rec = r.rec.clone();
    let n = rec.lines().len();
    assert_eq!(
        rec.lines()[n - 2..],
        ["sh -c drbdadm primary r0", "sh -c start-app"]
    );
    assert!(
        !rec.log.lock().unwrap()[n - 1].1.stdin_null,
        "sh inherits stdin"
    );
    r.shutdown().await.unwrap();
    assert_eq!(
        rec.lines()[n..],
        ["sh -c start-app", "sh -c drbdadm primary r0"]
    );
    assert!(!record.exists(), "a completed stop list removes the record");
}

/// Real-mode HA campaign seed 46: the daemon died while its node ran the services, the node
/// was demoted meanwhile; the next instance finds the record and runs the stop list.
#[tokio::test(start_paused = true)]
async fn a_shell_start_recorded_by_an_earlier_instance_on_a_secondary_is_stopped() {
    let cfg = ResourceConfig {
        runner: Runner::Shell,
        start: vec!["drbdadm primary r0".into(), "start-app".into()],
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    };
    let r = start(config(&[("r0", cfg)]), Rec::default());
    let record = r.units.shell_started("r0");
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    std::fs::write(&record, "started\n").unwrap();
    let mut v = secondary();
    v.peer("beta").role = Role::Primary;
    r.send("r0", &v, EventType::Exists);
    r.until("the stop list ran", |_| !record.exists()).await;
    let shell: Vec<String> = r
        .rec
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("sh -c"))
        .collect();
    assert_eq!(
        shell,
        ["sh -c start-app", "sh -c drbdadm primary r0"],
        "the stop list (the start list reversed), no start"
    );
}

#[tokio::test(start_paused = true)]
async fn without_stop_services_on_exit_the_services_are_left_running() {
    let r = start(config(&[("r0", app())]), Rec::default());
    r.send("r0", &promotable(), EventType::Exists);
    r.until("running", |r| r.runs("r0")).await;
    let rec = r.rec.clone();
    let n = rec.lines().len();
    r.shutdown().await.unwrap();
    assert_eq!(rec.lines().len(), n);
}

#[tokio::test(start_paused = true)]
async fn the_end_of_the_update_stream_is_an_orderly_exit() {
    let r = start(config(&[("r0", app())]), Rec::default());
    let Running { tx, task, .. } = r;
    drop(tx);
    assert_eq!(task.await.unwrap(), Ok(()));
}

/// Plugin contract: updates that end with no stop asked are the host resynchronising an
/// instance that fell behind (a new one follows at once with the current state). That is no
/// exit: stop-services-on-exit must not stop the services (a failover caused by a queue).
#[tokio::test(start_paused = true)]
async fn updates_ending_without_a_stop_hand_over_and_leave_the_services_running() {
    for runner in [Runner::Systemd, Runner::Shell] {
        let cfg = match runner {
            Runner::Systemd => ResourceConfig {
                stop_services_on_exit: true,
                ..app()
            },
            Runner::Shell => shell_app_stopped_on_exit(),
        };
        let r = start(config(&[("r0", cfg)]), Rec::default());
        r.send("r0", &promotable(), EventType::Exists);
        r.until("running", |r| r.runs("r0")).await;
        let n = r.rec.lines().len();
        let Running {
            rec,
            tx,
            stop,
            task,
            units,
            ..
        } = r;
        drop(tx);
        task.await.unwrap().unwrap();
        assert_eq!(
            rec.lines()[n..],
            [] as [String; 0],
            "{runner:?}: something was run"
        );
        if runner == Runner::Systemd {
            let before = units
                .root
                .join("drbd-services@r0.target.d/reactor-50-before.conf");
            assert!(
                before.exists(),
                "the before drop-in stays for the next instance"
            );
        }
        drop(stop);
    }
}
