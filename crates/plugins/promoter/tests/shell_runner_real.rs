//! The shell runner end to end with real `sh` processes: the start list runs when the node
//! may promote, and `stop-services-on-exit` runs the stop list when the instance ends (the
//! original never stopped anything for the shell runner, §12.12). DRBD's own tools are
//! answered by a stand-in; every `sh -c` is a real process.

mod common;
use common::*;
use drbd::{EventType, PluginUpdate};
use drbd_reactor_promoter::config::{PromoterConfig, ResourceConfig, Runner};
use drbd_reactor_promoter::exec::{
    BoxFuture, CommandLine, CommandOutput, CommandRunner, Executor, ProcessRunner,
};
use drbd_reactor_promoter::shell::{run, Context};
use drbd_reactor_promoter::status::PromoterStatus;
use drbd_reactor_promoter::write::UnitDir;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

struct ShOnly;

impl CommandRunner for ShOnly {
    fn run(&self, cmd: CommandLine) -> BoxFuture<CommandOutput> {
        if cmd.program == "sh" {
            return ProcessRunner.run(cmd);
        }
        let out = if cmd.program == "drbdsetup" {
            CommandOutput::code(
                0,
                r#"[{"resource":"r0","options":{"auto-promote":false,"quorum":"majority"}}]"#,
            )
        } else {
            CommandOutput::code(0, "")
        };
        Box::pin(async move { out })
    }
}

async fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_list_runs_on_may_promote_and_stop_list_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let cfg = ResourceConfig {
        runner: Runner::Shell,
        start: vec![
            format!("touch {d}/promoted"),
            format!("echo up > {d}/service"),
        ],
        stop: vec![format!("rm {d}/service"), format!("touch {d}/demoted")],
        stop_services_on_exit: true,
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    };
    let config = PromoterConfig {
        id: None,
        resources: [("r0".to_string(), cfg)].into(),
    };
    let units = UnitDir {
        root: dir.path().join("system"),
        manifests: dir.path().join("m"),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let (status_tx, _status) = watch::channel(PromoterStatus::default());
    let ctx = Context {
        executor: Executor::new(Arc::new(ShOnly), units),
        node_name: Some("alpha".into()),
        status: status_tx,
        query_unit_states: false,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(config, rx, ctx, async move {
        let _ = stopped.await;
    }));
    let mut v = secondary();
    v.may_promote = true;
    tx.send(PluginUpdate::Object(update(
        v.resource("r0"),
        EventType::Exists,
    )))
    .unwrap();
    wait_for(&dir.path().join("service")).await;
    assert!(dir.path().join("promoted").exists());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(!dir.path().join("service").exists());
    assert!(dir.path().join("demoted").exists());
    assert!(
        !dir.path().join("system").exists(),
        "the shell runner writes no drop-ins"
    );
}
