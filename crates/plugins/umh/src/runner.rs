//! Runs the commands of matched rules: `sh -c COMMAND` with exactly the environment the
//! matcher built, stdin from /dev/null, in its own process group, at most `max_concurrent` at
//! once (the rest wait in arrival order), killed with its whole group at the rule's timeout.
//! Every output line and the exit status are logged with the rule's name.
//!
//! Must never: pass DRBD values through the shell's text (only through the environment),
//! block the caller (submission only queues), or lose a queued command.

use crate::matcher::Invocation;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const TARGET: &str = "drbd_reactor::plugin::umh";

/// What the runner did, for the self-metrics.
#[derive(Debug, Default)]
pub struct RunCounters {
    pub runs: AtomicU64,
    pub failures: AtomicU64,
    pub timeouts: AtomicU64,
}

/// How one command ended, and when its process started.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcome: Outcome,
    /// When `sh` was running (spawn returns after the exec); `None` if it could not start.
    pub started_at: Option<std::time::Instant>,
}

/// How one command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
    SpawnFailed(String),
}

pub struct Runner {
    limit: Option<Arc<Semaphore>>,
    tasks: JoinSet<Outcome>,
    pub counters: Arc<RunCounters>,
}

impl Runner {
    /// `max_concurrent`: `None` runs every command at once (the original's behaviour).
    pub fn new(max_concurrent: Option<usize>) -> Self {
        Self::with_counters(max_concurrent, Arc::default())
    }

    /// A runner that counts into `counters` (shared with the daemon's self-metrics).
    pub fn with_counters(max_concurrent: Option<usize>, counters: Arc<RunCounters>) -> Self {
        Runner {
            limit: max_concurrent.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            tasks: JoinSet::new(),
            counters,
        }
    }

    /// Queues a command; it starts as soon as the concurrency limit allows.
    pub fn submit(&mut self, invocation: Invocation) {
        let limit = self.limit.clone();
        let counters = Arc::clone(&self.counters);
        self.tasks.spawn(async move {
            let _permit = match &limit {
                Some(s) => Some(s.clone().acquire_owned().await.expect("never closed")),
                None => None,
            };
            let outcome = run(&invocation).await.outcome;
            counters.runs.fetch_add(1, Ordering::Relaxed);
            match &outcome {
                Outcome::Exited(0) => {}
                Outcome::TimedOut => {
                    counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            outcome
        });
        // Reap finished tasks so the set does not grow with history.
        while let Some(Some(_)) = self.tasks.try_join_next().map(Some) {}
    }

    /// Waits until every queued command has ended.
    pub async fn drain(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn log_lines(rule: String, stream: &'static str, out: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log::info!(target: TARGET, "rule '{rule}': {stream}: {line}");
    }
}

/// Runs one command to its end or its timeout.
pub async fn run(inv: &Invocation) -> RunReport {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(&inv.command)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    log::info!(target: TARGET, "rule '{}': running {}", inv.rule_name, inv.command);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            log::warn!(target: TARGET, "rule '{}': cannot start sh: {e}", inv.rule_name);
            return RunReport {
                outcome: Outcome::SpawnFailed(e.to_string()),
                started_at: None,
            };
        }
    };
    let started_at = Some(std::time::Instant::now());
    let pgid = child.id();
    let out = tokio::spawn(log_lines(
        inv.rule_name.clone(),
        "stdout",
        child.stdout.take().expect("piped"),
    ));
    let err = tokio::spawn(log_lines(
        inv.rule_name.clone(),
        "stderr",
        child.stderr.take().expect("piped"),
    ));
    let waited = match inv.timeout_secs {
        Some(secs) => tokio::time::timeout(Duration::from_secs(secs), child.wait()).await,
        None => Ok(child.wait().await),
    };
    let outcome = match waited {
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(c), _) => Outcome::Exited(c),
                (None, Some(s)) => Outcome::Signaled(s),
                (None, None) => Outcome::Exited(-1),
            }
        }
        Ok(Err(e)) => Outcome::SpawnFailed(e.to_string()),
        Err(_) => {
            if let Some(pgid) = pgid {
                // The whole group: the shell and whatever it started.
                // SAFETY: kill(2) with a negative pid signals a process group; no memory involved.
                unsafe {
                    libc::kill(-(pgid as i32), libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            Outcome::TimedOut
        }
    };
    // Output of killed groups ends when its writers are gone.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = out.await;
        let _ = err.await;
    })
    .await;
    match &outcome {
        Outcome::Exited(0) => {
            log::info!(target: TARGET, "rule '{}': exited 0", inv.rule_name)
        }
        Outcome::Exited(c) => {
            log::warn!(target: TARGET, "rule '{}': exited {c}", inv.rule_name)
        }
        Outcome::Signaled(s) => {
            log::warn!(target: TARGET, "rule '{}': killed by signal {s}", inv.rule_name)
        }
        Outcome::TimedOut => log::warn!(
            target: TARGET,
            "rule '{}': killed after its timeout of {} s",
            inv.rule_name,
            inv.timeout_secs.unwrap_or_default()
        ),
        Outcome::SpawnFailed(e) => {
            log::warn!(target: TARGET, "rule '{}': {e}", inv.rule_name)
        }
    }
    RunReport {
        outcome,
        started_at,
    }
}
