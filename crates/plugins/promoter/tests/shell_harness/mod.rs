//! The shell tests' harness: `shell::run` in tokio's paused time with a command runner that
//! records every command line (and its virtual start time) and answers like a healthy node
//! (a target is active once started, until stopped).
#![allow(dead_code)]

use super::common::*;
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
pub struct Inner {
    pub log: Mutex<Vec<(Duration, CommandLine)>>,
    pub slow: Mutex<BTreeMap<String, Duration>>,
    pub fail: Mutex<Vec<String>>,
    pub t0: Mutex<Option<Instant>>,
    /// Units started and not stopped since (`systemctl show` answers from it).
    pub active: Mutex<std::collections::BTreeSet<String>>,
}

/// Shared handle (the runner is moved into the executor, the test keeps a clone).
#[derive(Default, Clone)]
pub struct Rec(pub Arc<Inner>);

impl std::ops::Deref for Rec {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    pub fn lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.to_string())
            .collect()
    }
    pub fn at(&self, needle: &str) -> Vec<Duration> {
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
                ("systemctl", Some("start")) => {
                    me.active.lock().unwrap().insert(res);
                    CommandOutput::code(0, "")
                }
                ("systemctl", Some("stop")) => {
                    me.active.lock().unwrap().remove(&res);
                    CommandOutput::code(0, "")
                }
                ("systemctl", Some("show")) => {
                    let state = if me.active.lock().unwrap().contains(&res) {
                        "active"
                    } else {
                        "inactive"
                    };
                    CommandOutput::code(0, &format!("ActiveState={state}\n"))
                }
                _ => CommandOutput::code(0, ""),
            }
        })
    }
}

pub struct Running {
    pub rec: Rec,
    pub tx: mpsc::UnboundedSender<PluginUpdate>,
    pub status: watch::Receiver<PromoterStatus>,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<Result<(), PromoterError>>,
    pub _dir: tempfile::TempDir,
    pub units: UnitDir,
}

pub fn start(config: PromoterConfig, rec: Rec) -> Running {
    start_with(config, rec, false)
}

/// An executor running its commands through `rec`, with its unit directories under `dir`.
pub fn executor_in(dir: &std::path::Path, rec: &Rec) -> (Executor, UnitDir) {
    let units = UnitDir {
        root: dir.join("system"),
        manifests: dir.join("manifests"),
    };
    let mut executor = Executor::new(Arc::new(rec.clone()), units.clone());
    executor.cgroup_controllers = dir.join("none");
    (executor, units)
}

pub fn start_with(config: PromoterConfig, rec: Rec, query_unit_states: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let (status_tx, status) = watch::channel(PromoterStatus::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let (executor, units) = executor_in(dir.path(), &rec);
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
    pub fn send(&self, name: &str, v: &View, et: EventType) {
        self.tx
            .send(PluginUpdate::Object(update(v.resource(name), et)))
            .unwrap();
    }
    /// Polls (in virtual time) until `f` holds; panics after a virtual hour.
    pub async fn until(&self, what: &str, f: impl Fn(&Self) -> bool) {
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
    pub fn runs(&self, name: &str) -> bool {
        self.status
            .borrow()
            .resources
            .get(name)
            .is_some_and(|s| s.runs_services)
    }
    pub async fn shutdown(mut self) -> Result<(), PromoterError> {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap()
    }
}

pub fn config(resources: &[(&str, ResourceConfig)]) -> PromoterConfig {
    PromoterConfig {
        id: None,
        resources: resources
            .iter()
            .map(|(n, c)| (n.to_string(), c.clone()))
            .collect(),
    }
}

pub fn app() -> ResourceConfig {
    ResourceConfig {
        start: vec!["app.service".into()],
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    }
}

pub fn promotable() -> View {
    let mut v = secondary();
    v.may_promote = true;
    v
}
