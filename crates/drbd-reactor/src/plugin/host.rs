//! The plugin host: runs every instance as its own task under supervision, and never makes the
//! core wait for one.
//!
//! * Each run of a change plugin gets the current state replayed as `Exists`, then live
//!   updates through a bounded queue; updates are shared `Arc`s, never cloned per plugin.
//!   State readers get the reader end of the snapshot cell instead (they ask, the core
//!   answers between batches).
//! * A run that panics, fails or ends on its own is logged and restarted alone with backoff;
//!   a run that reports a configuration error is not restarted until a reload changes it.
//! * A run whose queue is full (it fell behind) gets no more updates; once it has drained
//!   what it has, it is restarted with a fresh replay. The lag is logged and counted. An
//!   instance that falls behind again and again waits longer and longer before its replay.
//! * Stopping (reload, shutdown) happens in a task per instance, bounded by that instance's
//!   own stop deadline; the core goes on applying lines meanwhile. A new instance of a serial
//!   plugin type ([`drbd_reactor_plugin::Plugin::SERIAL`]) starts only after every stopping
//!   instance of that type has stopped, so an old and a new promoter never act on the same
//!   resource at once.
//!
//! Must never: await a plugin on the core (every method but [`Host::shutdown`] is
//! synchronous), or run two runs of one instance at once.

use super::{Configured, TARGET};
use drbd::State;
use drbd_reactor_config::{Origin, PluginKind};
use drbd_reactor_plugin::{
    snapshot_channel, AnyPlugin, Input, PluginContext, PluginError, SelfMetrics, SnapshotPublisher,
    UpdateBatch, Updates, VersionsService,
};
use drbd_reactor_process::Backoff;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};

/// Default bound of queued update batches per plugin run (a batch holds the updates of at
/// most one reader batch of lines, usually far fewer).
pub const QUEUE_CAPACITY: usize = 64;
const FIRST_RESTART_DELAY: Duration = Duration::from_millis(100);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(30);
/// A run that lived this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// The delay before the second resynchronisation in a row of an instance that fell behind
/// (the first is at once); it doubles with each further one up to [`MAX_RESTART_DELAY`].
/// Without it a plugin that stays slower than the events looped fill, cut off, drain, full
/// replay, with two warnings per cycle. The updates meanwhile are counted as dropped.
const FIRST_RESYNC_DELAY: Duration = Duration::from_secs(1);
/// A run that kept up this long before it fell behind starts the resynchronisations over.
const KEPT_UP: Duration = HEALTHY_RUN;

/// What the host reports back to the core (which owns the host and the state).
#[derive(Debug)]
pub enum HostEvent {
    Ended {
        instance: u64,
        run: u64,
        outcome: Outcome,
    },
    RestartDue {
        instance: u64,
    },
    /// A stopping instance has stopped (or was cancelled at its deadline).
    Stopped {
        instance: u64,
    },
}

#[derive(Debug)]
pub enum Outcome {
    Finished,
    Failed(PluginError),
    Panicked(String),
}

/// A run in progress.
struct Run {
    run: u64,
    /// The update queue; `None` for state readers and once cut off for lag.
    tx: Option<mpsc::Sender<UpdateBatch>>,
    shutdown: watch::Sender<bool>,
    wrapper: JoinHandle<()>,
    abort: AbortHandle,
    since: Instant,
}

enum RunState {
    Running(Run),
    /// Fell behind: queue closed, waiting for the run to drain and end.
    Draining {
        run: Run,
        lag: u64,
        /// How long the run kept up before it fell behind.
        kept_up: Duration,
    },
    /// Failed, or fell behind again and waits before its resynchronisation; a RestartDue
    /// will come.
    Waiting,
    /// New; starts once the stopping instances of its type have stopped.
    Pending,
    /// Its configuration cannot work; tried again at the next reload.
    Broken,
}

struct Instance {
    id: u64,
    config: Arc<dyn AnyPlugin>,
    origin: Origin,
    state: RunState,
    backoff: Backoff,
    /// Resynchronisations in a row (runs that fell behind without having kept up for
    /// [`KEPT_UP`] first) and the delay before the next one.
    resyncs: u32,
    resync_backoff: Backoff,
}

impl Instance {
    fn new(id: u64, configured: Configured) -> Self {
        Instance {
            id,
            config: configured.config,
            origin: configured.origin,
            state: RunState::Pending,
            backoff: Backoff::new(FIRST_RESTART_DELAY, MAX_RESTART_DELAY, HEALTHY_RUN),
            resyncs: 0,
            resync_backoff: Backoff::new(FIRST_RESYNC_DELAY, MAX_RESTART_DELAY, KEPT_UP),
        }
    }

    /// The delay before the resynchronisation of a run that kept up for `kept_up` and then
    /// fell behind: none for the first in a row, then growing.
    fn resync_delay(&mut self, kept_up: Duration) -> Duration {
        if kept_up >= KEPT_UP {
            self.resyncs = 0;
            self.resync_backoff.reset();
        }
        self.resyncs = self.resyncs.saturating_add(1);
        if self.resyncs == 1 {
            Duration::ZERO
        } else {
            self.resync_backoff.next_delay()
        }
    }
}

/// An instance being stopped in its own task.
struct Stopping {
    id: u64,
    kind: PluginKind,
    task: JoinHandle<()>,
    /// When it was told to stop, and its stop deadline from then (then it is cancelled); a
    /// duration, not an instant: a deadline of "forever" must not overflow an `Instant`.
    told: Instant,
    deadline: Duration,
}

pub struct Host {
    instances: Vec<Instance>,
    stopping: Vec<Stopping>,
    next_id: u64,
    events: mpsc::UnboundedSender<HostEvent>,
    snapshots: SnapshotPublisher,
    metrics: Arc<SelfMetrics>,
    restarts: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    versions: VersionsService,
    capacity: usize,
}

fn describe(c: &dyn AnyPlugin, origin: &Origin) -> String {
    format!("[[{}]] ({origin})", c.kind())
}

impl Host {
    pub fn new(
        events: mpsc::UnboundedSender<HostEvent>,
        metrics: Arc<SelfMetrics>,
        capacity: usize,
    ) -> Self {
        let (snapshots, _) = snapshot_channel();
        let restarts = metrics.counter(
            "drbdreactor_plugin_restarts_total",
            "Number of plugin instances restarted after a failure",
        );
        let dropped = metrics.counter(
            "drbdreactor_plugin_updates_dropped_total",
            "Number of updates not delivered to a plugin that fell behind (it was resynchronised instead)",
        );
        Host {
            instances: Vec::new(),
            stopping: Vec::new(),
            next_id: 0,
            events,
            snapshots,
            metrics,
            restarts,
            dropped,
            versions: VersionsService::default(),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Instances still stopping after a reload.
    pub fn stopping(&self) -> usize {
        self.stopping.len()
    }

    /// The state changed: state readers ask for the next snapshot when they need one. The
    /// snapshot kept for them (the previous state) is dropped here, so the state's resources
    /// are the core's alone again.
    pub fn state_changed(&mut self) {
        drop(self.snapshots.changed());
    }

    /// Resolves when a state reader asked for a snapshot of the current state.
    pub async fn snapshot_asked(&self) {
        self.snapshots.asked().await
    }

    /// Answers a state reader that waits for a snapshot of the current state (nothing if
    /// none waits).
    pub fn answer_snapshot(&mut self, state: &State) {
        if self.snapshots.wanted() {
            self.snapshots.publish(state.snapshot());
        }
    }

    /// The generation of the state as readers see it.
    pub fn snapshot_generation(&self) -> u64 {
        self.snapshots.generation()
    }

    /// The running instances' configs, in running order.
    /// The configurations of the instances that run or will (SIGUSR1's dump): one that refused
    /// its configuration is not running and not dumped (daemon spec §8).
    pub fn configs(&self) -> impl Iterator<Item = &Arc<dyn AnyPlugin>> {
        self.instances
            .iter()
            .filter(|i| !matches!(i.state, RunState::Broken))
            .map(|i| &i.config)
    }

    fn start_run(&mut self, index: usize, state: &State) {
        self.next_id += 1;
        let run = self.next_id;
        let input = self.instances[index].config.input();
        let (tx, rx) = mpsc::channel(self.capacity);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (updates, tx, snapshots) = match input {
            Input::Updates => {
                let replay = state.resources().cloned().collect();
                (Updates::new(replay, rx), Some(tx), None)
            }
            Input::State => (Updates::none(rx), None, Some(self.snapshots.subscribe())),
        };
        let ctx = PluginContext {
            updates,
            snapshots,
            metrics: Arc::clone(&self.metrics),
            versions: self.versions.clone(),
            shutdown: shutdown_rx,
        };
        let inst = &mut self.instances[index];
        log::debug!(target: TARGET, "starting plugin {}", describe(&*inst.config, &inst.origin));
        let inner = tokio::spawn(inst.config.run(ctx));
        let abort = inner.abort_handle();
        let events = self.events.clone();
        let instance = inst.id;
        let wrapper = tokio::spawn(async move {
            let outcome = match inner.await {
                Ok(Ok(())) => Outcome::Finished,
                Ok(Err(err)) => Outcome::Failed(err),
                Err(err) if err.is_panic() => Outcome::Panicked(panic_message(err.into_panic())),
                Err(_) => Outcome::Failed(PluginError::Failed("cancelled".into())),
            };
            let _ = events.send(HostEvent::Ended {
                instance,
                run,
                outcome,
            });
        });
        inst.state = RunState::Running(Run {
            run,
            tx,
            shutdown,
            wrapper,
            abort,
            since: Instant::now(),
        });
    }

    /// Adds an instance; it starts at once (with `state` replayed) unless its type is serial
    /// and instances of it are still stopping.
    pub fn start(&mut self, configured: Configured, state: &State) {
        self.next_id += 1;
        self.instances.push(Instance::new(self.next_id, configured));
        self.start_pending(state);
    }

    /// Starts the pending instances whose type has nothing stopping any more.
    fn start_pending(&mut self, state: &State) {
        for index in 0..self.instances.len() {
            let inst = &self.instances[index];
            if !matches!(inst.state, RunState::Pending) {
                continue;
            }
            let kind = inst.config.kind();
            let waits_for = inst
                .config
                .serial()
                .then(|| self.stopping.iter().find(|s| s.kind == kind));
            if let Some(s) = waits_for.flatten() {
                log::info!(
                    target: TARGET,
                    "plugin {} waits for the previous [[{kind}]] instance (id {}) to stop before it starts",
                    describe(&*inst.config, &inst.origin),
                    s.id
                );
                continue;
            }
            self.start_run(index, state);
        }
    }

    /// Queues `updates` for every running change plugin; never waits.
    pub fn dispatch(&mut self, updates: &UpdateBatch) {
        if updates.is_empty() {
            return;
        }
        let n = updates.len() as u64;
        for inst in &mut self.instances {
            let run = match &mut inst.state {
                RunState::Running(run) => run,
                RunState::Draining { lag, .. } => {
                    *lag += n;
                    self.dropped.fetch_add(n, Ordering::Relaxed);
                    continue;
                }
                // Waiting out its restart delay: these updates never reach it (counted); the
                // replay at its restart gives it the state, not the changes.
                RunState::Waiting => {
                    self.dropped.fetch_add(n, Ordering::Relaxed);
                    continue;
                }
                // Pending gets the replay when its predecessor has stopped; Broken does not
                // run until a reload.
                RunState::Pending | RunState::Broken => continue,
            };
            let Some(tx) = &run.tx else { continue };
            match tx.try_send(Arc::clone(updates)) {
                // A closed queue: the run ended on its own; its Ended event is on its way.
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => continue,
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
            self.dropped.fetch_add(n, Ordering::Relaxed);
            if let RunState::Running(mut run) =
                std::mem::replace(&mut inst.state, RunState::Waiting)
            {
                log::warn!(
                    target: TARGET,
                    "plugin {} fell behind: its queue of {} update batches is full, {n} updates not delivered; it is resynchronised with the current state once it has drained its queue",
                    describe(&*inst.config, &inst.origin),
                    self.capacity
                );
                run.tx = None;
                let kept_up = run.since.elapsed();
                inst.state = RunState::Draining {
                    run,
                    lag: n,
                    kept_up,
                };
            }
        }
    }

    /// Handles a report of a run, a backoff timer or a finished stop.
    pub fn handle(&mut self, event: HostEvent, state: &State) {
        match event {
            HostEvent::Ended {
                instance,
                run,
                outcome,
            } => self.ended(instance, run, outcome, state),
            HostEvent::RestartDue { instance } => {
                if let Some(index) = self.instances.iter().position(|i| i.id == instance) {
                    if matches!(self.instances[index].state, RunState::Waiting) {
                        self.restarts.fetch_add(1, Ordering::Relaxed);
                        self.start_run(index, state);
                    }
                }
            }
            HostEvent::Stopped { instance } => {
                self.stopping.retain(|s| s.id != instance);
                self.start_pending(state);
            }
        }
    }

    fn ended(&mut self, instance: u64, run: u64, outcome: Outcome, state: &State) {
        let Some(index) = self.instances.iter().position(|i| i.id == instance) else {
            return; // an instance we stopped
        };
        let inst = &mut self.instances[index];
        let what = describe(&*inst.config, &inst.origin);
        match &inst.state {
            RunState::Draining {
                run: r,
                lag,
                kept_up,
            } if r.run == run => {
                let lag = *lag;
                let delay = if inst.config.resync_at_once() {
                    Duration::ZERO
                } else {
                    inst.resync_delay(*kept_up)
                };
                if delay.is_zero() {
                    log::warn!(target: TARGET, "plugin {what} drained its queue after missing {lag} updates; restarting it with the current state");
                    self.restarts.fetch_add(1, Ordering::Relaxed);
                    self.start_run(index, state);
                } else {
                    log::warn!(target: TARGET, "plugin {what} drained its queue after missing {lag} updates; it fell behind {} times in a row, so it is restarted with the current state in {delay:?} (the updates until then are not delivered)", inst.resyncs);
                    inst.state = RunState::Waiting;
                    self.restart_in(delay, instance);
                }
            }
            RunState::Running(r) if r.run == run => {
                let why = match outcome {
                    Outcome::Failed(PluginError::Config(e)) => {
                        log::error!(target: TARGET, "plugin {what} cannot run with its configuration: {e}; not restarting it until the next reload");
                        inst.state = RunState::Broken;
                        return;
                    }
                    Outcome::Finished => "ended on its own".to_string(),
                    Outcome::Failed(e) => format!("failed: {e}"),
                    Outcome::Panicked(m) => format!("panicked: {m}"),
                };
                let delay = inst.backoff.after_run(r.since, Instant::now());
                log::error!(target: TARGET, "plugin {what} {why}; restarting it alone in {delay:?} (failure {} in a row)", inst.backoff.failures());
                inst.state = RunState::Waiting;
                self.restart_in(delay, instance);
            }
            _ => {} // a run we replaced
        }
    }

    /// Reports `RestartDue` for `instance` (now in [`RunState::Waiting`]) after `delay`.
    fn restart_in(&self, delay: Duration, instance: u64) {
        let events = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(HostEvent::RestartDue { instance });
        });
    }

    /// Tells `inst` to stop and lets a task wait for it, up to its stop deadline.
    fn retire(&mut self, inst: Instance) {
        let what = describe(&*inst.config, &inst.origin);
        let run = match inst.state {
            RunState::Running(run) | RunState::Draining { run, .. } => run,
            RunState::Waiting | RunState::Pending | RunState::Broken => {
                log::debug!(target: TARGET, "removed plugin {what} (not running)");
                return;
            }
        };
        let deadline = inst.config.stop_deadline();
        log::debug!(target: TARGET, "stopping plugin {what} (deadline {deadline:?})");
        let Run {
            tx,
            shutdown,
            mut wrapper,
            abort,
            ..
        } = run;
        // Shutdown first: a run whose updates end while it is still false takes that for a
        // resynchronisation, not a stop (plugin contract).
        let _ = shutdown.send(true);
        drop(tx);
        let events = self.events.clone();
        let id = inst.id;
        let task = tokio::spawn(async move {
            let started = Instant::now();
            if tokio::time::timeout(deadline, &mut wrapper).await.is_err() {
                log::warn!(target: TARGET, "plugin {what} did not stop within its deadline of {deadline:?}; cancelled");
                abort.abort();
                let _ = wrapper.await;
            } else {
                log::debug!(target: TARGET, "plugin {what} stopped after {:?}", started.elapsed());
            }
            drop(shutdown);
            let _ = events.send(HostEvent::Stopped { instance: id });
        });
        self.stopping.push(Stopping {
            id,
            kind: inst.config.kind(),
            task,
            told: Instant::now(),
            deadline,
        });
    }

    /// Makes the running set equal to `desired` without waiting: unchanged instances keep
    /// running untouched, removed and changed ones stop in their own tasks, new ones start
    /// (after the stopping instances of their type). Returns (kept, stopped, started).
    pub fn reconfigure(
        &mut self,
        desired: Vec<Configured>,
        state: &State,
    ) -> (usize, usize, usize) {
        let mut remaining: Vec<Option<Instance>> = std::mem::take(&mut self.instances)
            .into_iter()
            .map(Some)
            .collect();
        let mut keep: Vec<Option<Instance>> = Vec::new();
        for d in &desired {
            let found = remaining
                .iter_mut()
                .find(|slot| slot.as_ref().is_some_and(|i| *i.config == *d.config))
                .and_then(Option::take);
            keep.push(found);
        }
        let mut stopped = 0;
        for inst in remaining.into_iter().flatten() {
            stopped += 1;
            self.retire(inst);
        }
        let (mut kept, mut started) = (0, 0);
        for (slot, d) in keep.into_iter().zip(desired) {
            match slot {
                Some(mut inst) => {
                    log::trace!(target: TARGET, "keeping plugin {}", describe(&*inst.config, &inst.origin));
                    inst.origin = d.origin;
                    if matches!(inst.state, RunState::Broken) {
                        // What it refused may lie outside the file (the promoter's version
                        // gate reads the installed drbd-utils): every reload tries again.
                        log::info!(target: TARGET, "trying plugin {} again at this reload", describe(&*inst.config, &inst.origin));
                        inst.state = RunState::Pending;
                    }
                    self.instances.push(inst);
                    kept += 1;
                }
                None => {
                    self.next_id += 1;
                    self.instances.push(Instance::new(self.next_id, d));
                    started += 1;
                }
            }
        }
        self.start_pending(state);
        (kept, stopped, started)
    }

    /// Stops every instance in parallel, each within its own deadline, and waits until all
    /// have stopped (the ones still stopping from a reload included). `stopping_within` is
    /// told, before the wait, how long it may take at most (the latest deadline from now).
    pub async fn shutdown(&mut self, stopping_within: impl FnOnce(Duration)) {
        for inst in std::mem::take(&mut self.instances) {
            self.retire(inst);
        }
        let latest = self
            .stopping
            .iter()
            .map(|s| s.deadline.saturating_sub(s.told.elapsed()))
            .max()
            .unwrap_or_default();
        stopping_within(latest);
        for s in std::mem::take(&mut self.stopping) {
            let _ = s.task.await;
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
