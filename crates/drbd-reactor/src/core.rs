//! The core loop: owns the DRBD state and the plugin host, and reacts to the events2
//! reader, signals and plugin reports.
//!
//! * First child: its lines apply directly; `exists -` makes the daemon READY.
//! * A later child: its initial dump goes into a fresh state, then `State::reconcile`
//!   turns the known state into it and plugins see only the real differences (no plugin
//!   restart, quirk Q11 fixed).
//! * SIGHUP reloads (RELOADING=1 ... READY=1) without waiting for any plugin: stopping the
//!   removed ones happens in their own tasks while lines keep being applied. SIGUSR1 dumps
//!   plugin configs as TOML (and the state at debug level). SIGINT/SIGTERM stop every plugin
//!   in parallel, each within its own deadline, and return.
//!
//! Must never: wait for a plugin while events are flowing, or lose the running
//! configuration because a new one is invalid.

use crate::daemon::read_config;
use crate::events2::{BatchPool, ReaderEvent};
use crate::metrics::DaemonMetrics;
use crate::notify::Notifier;
use crate::pacer::Pacer;
use crate::plugin::host::{Host, HostEvent};
use crate::runfiles;
use drbd::{Event, PluginUpdate, State};
use drbd_reactor_config::{Config, LoggingHandle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

pub const TARGET: &str = "drbd_reactor";

/// The signals the daemon handles.
pub struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
    usr1: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    /// Until a SIGTERM or SIGINT arrives (or one that already did is taken).
    pub async fn stop_asked(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    /// Whether a SIGTERM or SIGINT arrived already (they are kept from their installation
    /// on); takes it if so, never waits.
    pub async fn stop_pending(&mut self) -> bool {
        tokio::select! {
            biased;
            () = self.stop_asked() => true,
            () = std::future::ready(()) => false,
        }
    }
}

pub struct Core {
    pub state: State,
    /// The state being rebuilt from a restarted child's initial dump.
    fresh: Option<State>,
    dump_done: bool,
    ready_sent: bool,
    /// Why the last drbdsetup child ended, until a child's initial dump is applied again:
    /// `STATUS=` says so, a reload included.
    events2_down: Option<String>,
    /// When the running child was started; None while none runs.
    child_started: Option<Instant>,
    pub host: Host,
    host_events: mpsc::UnboundedReceiver<HostEvent>,
    metrics: Arc<DaemonMetrics>,
    notifier: Arc<Notifier>,
    config_path: PathBuf,
    config: Config,
    /// statistics-poll-interval the reader was started with (not reloadable).
    poll_interval: u64,
    logging: Option<LoggingHandle>,
    last_reload: SystemTime,
    out: Vec<PluginUpdate>,
    pool: Arc<BatchPool>,
    discard: Vec<PluginUpdate>,
    /// When state readers get the next snapshot.
    pacer: Pacer,
    /// The configuration pass in effect (for `config-generation`).
    pass: runfiles::ConfigPass,
    health: runfiles::Health,
}

/// The share of the core's time (per mille) that building snapshots for the state readers
/// may take when they ask in a loop, and how much of it at once (see `pacer.rs`).
pub const SNAPSHOT_SHARE_PER_MILLE: u32 = 100;
pub const SNAPSHOT_BURST: Duration = Duration::from_millis(20);
/// How long `READY=1` waits for the initial dump. A drbdsetup that runs but prints nothing
/// (stuck in the kernel) would keep the unit activating until systemd's start timeout (90 s)
/// killed it, again and again up to the start limit; ready without it, the daemon runs its
/// plugins and says in `STATUS=` what it waits for.
pub const READY_WAIT: Duration = Duration::from_secs(20);

enum Control {
    Reload,
    /// Why: Ok for a signal, the error the daemon exits 1 with otherwise.
    Stop(Result<(), &'static str>),
    Dump,
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        host: Host,
        host_events: mpsc::UnboundedReceiver<HostEvent>,
        metrics: Arc<DaemonMetrics>,
        notifier: Arc<Notifier>,
        config_path: PathBuf,
        config: Config,
        logging: Option<LoggingHandle>,
        pool: Arc<BatchPool>,
        read_at_ns: u128,
    ) -> Self {
        Core {
            state: State::new(),
            fresh: None,
            dump_done: false,
            ready_sent: false,
            events2_down: None,
            child_started: None,
            host,
            host_events,
            metrics,
            notifier,
            config_path,
            poll_interval: config.statistics_poll_interval,
            config,
            logging,
            last_reload: SystemTime::now(),
            out: Vec::new(),
            pool,
            discard: Vec::new(),
            pacer: Pacer::new(SNAPSHOT_SHARE_PER_MILLE, SNAPSHOT_BURST),
            pass: runfiles::ConfigPass {
                generation: 1,
                read_at_ns,
                error: None,
            },
            health: runfiles::Health::default(),
        }
    }

    /// Says which configuration pass is in effect (`drbd-reactorctl` waits for it).
    pub fn write_generation(&self) {
        let text = runfiles::render_generation(
            std::process::id(),
            drbd_reactor_process::start_time(std::process::id()),
            &self.pass,
        );
        runfiles::write(runfiles::GENERATION_FILE, &text);
    }

    fn write_health(&self) {
        let text =
            runfiles::render_health(std::process::id(), self.health, runfiles::realtime_ns());
        runfiles::write(runfiles::HEALTH_FILE, &text);
    }

    fn status(&self) -> String {
        format!(
            "{} resources, {} plugins",
            self.state.len(),
            self.host.len()
        )
    }

    /// What `STATUS=` says about the daemon as it is now: drbdsetup not running (why), the
    /// initial dump still awaited, or running with the counts.
    fn situation(&self) -> String {
        if let Some(why) = &self.events2_down {
            format!("drbdsetup events2 not running: {why}")
        } else if !self.dump_done {
            if self.ready_sent {
                format!(
                    "waiting for the initial dump of drbdsetup events2 (none after {} s)",
                    READY_WAIT.as_secs()
                )
            } else {
                "waiting for the initial dump of drbdsetup events2".to_string()
            }
        } else {
            format!("Running: {}", self.status())
        }
    }

    /// Runs until SIGINT/SIGTERM (Ok) or until the reader is gone (an error: the daemon
    /// exits 1, so that systemd's `Restart=on-failure` starts it again).
    pub async fn run(
        mut self,
        mut reader: mpsc::Receiver<ReaderEvent>,
        mut signals: Signals,
    ) -> Result<(), &'static str> {
        let mut monitor = self.monitor_timer();
        let ready_by = Instant::now() + READY_WAIT;
        loop {
            let control = tokio::select! {
                ev = reader.recv() => match ev {
                    Some(ev) => { self.on_reader(ev); continue; }
                    None => {
                        log::error!(target: TARGET, "events2 reader ended: stopping");
                        Control::Stop(Err("events2 processing failed: the events2 reader ended"))
                    }
                },
                Some(ev) = self.host_events.recv() => { self.host.handle(ev, &self.state); continue; }
                _ = signals.hup.recv() => Control::Reload,
                _ = signals.term.recv() => Control::Stop(Ok(())),
                _ = signals.int.recv() => Control::Stop(Ok(())),
                _ = signals.usr1.recv() => Control::Dump,
                _ = tick(&mut monitor) => { self.check_snippets(); continue; }
                _ = self.host.snapshot_asked() => {
                    if self.pacer.asked(Instant::now()) { self.answer_snapshot(); }
                    continue;
                }
                _ = until(self.pacer.deadline()) => { self.answer_snapshot(); continue; }
                _ = until(Some(ready_by)), if !self.ready_sent => {
                    self.ready_without_dump();
                    continue;
                }
            };
            match control {
                Control::Reload => {
                    self.reload();
                    monitor = self.monitor_timer();
                }
                Control::Dump => self.dump(),
                Control::Stop(result) => {
                    self.notifier.stopping();
                    log::info!(target: TARGET, "stopping {} plugins", self.host.len() + self.host.stopping());
                    let notifier = &self.notifier;
                    self.host
                        .shutdown(|bound| notifier.stopping_within(bound))
                        .await;
                    runfiles::remove_own();
                    log::info!(target: TARGET, "all plugins stopped");
                    return result;
                }
            }
        }
    }

    fn ready_without_dump(&mut self) {
        self.ready_sent = true;
        let status = self.situation();
        log::warn!(target: crate::events2::TARGET, "{status}; ready without it, the plugins see no state until it comes");
        self.notifier.ready(&status);
    }

    fn on_reader(&mut self, ev: ReaderEvent) {
        match ev {
            ReaderEvent::Started { pid, restart } => {
                self.child_started = Some(Instant::now());
                // Healthy again once this child's dump (and the reconcile) is applied.
                self.health.events2_running = true;
                self.health.initial_dump_complete = false;
                self.write_health();
                // Rebuild into a fresh state only if there is something to reconcile with.
                if restart && !self.state.is_empty() {
                    self.fresh = Some(State::new());
                }
                log::debug!(target: crate::events2::TARGET, "drbdsetup events2 started (pid {pid})");
            }
            ReaderEvent::Lines(lines) => self.on_lines(lines),
            ReaderEvent::Ended { why, retry_in } => {
                self.health.events2_running = false;
                self.write_health();
                let ran = match self.child_started.take() {
                    Some(t) => format!(
                        " ({} ms after it started, all its lines applied)",
                        t.elapsed().as_millis()
                    ),
                    None => String::new(),
                };
                log::warn!(target: crate::events2::TARGET, "{why}{ran}; starting it again in {retry_in:?}");
                if self.fresh.take().is_some() {
                    log::debug!(target: crate::events2::TARGET, "incomplete initial dump discarded");
                }
                self.events2_down = Some(why);
                let status = self.situation();
                if !self.ready_sent {
                    // Do not keep systemd waiting for a dump that may never come.
                    self.ready_sent = true;
                    self.notifier.ready(&status);
                } else {
                    self.notifier.status(&status);
                }
            }
        }
    }

    fn on_lines(&mut self, mut lines: Vec<drbd::Line>) {
        let n = lines.len() as u64;
        if self.fresh.is_none() {
            // Before the first line: the snapshot kept for state readers goes now, so the
            // lines change the state's resources in place instead of copying each.
            self.host.state_changed();
        }
        // Applied in place: the batch goes back to the reader with what the state did not
        // take, to be freed there (see BatchPool).
        for line in lines.iter_mut() {
            let end = matches!(line.event, Event::EndOfDump);
            if let Some(fresh) = &mut self.fresh {
                if end {
                    let fresh = self.fresh.take().expect("fresh state");
                    self.host.state_changed();
                    let before = self.out.len();
                    self.state.reconcile(fresh, &mut self.out);
                    log::info!(
                        target: crate::events2::TARGET,
                        "drbdsetup events2 restarted: state reconciled, {} resources, {} updates",
                        self.state.len(),
                        self.out.len() - before
                    );
                } else {
                    fresh.apply_in_place(&mut line.event, &mut self.discard);
                    self.discard.clear();
                    continue;
                }
            } else {
                self.state.apply_in_place(&mut line.event, &mut self.out);
            }
            if end && !self.health.initial_dump_complete {
                self.health.initial_dump_complete = true;
                self.write_health();
            }
            if end && !self.dump_done {
                self.dump_done = true;
                log::info!(
                    target: TARGET,
                    "initial state: {} resources, dump applied {} ms after drbdsetup started",
                    self.state.len(),
                    self.child_started.map_or(0, |t| t.elapsed().as_millis())
                );
            }
            if end {
                self.events2_down = None;
                let status = self.situation();
                if self.ready_sent {
                    self.notifier.status(&status);
                } else {
                    self.ready_sent = true;
                    self.notifier.ready(&status);
                }
            }
        }
        self.pool.give(lines);
        self.metrics.add_events(n);
        if !self.out.is_empty() {
            let batch: drbd_reactor_plugin::UpdateBatch = self.out.drain(..).collect();
            self.host.dispatch(&batch);
        }
    }

    /// Answers the state readers waiting for a snapshot of the current state (one build for
    /// all of them), within the share of the core's time the pacer allows.
    fn answer_snapshot(&mut self) {
        let t0 = Instant::now();
        self.host.answer_snapshot(&self.state);
        let now = Instant::now();
        self.pacer.answered(now, now - t0);
    }

    /// Before the daemon is ready (no initial dump yet, drbdsetup not known to have failed,
    /// the 20 s not over) a reload neither says `RELOADING=1` nor `READY=1`: systemd is still
    /// waiting for the start, and `READY=1` comes once, with the dump. Afterwards it is
    /// `RELOADING=1` ... `READY=1`, and the `STATUS=` of either case says what the daemon is
    /// waiting for or why drbdsetup is not running, never "Running" over a problem.
    fn reload(&mut self) {
        if self.ready_sent {
            self.notifier.reloading();
        }
        self.pass.generation += 1;
        self.pass.read_at_ns = runfiles::realtime_ns();
        self.pass.error = None;
        match read_config(&self.config_path) {
            Ok((config, desired, warnings)) => {
                for w in &warnings {
                    log::warn!(target: TARGET, "{w}");
                }
                if let Some(logging) = &self.logging {
                    if let Err(err) = logging.reconfigure(&config.log) {
                        log::error!(target: TARGET, "reload: keeping the old [[log]] sinks: {err}");
                    }
                }
                if config.statistics_poll_interval != self.poll_interval {
                    log::warn!(
                        target: TARGET,
                        "statistics-poll-interval is {} but drbdsetup runs with {}: takes effect when the daemon restarts",
                        config.statistics_poll_interval,
                        self.poll_interval
                    );
                }
                crate::plugin::after_reconfigure(&desired);
                let (kept, stopped, started) = self.host.reconfigure(desired, &self.state);
                log::info!(target: TARGET, "configuration reloaded: {kept} plugins kept, {stopped} stopped, {started} started");
                self.config = config;
            }
            Err(err) => {
                log::error!(target: TARGET, "reload failed, keeping the running configuration: {err}");
                self.pass.error = Some(err.to_string());
            }
        }
        self.write_generation();
        self.last_reload = SystemTime::now();
        let status = self.situation();
        if self.ready_sent {
            self.notifier.ready(&status);
        } else {
            self.notifier.status(&status);
        }
    }

    fn dump(&self) {
        for c in self.host.configs() {
            match c.to_toml() {
                Ok(text) => log::info!(target: TARGET, "main: plugin config:\n{text}"),
                Err(err) => {
                    log::warn!(target: TARGET, "main: could not serialize plugin config as TOML: {err}")
                }
            }
        }
        if log::log_enabled!(target: TARGET, log::Level::Debug) {
            let text: Vec<String> = self.state.dump().iter().map(|l| l.to_string()).collect();
            log::debug!(target: TARGET, "main: state:\n{}", text.join("\n"));
        }
    }

    fn monitor_timer(&self) -> Option<tokio::time::Interval> {
        let secs = self.config.snippets_monitoring_interval;
        (secs > 0 && self.config.snippets.is_some()).then(|| {
            let period = Duration::from_secs(secs);
            tokio::time::interval_at(tokio::time::Instant::now() + period, period)
        })
    }

    fn check_snippets(&self) {
        let changed = drbd_reactor_config::snippets_changed_since(
            &self.config,
            self.last_reload,
            SystemTime::now(),
        );
        for path in changed {
            log::warn!(target: crate::plugin::TARGET, "toml file {path:?} is newer than last service reload. 'systemctl reload drbd-reactor' required");
        }
        // The promoters' target drop-ins, rewritten after the (re)load that generated them
        // (by hand, `drbd-reactorctl start-until`). The original's wording ("older") is kept.
        // Written by the instances after the (re)load: newer, but ours while their content is.
        let units: Vec<(PathBuf, String)> = self
            .host
            .configs()
            .flat_map(|c| c.generated_units())
            .collect();
        let changed =
            drbd_reactor_config::units_rewritten_since(&units, self.last_reload, SystemTime::now());
        for path in changed {
            log::warn!(target: crate::plugin::TARGET, "systemd target unit {path:?} is older than last service reload. 'systemctl reload drbd-reactor' required");
        }
    }
}

async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Waits until `deadline`, or for ever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
