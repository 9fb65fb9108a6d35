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

/// The shell runner of one instance with resource r0 (`cfg`), units under `dir`, told that
/// r0 exists as a Secondary that may promote.
struct Running {
    tx: mpsc::UnboundedSender<PluginUpdate>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), drbd_reactor_promoter::PromoterError>>,
    /// r0's state as last sent.
    v: View,
}

fn start_r0(dir: &Path, cfg: ResourceConfig) -> Running {
    let config = PromoterConfig {
        id: None,
        resources: [("r0".to_string(), cfg)].into(),
    };
    let units = UnitDir {
        root: dir.join("system"),
        manifests: dir.join("m"),
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
    Running { tx, stop, task, v }
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
    let Running {
        tx: _tx,
        stop,
        task,
        ..
    } = start_r0(dir.path(), cfg);
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

/// Whether `pid` is gone (or a zombie nobody reaped yet: it runs nothing either way).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.trim_start().chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
    }
}

/// The live processes (not zombies) of process group `pgid`.
fn group_members(pgid: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // after "pid (comm) ": state ppid pgrp ...
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            fields.get(2) == Some(&pgid) && !matches!(fields.first(), Some(&"Z") | Some(&"X"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_decided_during_a_slow_shell_start_ends_it_so_its_later_commands_never_run() {
    use drbd::vocab::Role;
    use drbd_reactor_promoter::config::QuorumLoss;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let cfg = ResourceConfig {
        runner: Runner::Shell,
        // The service comes up only after a slow step (seed 794 of the real-mode campaign).
        // 300 s: only a start that is killed lets the stop run within the test's deadlines.
        start: vec![format!("echo $$ > {d}/pid; sleep 300; touch {d}/service")],
        stop: vec![format!("rm -f {d}/service"), format!("touch {d}/stopped")],
        on_quorum_loss: QuorumLoss::Shutdown,
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    };
    let Running {
        tx,
        stop,
        task,
        mut v,
    } = start_r0(dir.path(), cfg);
    let pid_file = dir.path().join("pid");
    wait_for(&pid_file).await;
    // Promoted, then quorum lost while the start still sleeps: the stop is decided.
    v.role = Role::Primary;
    v.may_promote = false;
    v.quorum = false;
    tx.send(PluginUpdate::Object(update(
        v.resource("r0"),
        EventType::Change,
    )))
    .unwrap();
    wait_for(&dir.path().join("stopped")).await;
    // The start's shell is gone long before its sleep would have ended: it was killed, not
    // waited for (a start left running would touch the service after the stop).
    let pid = loop {
        let p = std::fs::read_to_string(&pid_file).unwrap();
        if p.ends_with('\n') {
            break p.trim().to_string();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(&pid) || !group_members(&pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the start's shell {pid} or its group {:?} runs on",
            group_members(&pid)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !dir.path().join("service").exists(),
        "the cancelled start brought the service up after the stop"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(!dir.path().join("service").exists());
}
