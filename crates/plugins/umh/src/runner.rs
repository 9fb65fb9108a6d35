//! Runs the commands of matched rules: `sh -c COMMAND` with exactly the environment the
//! matcher built, stdin from /dev/null, in its own process group, at most `max_concurrent` at
//! once (the rest wait in arrival order), killed with its whole group at the rule's timeout.
//! Every output line (bytes, decoded lossily, capped per line and per run) and the exit status
//! are logged with the rule's name. On stop, running commands get their own timeout (or
//! [`Runner::stop`]'s grace when they have none) and are then killed with their group.
//!
//! Must never: pass DRBD values through the shell's text (only through the environment),
//! block the caller (submission only queues), stop reading a command's output early (it would
//! die of SIGPIPE), keep unbounded output or an unbounded queue (past [`MAX_WAITING`] commands
//! are dropped, counted and logged), or leave a command running after stop returned.

use crate::matcher::Invocation;
use drbd_reactor_process::{
    command_in_path, read_lines, spawn_group, LineLimit, OutputStats, Waited, REAP_GRACE,
};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinSet;

/// What is logged of one stream of one run: longer lines are cut, later lines counted only.
pub const OUTPUT_LIMIT: LineLimit = LineLimit {
    max_line_bytes: 4096,
    max_lines: Some(1000),
};

const TARGET: &str = "drbd_reactor::plugin::umh";

/// Commands of one `[[umh]]` instance that may wait for a free slot (`max-concurrent`). Past
/// it a match is dropped: handlers that hang (on suspended I/O, without a timeout) would
/// otherwise pile up every later command, hours late and without bound.
pub const MAX_WAITING: usize = 1024;

/// What the runner did, for the self-metrics.
#[derive(Debug, Default)]
pub struct RunCounters {
    /// Commands whose `sh` started.
    pub runs: Arc<AtomicU64>,
    pub failures: Arc<AtomicU64>,
    pub timeouts: Arc<AtomicU64>,
    /// Matches not run: [`MAX_WAITING`] commands were already waiting for a slot.
    pub dropped: Arc<AtomicU64>,
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
    /// Still running when the plugin stopped and its grace ran out: killed with its group.
    KilledAtStop,
}

pub struct Runner {
    limit: Option<Arc<Semaphore>>,
    /// Under a limit: ends when the command submitted last has its slot (or gave up waiting).
    /// The next one asks for a slot only then, so slots go in submission order: each command
    /// is a task, and a runtime polls tasks in no promised order.
    last_turn: Option<oneshot::Receiver<()>>,
    tasks: JoinSet<Outcome>,
    pub counters: Arc<RunCounters>,
    /// Commands waiting for a slot now.
    waiting: Arc<AtomicUsize>,
    /// Matches dropped since the queue was last below [`MAX_WAITING`].
    dropped_in_a_row: u64,
    max_concurrent: Option<usize>,
    /// Turns to `Some(grace)` when the runner stops.
    stopping: watch::Sender<Option<Duration>>,
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
            last_turn: None,
            tasks: JoinSet::new(),
            counters,
            waiting: Arc::default(),
            dropped_in_a_row: 0,
            max_concurrent,
            stopping: watch::channel(None).0,
        }
    }

    /// Queues a command; it starts as soon as the concurrency limit allows. Dropped (counted,
    /// logged once per episode) when [`MAX_WAITING`] commands are waiting already.
    pub fn submit(&mut self, invocation: Invocation) {
        if self.limit.is_some() && self.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            if self.dropped_in_a_row == 0 {
                log::warn!(target: TARGET, "rule '{}': not run: {MAX_WAITING} commands are waiting for a free slot (max-concurrent = {}; commands without 'timeout' may hang); matches are dropped until one starts (drbdreactor_umh_dropped_total)", invocation.rule_name, self.max_concurrent.unwrap_or_default());
            }
            self.dropped_in_a_row += 1;
            return;
        }
        if self.dropped_in_a_row > 0 {
            log::warn!(target: TARGET, "{} matches were dropped while the queue was full; running commands again", self.dropped_in_a_row);
            self.dropped_in_a_row = 0;
        }
        let limit = self.limit.clone();
        let counters = Arc::clone(&self.counters);
        let mut stopping = self.stopping.subscribe();
        // This command's turn to ask for a slot comes when the previous one's has passed;
        // dropping `turn_done` (slot taken, or stopped while waiting) hands the turn on.
        let (previous_turn, turn_done) = match &limit {
            Some(_) => {
                let (done, next) = oneshot::channel::<()>();
                (self.last_turn.replace(next), Some(done))
            }
            None => (None, None),
        };
        let waiting = Arc::clone(&self.waiting);
        if limit.is_some() {
            waiting.fetch_add(1, Ordering::Relaxed);
        }
        self.tasks.spawn(async move {
            let turn_done = turn_done;
            // Leaves the waiting count when the slot is taken or the wait given up.
            let in_queue = limit.is_some().then(|| WaitingGuard(Arc::clone(&waiting)));
            let _permit = match &limit {
                // Biased, the stop first: a slot freed in the same moment as the stop must not
                // start a command after the stop began (its run would outlast the deadline).
                Some(s) => tokio::select! {
                    biased;
                    _ = async { let _stopped = stopping.wait_for(Option::is_some).await.is_ok(); } => {
                        log::warn!(target: TARGET, "rule '{}': not started, the plugin stopped while it waited for a free slot", invocation.rule_name);
                        return Outcome::KilledAtStop;
                    }
                    permit = async {
                        if let Some(previous) = previous_turn {
                            let _ = previous.await;
                        }
                        s.clone().acquire_owned().await
                    } => Some(permit.expect("never closed")),
                },
                None => None,
            };
            drop(turn_done);
            drop(in_queue);
            let started = || {
                counters.runs.fetch_add(1, Ordering::Relaxed);
            };
            let outcome = run_until_stopped(&invocation, stopping, started)
                .await
                .outcome;
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

    /// Commands queued or running.
    pub fn pending(&self) -> usize {
        self.tasks.len()
    }

    /// Commands waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Stops: commands waiting for a slot are not started; running ones end on their own or
    /// at their timeout, and those without a timeout are killed with their group after
    /// `grace`. Returns when none is left.
    pub async fn stop(&mut self, grace: Duration) {
        while self.tasks.try_join_next().is_some() {}
        let n = self.tasks.len();
        if n > 0 {
            log::info!(target: TARGET, "stopping: waiting for {n} commands to end (each up to its timeout; those without one are killed after {grace:?})");
        }
        self.stopping.send_replace(Some(grace));
        let mut killed = 0;
        while let Some(outcome) = self.tasks.join_next().await {
            killed += usize::from(matches!(outcome, Ok(Outcome::KilledAtStop)));
        }
        if n > 0 {
            log::info!(target: TARGET, "stopped: {n} commands ended, {killed} of them killed or not started because the plugin stopped");
        }
    }
}

async fn log_lines(
    rule: String,
    stream: &'static str,
    out: impl tokio::io::AsyncRead + Unpin,
) -> OutputStats {
    let stats = read_lines(out, OUTPUT_LIMIT, |line| {
        log::info!(target: TARGET, "rule '{rule}': {stream}: {line}");
    })
    .await;
    if stats.lines_dropped > 0 || stats.lines_truncated > 0 {
        log::warn!(
            target: TARGET,
            "rule '{rule}': {stream}: {} lines not logged and {} lines cut ({} bytes dropped in all): a run logs at most {} lines of {} bytes",
            stats.lines_dropped,
            stats.lines_truncated,
            stats.bytes_dropped,
            OUTPUT_LIMIT.max_lines.unwrap_or(u64::MAX),
            OUTPUT_LIMIT.max_line_bytes
        );
    }
    stats
}

/// Counts a command out of the waiting ones when dropped.
struct WaitingGuard(Arc<AtomicUsize>);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs one command to its end or its timeout.
pub async fn run(inv: &Invocation) -> RunReport {
    run_until_stopped(inv, watch::channel(None).1, || {}).await
}

/// Waits until `stopping` says so, then for its grace.
async fn grace_after_stop(stopping: &mut watch::Receiver<Option<Duration>>) {
    let grace = stopping
        .wait_for(Option::is_some)
        .await
        .map(|g| g.unwrap_or_default());
    let Ok(grace) = grace else {
        return std::future::pending().await;
    };
    tokio::time::sleep(grace).await;
}

/// Runs one command to its end, its timeout, or (without a timeout) the stop's grace.
async fn run_until_stopped(
    inv: &Invocation,
    mut stopping: watch::Receiver<Option<Duration>>,
    started: impl FnOnce(),
) -> RunReport {
    // `sh` looked up in the command's own PATH by us, so std spawns with posix_spawn (vfork)
    // rather than fork: see drbd_reactor_process::program.
    let mut cmd = match inv.env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, path)) => command_in_path("sh", path),
        None => Command::new("sh"),
    };
    cmd.arg("-c")
        .arg(&inv.command)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Logged once the shell runs: the line's formatting and write are not on the way to it.
    let mut child = match spawn_group(&mut cmd, Default::default()) {
        Ok(c) => {
            started();
            log::info!(target: TARGET, "rule '{}': running {} (pid {})", inv.rule_name, inv.command, c.pid());
            c
        }
        Err(e) => {
            log::warn!(target: TARGET, "rule '{}': cannot start sh: {e}", inv.rule_name);
            return RunReport {
                outcome: Outcome::SpawnFailed(e.to_string()),
                started_at: None,
            };
        }
    };
    let started_at = Some(std::time::Instant::now());
    let out = tokio::spawn(log_lines(
        inv.rule_name.clone(),
        "stdout",
        child.take_stdout().expect("piped"),
    ));
    let err = tokio::spawn(log_lines(
        inv.rule_name.clone(),
        "stderr",
        child.take_stderr().expect("piped"),
    ));
    let timeout = inv.timeout_secs.map(Duration::from_secs);
    // None: killed because the plugin stopped.
    let waited = tokio::select! {
        w = child.wait_timeout(timeout) => Some(w),
        _ = grace_after_stop(&mut stopping), if timeout.is_none() => {
            child.kill_group();
            // A process asleep in the kernel (I/O suspended) dies only when it wakes: the stop
            // does not wait for it longer than a killed command's usual grace.
            let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
            log::warn!(target: TARGET, "rule '{}': killed with its process group: still running when the plugin stopped (a rule without 'timeout')", inv.rule_name);
            None
        }
    };
    let outcome = match waited {
        None => Outcome::KilledAtStop,
        Some(Ok(Waited::Exited(status))) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(c), _) => Outcome::Exited(c),
                (None, Some(s)) => Outcome::Signaled(s),
                (None, None) => Outcome::Exited(-1),
            }
        }
        Some(Ok(Waited::TimedOut)) => Outcome::TimedOut,
        Some(Err(e)) => Outcome::SpawnFailed(e.to_string()),
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
        Outcome::KilledAtStop => {}
    }
    RunReport {
        outcome,
        started_at,
    }
}
