//! The shell that ties config, policy and executor: one task per resource (a slow stop of
//! one never delays another), each owning its state machine and its timers in tokio time,
//! commands run beside it so a stop is never queued behind a start in progress.
//!
//! Must never: block the caller's update stream (routing is a channel send), or consume
//! updates after exit was asked for (§12.22).

use crate::config::{self, PromoterConfig, ResourceConfig, Runner};
use crate::exec::Executor;
use crate::policy::{Action, Level, Machine, Outcome};
use crate::status::{PromoterStatus, ResourceStatus, UnitState};
use crate::task::Owned;
use crate::units;
use drbd::{ObjectUpdate, PluginUpdate};
use log::{debug, error, info, warn};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Where updates come from; `None` means the stream ended (the instance exits). An update is
/// anything that reads as a [`PluginUpdate`]: the shell copies only the object updates of the
/// resources it manages, so the daemon's shared batches are not copied for the others.
pub trait UpdateSource: Send {
    type Update: Deref<Target = PluginUpdate> + Send;
    fn next(&mut self) -> impl Future<Output = Option<Self::Update>> + Send;
}

/// The daemon's shared batches (the plugin host).
impl UpdateSource for drbd_reactor_plugin::Updates {
    type Update = drbd_reactor_plugin::Update;
    async fn next(&mut self) -> Option<Self::Update> {
        drbd_reactor_plugin::Updates::next(self).await
    }
}

/// Updates from a channel (what tests and benches use).
impl UpdateSource for mpsc::Receiver<PluginUpdate> {
    type Update = Box<PluginUpdate>;
    async fn next(&mut self) -> Option<Self::Update> {
        self.recv().await.map(Box::new)
    }
}

impl UpdateSource for mpsc::UnboundedReceiver<PluginUpdate> {
    type Update = Box<PluginUpdate>;
    async fn next(&mut self) -> Option<Self::Update> {
        self.recv().await.map(Box::new)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoterError {
    /// The configuration is wrong; restarting will not help. Keys relative to the section.
    Config(Vec<config::KeyMessage>),
    /// Something broke at run time; a restart may help.
    Failed(String),
}

impl fmt::Display for PromoterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromoterError::Config(errors) => {
                let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                write!(f, "invalid [[promoter]] configuration: {}", list.join("; "))
            }
            PromoterError::Failed(e) => write!(f, "promoter failed: {e}"),
        }
    }
}

impl std::error::Error for PromoterError {}

/// What the caller supplies besides config and updates.
pub struct Context {
    pub executor: Executor,
    /// `uname -n`; `None` if unknown.
    pub node_name: Option<String>,
    pub status: watch::Sender<PromoterStatus>,
    /// Query systemd for the units' states after each start, stop and probe, for the
    /// published status (systemd runner only).
    pub query_unit_states: bool,
}

impl Context {
    /// The copy each resource task gets.
    fn shared(&self) -> Context {
        Context {
            executor: self.executor.clone(),
            node_name: self.node_name.clone(),
            status: self.status.clone(),
            query_unit_states: self.query_unit_states,
        }
    }
}

/// `uname -n` (the kernel node name), as the original compares with `preferred-nodes`.
pub fn node_name() -> Option<String> {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    (!name.is_empty()).then_some(name)
}

enum Msg {
    Update(ObjectUpdate),
    Outcome(Outcome),
    UnitStates(Vec<UnitState>),
    Exit,
    /// The instance ends to be resynchronised: a new one takes over at once.
    Handover,
}

/// Runs one `[[promoter]]` instance until the updates end or `shutdown` completes; then the
/// exit path runs (stop-services-on-exit) and this returns.
pub async fn run(
    config: PromoterConfig,
    mut updates: impl UpdateSource,
    ctx: Context,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), PromoterError> {
    let (errors, warnings) = config::validate(&config);
    for w in config::deprecation_warnings(&config)
        .iter()
        .chain(&warnings)
    {
        warn!("{}", w.message);
    }
    if !errors.is_empty() {
        return Err(PromoterError::Config(errors));
    }
    let mut tasks: Tasks = BTreeMap::new();
    for (name, cfg) in &config.resources {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Owned::spawn(resource_task(
            name.clone(),
            Arc::new(cfg.clone()),
            ctx.shared(),
            tx.clone(),
            rx,
        ));
        tasks.insert(name.clone(), (tx, handle));
    }
    tokio::pin!(shutdown);
    let mut updates_ended = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            u = updates.next() => {
                if !route_ready(u, &mut updates, &tasks) {
                    updates_ended = true;
                    break;
                }
            }
        }
    }
    // Updates that end while no stop was asked: the host resynchronises this instance (it
    // fell behind; plugin contract) and starts a new one with the current state at once.
    // That is no exit: the services stay as they are, whatever stop-services-on-exit says.
    let handover = updates_ended && !asked(&mut shutdown).await;
    for (tx, _) in tasks.values() {
        let _ = tx.send(if handover { Msg::Handover } else { Msg::Exit });
    }
    let mut failed = Vec::new();
    for (name, (_, handle)) in tasks {
        if let Err(e) = handle.await {
            failed.push(format!("resource '{name}': {e}"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(PromoterError::Failed(failed.join("; ")))
    }
}

type Tasks = BTreeMap<String, (mpsc::UnboundedSender<Msg>, Owned<()>)>;

/// Routes `first` and every update already at hand to the task of its resource, copying only
/// those of managed resources; false once the updates ended. The ones at hand are taken
/// without going back through the caller's `select!` (a dump hands out tens of thousands at
/// once, most of them for resources not managed here).
fn route_ready<S: UpdateSource>(first: Option<S::Update>, updates: &mut S, tasks: &Tasks) -> bool {
    let mut next = first;
    loop {
        let Some(u) = next else {
            return false;
        };
        if let PluginUpdate::Object(o) = &*u {
            if let Some((tx, _)) = tasks.get(o.resource_name()) {
                let _ = tx.send(Msg::Update(o.clone()));
            }
        }
        match ready_now(updates.next()) {
            Some(n) => next = n,
            None => return true,
        }
    }
}

/// The output of `f` if it is ready without waiting (the caller polls again with its own
/// waker when it is not).
fn ready_now<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn resource_task(
    name: String,
    cfg: Arc<ResourceConfig>,
    ctx: Context,
    tx: mpsc::UnboundedSender<Msg>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
) {
    let Context {
        executor,
        node_name: node,
        status,
        query_unit_states,
    } = ctx;
    let query_unit_states = query_unit_states && cfg.runner == Runner::Systemd;
    let mut unit_states: Vec<UnitState> = Vec::new();
    let start_units: Vec<String> = match cfg.runner {
        Runner::Systemd => units::resolve_start_list(&name, &cfg.start)
            .map(|l| l.into_iter().map(|u| u.name).collect())
            .unwrap_or_default(),
        Runner::Shell => Vec::new(),
    };
    // Commands other than starts run one after another in this lane, in decision order.
    let (lane_tx, mut lane_rx) = mpsc::unbounded_channel::<Lane>();
    let lane = {
        let (executor, cfg, name, tx) = (executor.clone(), cfg.clone(), name.clone(), tx.clone());
        Owned::spawn(async move {
            while let Some(item) = lane_rx.recv().await {
                let a = match item {
                    Lane::Run(a) => a,
                    Lane::EndStart(id, start) => {
                        // Its commands' process groups are killed when its task is dropped;
                        // the stop that follows runs only once they are gone.
                        if start.await.is_err() {
                            let result = Err("cancelled by a stop".to_string());
                            let _ = tx.send(Msg::Outcome(Outcome::Started { id, result }));
                        }
                        continue;
                    }
                };
                if let Some(o) = executor.perform(&name, &cfg, a).await {
                    let _ = tx.send(Msg::Outcome(o));
                }
            }
        })
    };
    // The start in progress. The shell runner's is ended by a stop first, as systemd replaces
    // a start job with a stop job: left running, its later commands (the service itself)
    // would run after the stop, on a node that may have been demoted, with the policy
    // believing the services stopped (found by the real-mode HA campaign, seed 794). Any
    // runner's is waited for when the instance ends.
    let start_task: std::sync::Mutex<Option<(u64, Owned<()>)>> = std::sync::Mutex::new(None);
    let (mut m, first) = Machine::new(&name, cfg.clone(), node, now());
    let dispatch = |actions: Vec<Action>| {
        for a in actions {
            match a {
                Action::Log(d) => match d.level {
                    Level::Debug => debug!("{}", d.message),
                    Level::Info => info!("{}", d.message),
                    Level::Warn => warn!("{}", d.message),
                    Level::Error => error!("{}", d.message),
                },
                // A start may take minutes (the whole stack); it runs beside the lane so a
                // stop decided meanwhile is not queued behind it.
                Action::Start { id } => {
                    let (executor, cfg2, name, tx) =
                        (executor.clone(), cfg.clone(), name.clone(), tx.clone());
                    let handle = Owned::spawn(async move {
                        if let Some(o) = executor.perform(&name, &cfg2, a).await {
                            let _ = tx.send(Msg::Outcome(o));
                        }
                    });
                    *start_task.lock().unwrap() = Some((id, handle));
                }
                Action::Stop { .. } => {
                    let shell_start = (cfg.runner == Runner::Shell)
                        .then(|| start_task.lock().unwrap().take())
                        .flatten();
                    if let Some((id, start)) = shell_start.filter(|(_, s)| !s.is_finished()) {
                        start.abort();
                        let _ = lane_tx.send(Lane::EndStart(id, start));
                    }
                    let _ = lane_tx.send(Lane::Run(a));
                }
                other => {
                    let _ = lane_tx.send(Lane::Run(other));
                }
            }
        }
    };
    dispatch(first);
    let query = || {
        let (executor, name, tx, units) = (
            executor.clone(),
            name.clone(),
            tx.clone(),
            start_units.clone(),
        );
        tokio::spawn(async move {
            let _ = tx.send(Msg::UnitStates(executor.unit_states(&name, &units).await));
        });
    };
    let publish = |m: &Machine, unit_states: &[UnitState]| {
        let s = ResourceStatus::of(m, &start_units, unit_states);
        status.send_if_modified(|all| {
            if all.resources.get(m.name()) == Some(&s) {
                false
            } else {
                all.resources.insert(m.name().to_string(), s);
                true
            }
        });
    };
    publish(&m, &unit_states);
    loop {
        let deadline = m.next_deadline().map(Instant::from_std);
        let msg = tokio::select! {
            msg = rx.recv() => msg,
            _ = sleep_until(deadline) => {
                let a = m.on_timer(now());
                publish(&m, &unit_states);
                dispatch(a);
                continue;
            }
        };
        let actions = match msg {
            None => break,
            Some(Msg::Update(u)) => m.on_update(now(), &u),
            Some(Msg::Outcome(o)) => {
                let ask = matches!(
                    o,
                    Outcome::Started { .. } | Outcome::Stopped { .. } | Outcome::Probed(_)
                );
                if ask && query_unit_states {
                    query();
                }
                m.on_outcome(now(), o)
            }
            Some(Msg::UnitStates(u)) => {
                unit_states = u;
                Vec::new()
            }
            Some(Msg::Exit) => m.on_exit(now()),
            Some(Msg::Handover) => m.on_handover(now()),
        };
        // The status first (the machine has decided; the actions change nothing of it): a
        // start spawned last is the task this worker runs next, where the status writer woken
        // after it would have gone first (tokio runs the last task woken or spawned next).
        publish(&m, &unit_states);
        dispatch(actions);
        if m.finished() {
            break;
        }
    }
    // The instance ends only once what it began has (spec §6.12): a start in flight, then the
    // commands queued in the lane. A new instance for this resource (after a reload) must
    // not act beside them; the host's stop deadline bounds the wait. When it cancels the
    // instance, these tasks are aborted with it (`Owned`), their commands' groups killed.
    drop(lane_tx);
    let in_flight = start_task.lock().unwrap().take();
    if let Some((_, start)) = in_flight {
        let _ = start.await;
    }
    let _ = lane.await;
}

/// What the command lane does next.
enum Lane {
    Run(Action),
    /// Waits until a cancelled shell start is gone; reports it cancelled unless it had
    /// finished (and reported) already.
    EndStart(u64, Owned<()>),
}

/// True if `shutdown` has completed (polled once, never waited for).
async fn asked(shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    tokio::select! {
        biased;
        _ = shutdown => true,
        _ = std::future::ready(()) => false,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
