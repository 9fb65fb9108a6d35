//! The plugin host: runs every instance as its own task under supervision.
//!
//! * Each run gets the current state replayed as `Exists`, then live updates through a
//!   bounded queue. Updates are shared `Arc`s, never cloned per plugin.
//! * A run that panics, fails or ends on its own is logged and restarted alone after a
//!   capped exponential backoff; nothing else notices.
//! * A run whose queue is full (it fell behind) gets no more updates; once it has drained
//!   what it has, it is restarted with a fresh replay. The lag is logged and counted.
//!
//! Must never: block the core on a plugin, or run two runs of one instance at once.

use super::{Configured, PluginConfig, PluginContext, Snapshot, UpdateBatch, Updates, TARGET};
use crate::metrics::DaemonMetrics;
use drbd::State;
use drbd_reactor_config::Origin;
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
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

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
}

#[derive(Debug)]
pub enum Outcome {
    Finished,
    Failed(String),
    Panicked(String),
}

enum RunState {
    Running {
        run: u64,
        tx: mpsc::Sender<UpdateBatch>,
        shutdown: watch::Sender<bool>,
        wrapper: JoinHandle<()>,
        abort: AbortHandle,
        since: Instant,
    },
    /// Fell behind: queue closed, waiting for the run to drain and end.
    Draining {
        run: u64,
        wrapper: JoinHandle<()>,
        abort: AbortHandle,
        lag: u64,
    },
    /// Failed; a RestartDue will come.
    Waiting,
}

struct Instance {
    id: u64,
    config: PluginConfig,
    origin: Origin,
    state: RunState,
    failures: u32,
}

pub struct Host {
    instances: Vec<Instance>,
    next_id: u64,
    events: mpsc::UnboundedSender<HostEvent>,
    snapshots: watch::Sender<Snapshot>,
    metrics: Arc<DaemonMetrics>,
    capacity: usize,
}

pub fn restart_delay(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    (FIRST_RESTART_DELAY * factor).min(MAX_RESTART_DELAY)
}

fn describe(c: &PluginConfig, origin: &Origin) -> String {
    format!("[[{}]] ({origin})", c.kind())
}

impl Host {
    pub fn new(
        events: mpsc::UnboundedSender<HostEvent>,
        metrics: Arc<DaemonMetrics>,
        capacity: usize,
    ) -> Self {
        let (snapshots, _) = watch::channel(Snapshot::default());
        Host {
            instances: Vec::new(),
            next_id: 0,
            events,
            snapshots,
            metrics,
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.instances.len()
    }

    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Publishes the state for state readers, if any is running.
    pub fn publish(&self, state: &State) {
        if self.snapshots.receiver_count() > 0 {
            self.snapshots.send_replace(state.snapshot());
        }
    }

    /// The running instances' configs, in running order.
    pub fn configs(&self) -> impl Iterator<Item = &PluginConfig> {
        self.instances.iter().map(|i| &i.config)
    }

    fn start_run(&mut self, index: usize, state: &State) {
        self.next_id += 1;
        let run = self.next_id;
        let inst = &mut self.instances[index];
        let mut replay = Vec::new();
        if inst.config.wants_updates() {
            state.replay(&mut replay);
        }

        let (tx, rx) = mpsc::channel(self.capacity);
        let (shutdown, shutdown_rx) = watch::channel(false);
        if inst.config.reads_state() {
            self.snapshots.send_replace(state.snapshot());
        }
        let ctx = PluginContext {
            updates: Updates::new(replay, rx),
            snapshots: inst
                .config
                .reads_state()
                .then(|| self.snapshots.subscribe()),
            metrics: Arc::clone(&self.metrics),
            shutdown: shutdown_rx,
        };
        log::debug!(target: TARGET, "starting plugin {}", describe(&inst.config, &inst.origin));
        if inst.config.has_id() {
            log::warn!(target: TARGET, "'id' is deprecated and ignored!");
        }
        let inner = tokio::spawn(inst.config.run(ctx));
        let abort = inner.abort_handle();
        let events = self.events.clone();
        let instance = inst.id;
        let wrapper = tokio::spawn(async move {
            let outcome = match inner.await {
                Ok(Ok(())) => Outcome::Finished,
                Ok(Err(err)) => Outcome::Failed(format!("{err:#}")),
                Err(err) if err.is_panic() => Outcome::Panicked(panic_message(err.into_panic())),
                Err(_) => Outcome::Failed("cancelled".into()),
            };
            let _ = events.send(HostEvent::Ended {
                instance,
                run,
                outcome,
            });
        });
        inst.state = RunState::Running {
            run,
            tx,
            shutdown,
            wrapper,
            abort,
            since: Instant::now(),
        };
    }

    /// Adds and starts an instance; it gets `state` replayed.
    pub fn start(&mut self, configured: Configured, state: &State) {
        self.next_id += 1;
        self.instances.push(Instance {
            id: self.next_id,
            config: configured.config,
            origin: configured.origin,
            state: RunState::Waiting,
            failures: 0,
        });
        self.start_run(self.instances.len() - 1, state);
    }

    /// Queues `updates` for every running instance; never waits.
    pub fn dispatch(&mut self, updates: &UpdateBatch) {
        if updates.is_empty() {
            return;
        }
        let n = updates.len() as u64;
        for inst in &mut self.instances {
            let tx = match &mut inst.state {
                RunState::Running { .. } if !inst.config.wants_updates() => continue,
                RunState::Running { tx, .. } => tx,
                RunState::Draining { lag, .. } => {
                    *lag += n;
                    self.metrics
                        .plugin_updates_dropped
                        .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                RunState::Waiting => continue,
            };
            match tx.try_send(Arc::clone(updates)) {
                // A closed queue: the run ended on its own; its Ended event is on its way.
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => continue,
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
            self.metrics
                .plugin_updates_dropped
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            let old = std::mem::replace(&mut inst.state, RunState::Waiting);
            if let RunState::Running {
                run,
                wrapper,
                abort,
                ..
            } = old
            {
                log::warn!(
                    target: TARGET,
                    "plugin {} fell behind: its queue of {} update batches is full, {n} updates not delivered; it is resynchronised with the current state once it has drained its queue",
                    describe(&inst.config, &inst.origin),
                    self.capacity
                );
                inst.state = RunState::Draining {
                    run,
                    wrapper,
                    abort,
                    lag: n,
                };
            }
        }
    }

    /// Handles a report of a run or a backoff timer.
    pub fn handle(&mut self, event: HostEvent, state: &State) {
        match event {
            HostEvent::Ended {
                instance,
                run,
                outcome,
            } => {
                let Some(index) = self.instances.iter().position(|i| i.id == instance) else {
                    return;
                };
                let inst = &mut self.instances[index];
                let what = describe(&inst.config, &inst.origin);
                match &inst.state {
                    RunState::Draining { run: r, lag, .. } if *r == run => {
                        log::warn!(target: TARGET, "plugin {what} drained its queue after missing {lag} updates; restarting it with the current state");
                        DaemonMetrics::inc(&self.metrics.plugin_restarts);
                        self.start_run(index, state);
                    }
                    RunState::Running { run: r, since, .. } if *r == run => {
                        if since.elapsed() >= HEALTHY_RUN {
                            inst.failures = 0;
                        }
                        inst.failures += 1;
                        let delay = restart_delay(inst.failures);
                        let why = match outcome {
                            Outcome::Finished => "ended on its own".to_string(),
                            Outcome::Failed(e) => format!("failed: {e}"),
                            Outcome::Panicked(m) => format!("panicked: {m}"),
                        };
                        log::error!(target: TARGET, "plugin {what} {why}; restarting it alone in {delay:?} (failure {} in a row)", inst.failures);
                        inst.state = RunState::Waiting;
                        let events = self.events.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = events.send(HostEvent::RestartDue { instance });
                        });
                    }
                    _ => {} // a run we stopped or replaced
                }
            }
            HostEvent::RestartDue { instance } => {
                if let Some(index) = self.instances.iter().position(|i| i.id == instance) {
                    if matches!(self.instances[index].state, RunState::Waiting) {
                        DaemonMetrics::inc(&self.metrics.plugin_restarts);
                        self.start_run(index, state);
                    }
                }
            }
        }
    }

    async fn stop_instance(inst: Instance) {
        let what = describe(&inst.config, &inst.origin);
        log::debug!(target: TARGET, "stopping plugin {what}");
        let (wrapper, abort) = match inst.state {
            RunState::Running {
                tx,
                shutdown,
                wrapper,
                abort,
                ..
            } => {
                drop(tx);
                let _ = shutdown.send(true);
                (wrapper, abort)
            }
            RunState::Draining { wrapper, abort, .. } => (wrapper, abort),
            RunState::Waiting => return,
        };
        if tokio::time::timeout(STOP_TIMEOUT, wrapper).await.is_err() {
            log::warn!(target: TARGET, "plugin {what} did not stop within {STOP_TIMEOUT:?}; cancelled");
            abort.abort();
        }
    }

    /// Makes the running set equal to `desired`: unchanged instances keep running
    /// untouched, removed ones stop (in running order), new ones start with the replay.
    /// Returns (kept, stopped, started).
    pub async fn reconfigure(
        &mut self,
        desired: Vec<Configured>,
        state: &State,
    ) -> (usize, usize, usize) {
        let old = std::mem::take(&mut self.instances);
        let mut keep: Vec<Option<Instance>> = Vec::new();
        let mut stopped = 0;
        let mut remaining: Vec<Option<Instance>> = old.into_iter().map(Some).collect();
        for d in &desired {
            let found = remaining
                .iter_mut()
                .find(|slot| slot.as_ref().is_some_and(|i| i.config == d.config))
                .and_then(Option::take);
            keep.push(found);
        }
        for inst in remaining.into_iter().flatten() {
            stopped += 1;
            Host::stop_instance(inst).await;
        }
        let (mut kept, mut started) = (0, 0);
        for (slot, d) in keep.into_iter().zip(desired) {
            match slot {
                Some(mut inst) => {
                    log::trace!(target: TARGET, "keeping plugin {}", describe(&inst.config, &inst.origin));
                    inst.origin = d.origin;
                    self.instances.push(inst);
                    kept += 1;
                }
                None => {
                    self.start(d, state);
                    started += 1;
                }
            }
        }
        (kept, stopped, started)
    }

    /// Stops every instance, one after another, in running order.
    pub async fn stop_all(&mut self) {
        for inst in std::mem::take(&mut self.instances) {
            Host::stop_instance(inst).await;
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
mod tests {
    use super::*;

    fn updates(n: usize) -> (State, Vec<UpdateBatch>) {
        let mut state = State::new();
        let mut out = Vec::new();
        for i in 0..n {
            let line = format!("exists resource name:r{i} role:Secondary");
            state.apply(drbd::parse_line(&line).unwrap().event, &mut out);
        }
        // one batch per update
        let batches = out.into_iter().map(|u| Arc::from(vec![u])).collect();
        (state, batches)
    }

    fn slow_debugger(ms: u64) -> Configured {
        let config = super::super::debugger::DebuggerConfig {
            delay_per_update_ms: Some(ms),
            ..Default::default()
        };
        Configured {
            config: PluginConfig::Debugger(config),
            origin: Origin::new("test.toml", 1),
        }
    }

    #[tokio::test]
    async fn a_plugin_that_falls_behind_is_cut_off_then_resynchronised_without_blocking() {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let metrics = Arc::new(DaemonMetrics::default());
        let mut host = Host::new(events_tx, Arc::clone(&metrics), 4);
        host.start(slow_debugger(5), &State::new());
        let (state, updates) = updates(20);
        // dispatch is not async: it cannot wait for the plugin
        for batch in updates.iter().chain(&updates[..3]) {
            host.dispatch(batch);
        }
        let m = metrics.snapshot();
        assert!(m.plugin_updates_dropped >= 15, "{m:?}");
        assert!(matches!(host.instances[0].state, RunState::Draining { lag, .. } if lag >= 18));
        // the run drains its queue, ends, and is started again with the state replayed
        let ended = events.recv().await.unwrap();
        assert!(matches!(
            ended,
            HostEvent::Ended {
                outcome: Outcome::Finished,
                ..
            }
        ));
        host.handle(ended, &state);
        assert!(matches!(host.instances[0].state, RunState::Running { .. }));
        assert_eq!(metrics.snapshot().plugin_restarts, 1);
        host.stop_all().await;
    }

    #[tokio::test]
    async fn reconfigure_keeps_equal_instances_and_replaces_changed_ones() {
        let (events_tx, _events) = mpsc::unbounded_channel();
        let mut host = Host::new(events_tx, Arc::default(), 16);
        let state = State::new();
        host.start(slow_debugger(1), &state);
        host.start(slow_debugger(2), &state);
        let first_id = host.instances[0].id;
        let (kept, stopped, started) = host
            .reconfigure(vec![slow_debugger(1), slow_debugger(3)], &state)
            .await;
        assert_eq!((kept, stopped, started), (1, 1, 1));
        assert_eq!(host.instances[0].id, first_id);
        assert_eq!(host.len(), 2);
        host.stop_all().await;
        assert!(host.is_empty());
    }

    #[test]
    fn restart_delay_doubles_from_100ms_and_is_capped() {
        assert_eq!(restart_delay(1), Duration::from_millis(100));
        assert_eq!(restart_delay(2), Duration::from_millis(200));
        assert_eq!(restart_delay(4), Duration::from_millis(800));
        assert_eq!(restart_delay(30), MAX_RESTART_DELAY);
    }
}
