//! The shell (`shell::run`) in tokio's paused time with a recording command runner: the exact
//! command lines of spec §6.9, one task per resource, exit with stop-services-on-exit, and
//! the published status.

mod common;
use common::*;
use drbd::vocab::Role;
use drbd::{EventType, PluginUpdate};
use drbd_reactor_promoter::config::*;
use drbd_reactor_promoter::exec::{BoxFuture, CommandLine, CommandOutput, CommandRunner, Executor};
use drbd_reactor_promoter::shell::{run, Context, PromoterError};
use drbd_reactor_promoter::status::PromoterStatus;
use drbd_reactor_promoter::write::UnitDir;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

const SHOW: &str = r#"[{"resource":"RES","options":{"auto-promote":false,"quorum":"majority",
 "on-no-quorum":"io-error","on-suspended-primary-outdated":"force-secondary",
 "on-no-data-accessible":"io-error"},"connections":[]}]"#;

/// Records every command line with the (virtual) time it started; answers like a healthy
/// node; `slow` makes commands containing a word take that long.
#[derive(Default)]
struct Inner {
    log: Mutex<Vec<(Duration, CommandLine)>>,
    slow: Mutex<BTreeMap<String, Duration>>,
    fail: Mutex<Vec<String>>,
    t0: Mutex<Option<Instant>>,
}

/// Shared handle (the runner is moved into the executor, the test keeps a clone).
#[derive(Default, Clone)]
struct Rec(Arc<Inner>);

impl std::ops::Deref for Rec {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    fn lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.to_string())
            .collect()
    }
    fn at(&self, needle: &str) -> Vec<Duration> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c)| c.to_string().contains(needle))
            .map(|(t, _)| *t)
            .collect()
    }
}

impl CommandRunner for Rec {
    fn run(&self, cmd: CommandLine) -> BoxFuture<CommandOutput> {
        let me = self.clone();
        Box::pin(async move {
            let t0 = *me.t0.lock().unwrap().get_or_insert_with(Instant::now);
            let line = cmd.to_string();
            me.log
                .lock()
                .unwrap()
                .push((Instant::now() - t0, cmd.clone()));
            let delay = me
                .slow
                .lock()
                .unwrap()
                .iter()
                .find(|(k, _)| line.contains(k.as_str()))
                .map(|(_, d)| *d);
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            if me
                .fail
                .lock()
                .unwrap()
                .iter()
                .any(|f| line.contains(f.as_str()))
            {
                return CommandOutput::code(1, "");
            }
            let res = cmd.args.last().cloned().unwrap_or_default();
            match (cmd.program.as_str(), cmd.args.first().map(String::as_str)) {
                ("drbdadm", Some("sh-ll-dev")) => CommandOutput::code(0, "/dev/null\n"),
                ("drbdsetup", Some("show")) => CommandOutput::code(0, &SHOW.replace("RES", &res)),
                ("systemctl", Some("show")) => CommandOutput::code(0, "ActiveState=active\n"),
                _ => CommandOutput::code(0, ""),
            }
        })
    }
}

struct Running {
    rec: Rec,
    tx: mpsc::UnboundedSender<PluginUpdate>,
    status: watch::Receiver<PromoterStatus>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), PromoterError>>,
    _dir: tempfile::TempDir,
    units: UnitDir,
}

fn start(config: PromoterConfig, rec: Rec) -> Running {
    start_with(config, rec, false)
}

fn start_with(config: PromoterConfig, rec: Rec, query_unit_states: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let units = UnitDir {
        root: dir.path().join("system"),
        manifests: dir.path().join("manifests"),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let (status_tx, status) = watch::channel(PromoterStatus::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let mut executor = Executor::new(Arc::new(rec.clone()), units.clone());
    executor.cgroup_controllers = dir.path().join("none");
    let ctx = Context {
        executor,
        node_name: Some("alpha".into()),
        status: status_tx,
        query_unit_states,
    };
    let task = tokio::spawn(run(config, rx, ctx, async move {
        let _ = stopped.await;
    }));
    Running {
        rec,
        tx,
        status,
        stop: Some(stop),
        task,
        _dir: dir,
        units,
    }
}

impl Running {
    fn send(&self, name: &str, v: &View, et: EventType) {
        self.tx
            .send(PluginUpdate::Object(update(v.resource(name), et)))
            .unwrap();
    }
    /// Polls (in virtual time) until `f` holds; panics after a virtual hour.
    async fn until(&self, what: &str, f: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(3600);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "never: {what}\n{:#?}",
                self.rec.lines()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    fn runs(&self, name: &str) -> bool {
        self.status
            .borrow()
            .resources
            .get(name)
            .is_some_and(|s| s.runs_services)
    }
    async fn shutdown(mut self) -> Result<(), PromoterError> {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap()
    }
}

fn config(resources: &[(&str, ResourceConfig)]) -> PromoterConfig {
    PromoterConfig {
        id: None,
        resources: resources
            .iter()
            .map(|(n, c)| (n.to_string(), c.clone()))
            .collect(),
    }
}

fn app() -> ResourceConfig {
    ResourceConfig {
        start: vec!["app.service".into()],
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    }
}

fn promotable() -> View {
    let mut v = secondary();
    v.may_promote = true;
    v
}

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

#[tokio::test(start_paused = true)]
async fn stop_services_on_exit_works_for_the_shell_runner() {
    let cfg = ResourceConfig {
        runner: Runner::Shell,
        start: vec!["drbdadm primary r0".into(), "start-app".into()],
        stop_services_on_exit: true,
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    };
    let r = start(config(&[("r0", cfg)]), Rec::default());
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
