//! The simulated cluster with the promoter on every node: the simulator's pure model (the
//! kernels), per node a daemon (its events2 stream, its state, one promoter `Machine` per
//! resource) and the services systemd runs, all in one virtual time. Commands decided by the
//! machines are executed against the model (start = promote + services up and the device
//! open; stop = services down, device closed, demote) and their outcomes fed back.
//!
//! Must never: read a clock, sleep, or decide anything the promoter decides; the invariants
//! are checked elsewhere (`check`), this module only reports what happened.

use crate::schedule::{Commands, Fault};
use drbd::vocab::Role;
use drbd::{PluginUpdate, State};
use drbd_reactor_promoter::config::{DiskDetach, QuorumLoss, ResourceConfig};
use drbd_reactor_promoter::policy::{Action, Machine, Outcome, SplitBrainPolicy};
use drbd_sim::config::{ClusterConfig, OnNoQuorum, VolumeConfig};
use drbd_sim::model::Cluster;
use drbd_sim::printer::{Options, Printer};
use drbd_sim::view::NodeView;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NODES: [&str; 3] = ["alpha", "beta", "gamma"];
pub const RESOURCES: [&str; 3] = ["r0", "r1", "r2"];
/// How long a slow start or stop takes.
pub const SLOW_MS: u64 = 30_000;

/// The promoter configuration of each resource: r0 prefers alpha then beta and fails back,
/// r1 prefers gamma, freezes on quorum loss and fails over on disk loss, r2 has no preference.
pub fn promoter_config(res: usize) -> ResourceConfig {
    let mut c = ResourceConfig {
        start: vec!["app.service".into()],
        ..ResourceConfig::default()
    };
    match res {
        0 => c.preferred_nodes = vec!["alpha".into(), "beta".into()],
        1 => {
            c.preferred_nodes = vec!["gamma".into()];
            c.on_quorum_loss = QuorumLoss::Freeze;
            c.on_disk_detach = DiskDetach::FailOver;
        }
        _ => {}
    }
    c
}

/// The DRBD side: three nodes, three resources with quorum majority; shutdown resources
/// use `on-no-quorum io-error`, the freeze resource `suspend-io` (as the promoter's guide says).
pub fn cluster_config() -> ClusterConfig {
    let mut c = ClusterConfig::simple(&NODES, "r0");
    let template = c.resources[0].clone();
    c.resources.clear();
    for (i, name) in RESOURCES.iter().enumerate() {
        let mut r = template.clone();
        r.name = name.to_string();
        r.port = 7789 + i as u16;
        r.volumes = vec![VolumeConfig {
            number: 0,
            minor: 1000 + i as u32,
            size: 65_536,
            disk: format!("/dev/vg/{name}"),
        }];
        r.options.on_no_quorum = if promoter_config(i).on_quorum_loss == QuorumLoss::Freeze {
            OnNoQuorum::SuspendIo
        } else {
            OnNoQuorum::IoError
        };
        c.resources.push(r);
    }
    c
}

/// The quorum of a resource in a node's view (None while down).
pub fn quorum(v: &NodeView, r: usize) -> Option<bool> {
    let rv = v.get(RESOURCES[r])?;
    Some(rv.devices.values().all(|d| d.quorum == Some(true)))
}

/// The role of a resource in a node's view (None while down).
pub fn role(v: &NodeView, r: usize) -> Option<Role> {
    v.get(RESOURCES[r])?.resource.role
}

struct Daemon {
    epoch: u64,
    printer: Printer,
    state: State,
    /// None until the stream's first dump.
    started: bool,
    machines: Vec<Machine>,
}

/// What systemd runs for one resource on one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Services {
    pub running: bool,
    pub frozen: bool,
    /// Something else keeps the device open when the services stop.
    pub holder: bool,
    pub commands: Commands,
}

#[derive(Debug, Clone)]
struct Cmd {
    due: u64,
    seq: u64,
    node: usize,
    res: usize,
    epoch: u64,
    action: Action,
}

/// Something that happened, for the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A start command ran to its end (ok or not).
    Started { node: usize, res: usize, ok: bool },
    /// A stop command ran; `frozen_without_quorum`: the services were frozen on a Primary
    /// without quorum (on a Secondary they only get I/O errors: stopping them is right).
    Stopped {
        node: usize,
        res: usize,
        frozen_without_quorum: bool,
    },
}

pub struct World {
    pub model: Cluster,
    /// Virtual milliseconds since the start.
    pub now: u64,
    base: Instant,
    daemons: [Option<Daemon>; 3],
    next_epoch: u64,
    pub services: [[Services; 3]; 3],
    cmds: Vec<Cmd>,
    lane_free: [[u64; 3]; 3],
    seq: u64,
    cfgs: Vec<Arc<ResourceConfig>>,
    pub events: Vec<(u64, Event)>,
    /// When each node's daemon was last started (for bounds that need a live daemon).
    pub daemon_since: [Option<u64>; 3],
    /// Decisions and commands, when asked for (to read a failure).
    pub trace: Option<Vec<String>>,
    /// What every node's kernel reports, as of the last change of the model.
    views: [NodeView; 3],
    /// The model changed since `views` was rendered.
    dirty: bool,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// Every node up, every daemon starting.
    pub fn new() -> World {
        World::with_trace(false)
    }

    /// A world that records its decisions and commands in `trace`.
    pub fn with_trace(trace: bool) -> World {
        let mut w = World {
            model: Cluster::new(cluster_config()),
            now: 0,
            base: Instant::now(),
            daemons: [None, None, None],
            next_epoch: 0,
            services: Default::default(),
            cmds: Vec::new(),
            lane_free: Default::default(),
            seq: 0,
            cfgs: (0..3).map(|i| Arc::new(promoter_config(i))).collect(),
            events: Vec::new(),
            daemon_since: [None; 3],
            trace: trace.then(Vec::new),
            views: Default::default(),
            dirty: true,
        };
        for n in 0..3 {
            w.start_daemon(n);
        }
        w.settle();
        w
    }

    fn instant(&self) -> Instant {
        self.base + Duration::from_millis(self.now)
    }

    pub fn daemon_alive(&self, n: usize) -> bool {
        self.daemons[n].is_some()
    }

    pub fn up(&self, n: usize) -> bool {
        self.model.is_up(NODES[n])
    }

    fn start_daemon(&mut self, n: usize) {
        if !self.up(n) || self.daemons[n].is_some() {
            return;
        }
        self.next_epoch += 1;
        let epoch = self.next_epoch;
        let now = self.instant();
        let mut machines = Vec::new();
        for r in 0..3 {
            let (m, first) = Machine::new(
                RESOURCES[r],
                self.cfgs[r].clone(),
                Some(NODES[n].to_string()),
                now,
            );
            machines.push(m);
            self.enqueue(n, r, epoch, first);
        }
        self.daemons[n] = Some(Daemon {
            epoch,
            printer: Printer::new(Options::default(), None),
            state: State::new(),
            started: false,
            machines,
        });
        self.daemon_since[n] = Some(self.now);
    }

    fn enqueue(&mut self, n: usize, r: usize, epoch: u64, actions: Vec<Action>) {
        for a in actions {
            let slow = match (&a, self.services[n][r].commands) {
                (Action::Start { .. }, Commands::SlowStart) => SLOW_MS,
                (Action::Stop { .. }, Commands::SlowStop) => SLOW_MS,
                _ => 0,
            };
            if let Some(t) = self.trace.as_mut() {
                let what = match &a {
                    Action::Log(d) => d.message.clone(),
                    other => format!("decides {other:?}"),
                };
                t.push(format!(
                    "{:>9} {} {}: {what}",
                    self.now, NODES[n], RESOURCES[r]
                ));
            }
            let due = match a {
                Action::Log(_) => continue,
                // A start runs beside the lane (as the shell runs it).
                Action::Start { .. } => self.now + slow,
                _ => {
                    let due = self.now.max(self.lane_free[n][r]) + slow;
                    self.lane_free[n][r] = due;
                    due
                }
            };
            self.seq += 1;
            self.cmds.push(Cmd {
                due,
                seq: self.seq,
                node: n,
                res: r,
                epoch,
                action: a,
            });
        }
    }

    /// Applies one fault, then lets the cluster react at this instant.
    pub fn apply(&mut self, f: Fault) {
        self.dirty = true;
        if let Some(t) = self.trace.as_mut() {
            t.push(format!("{:>9} FAULT {f:?}", self.now));
        }
        let name = |n: u8| NODES[n as usize];
        let (m, res) = (&mut self.model, |r: u8| RESOURCES[r as usize]);
        let _ = match f {
            Fault::Crash(n) => {
                let n = n as usize;
                let r = m.crash(NODES[n]);
                self.daemons[n] = None;
                self.daemon_since[n] = None;
                for s in self.services[n].iter_mut() {
                    s.running = false;
                    s.frozen = false;
                    s.holder = false;
                }
                self.cmds.retain(|c| c.node != n);
                self.lane_free[n] = [0; 3];
                r
            }
            Fault::Restart(n) => {
                let r = if m.is_up(name(n)) {
                    Ok(())
                } else {
                    m.restart(name(n))
                };
                self.start_daemon(n as usize);
                r
            }
            Fault::Isolate(n) => m.partition(&[name(n)]),
            Fault::Heal => m.heal(),
            Fault::Cut(a, b) => m.set_link(name(a), name(b), false),
            Fault::Mend(a, b) => m.set_link(name(a), name(b), true),
            Fault::Detach(n, r) => m.set_disk(name(n), res(r), 0, false, false),
            Fault::FailDisk(n, r) => m.set_disk(name(n), res(r), 0, false, true),
            Fault::Attach(n, r) => m.set_disk(name(n), res(r), 0, true, false),
            Fault::HoldOpen(n, r, on) => {
                let s = &mut self.services[n as usize][r as usize];
                if m.is_up(name(n)) {
                    s.holder = on;
                    if !on && !s.running {
                        let _ = m.set_open(name(n), res(r), 0, false);
                    }
                }
                Ok(())
            }
            Fault::KillStream(n) => {
                if let Some(d) = self.daemons[n as usize].as_mut() {
                    d.printer = Printer::new(Options::default(), None);
                    d.state = State::new();
                    d.started = false;
                }
                Ok(())
            }
            Fault::KillDaemon(n) => {
                self.daemons[n as usize] = None;
                self.daemon_since[n as usize] = None;
                Ok(())
            }
            Fault::StartDaemon(n) => {
                self.start_daemon(n as usize);
                Ok(())
            }
            Fault::Reload(n) => {
                let n = n as usize;
                if let Some(mut d) = self.daemons[n].take() {
                    let now = self.instant();
                    for m in d.machines.iter_mut() {
                        let _ = m.on_exit(now);
                    }
                    self.start_daemon(n);
                }
                Ok(())
            }
            Fault::Commands(n, r, c) => {
                self.services[n as usize][r as usize].commands = c;
                Ok(())
            }
        };
        self.settle();
    }

    /// Every fault repaired: links, nodes, disks, daemons, commands and holders.
    pub fn repair_all(&mut self) {
        self.apply(Fault::Heal);
        for n in 0..3u8 {
            self.apply(Fault::Restart(n));
            for r in 0..3u8 {
                self.apply(Fault::Commands(n, r, Commands::Normal));
                self.apply(Fault::HoldOpen(n, r, false));
                self.apply(Fault::Attach(n, r));
                // `drbdadm adjust`: connects what split brain left StandAlone.
                let _ = self.model.up(NODES[n as usize], RESOURCES[r as usize]);
            }
            self.apply(Fault::StartDaemon(n));
        }
        self.settle();
    }

    /// Services write to their devices (not while frozen).
    pub fn write(&mut self) {
        self.dirty = true;
        for n in 0..3 {
            for r in 0..3 {
                let s = self.services[n][r];
                if s.running && !s.frozen {
                    let _ = self.model.write(NODES[n], RESOURCES[r], 4);
                }
            }
        }
        self.settle();
    }

    /// Delivers state changes and runs due commands until nothing changes at this instant.
    pub fn settle(&mut self) {
        for _ in 0..1000 {
            let delivered = self.deliver();
            let ran = self.run_due();
            if !delivered && !ran {
                return;
            }
        }
        panic!("the cluster never settled at {} ms", self.now);
    }

    /// Feeds every live daemon the lines its events2 stream prints now.
    fn deliver(&mut self) -> bool {
        let fresh_stream = self.daemons.iter().flatten().any(|d| !d.started);
        if !self.dirty && !fresh_stream {
            return false;
        }
        if self.dirty {
            self.views = NODES.map(|n| self.model.view(n));
            self.dirty = false;
        }
        let mut any = false;
        let now = self.instant();
        for n in 0..3 {
            let view = &self.views[n];
            let Some(d) = self.daemons[n].as_mut() else {
                continue;
            };
            let lines = if d.started {
                d.printer.update(view, false)
            } else {
                d.started = true;
                d.printer.dump(view)
            };
            if lines.is_empty() {
                continue;
            }
            any = true;
            let mut updates = Vec::new();
            for l in lines {
                d.state.apply(l.event, &mut updates);
            }
            let epoch = d.epoch;
            let mut decided = Vec::new();
            for u in updates {
                let PluginUpdate::Object(u) = u else { continue };
                let Some(r) = RESOURCES.iter().position(|x| *x == u.resource_name()) else {
                    continue;
                };
                decided.push((r, d.machines[r].on_update(now, &u)));
            }
            for (r, a) in decided {
                self.enqueue(n, r, epoch, a);
            }
        }
        any
    }

    /// Runs the commands due now, in the order they were decided.
    fn run_due(&mut self) -> bool {
        let mut ran = false;
        loop {
            let Some(i) = self
                .cmds
                .iter()
                .enumerate()
                .filter(|(_, c)| c.due <= self.now)
                .min_by_key(|(_, c)| (c.due, c.seq))
                .map(|(i, _)| i)
            else {
                return ran;
            };
            let c = self.cmds.remove(i);
            ran = true;
            if let Some(t) = self.trace.as_mut() {
                t.push(format!(
                    "{:>9} {} {}: runs {:?}",
                    self.now, NODES[c.node], RESOURCES[c.res], c.action
                ));
            }
            if let Some(o) = self.perform(&c) {
                self.feed(c.node, c.res, c.epoch, o);
            }
        }
    }

    fn feed(&mut self, n: usize, r: usize, epoch: u64, o: Outcome) {
        let now = self.instant();
        let Some(d) = self.daemons[n].as_mut().filter(|d| d.epoch == epoch) else {
            return;
        };
        let a = d.machines[r].on_outcome(now, o);
        self.enqueue(n, r, epoch, a);
    }

    fn perform(&mut self, c: &Cmd) -> Option<Outcome> {
        let (n, r) = (c.node, c.res);
        self.dirty |= matches!(
            c.action,
            Action::Start { .. } | Action::Stop { .. } | Action::Adjust
        );
        let (node, res) = (NODES[n], RESOURCES[r]);
        let s = self.services[n][r];
        Some(match c.action {
            Action::WriteUnits | Action::RemoveBefore | Action::Log(_) => return None,
            Action::ListBackingDevices => Outcome::BackingDevices(
                self.model
                    .lower_devices(node, res)
                    .ok_or_else(|| "not configured".to_string()),
            ),
            Action::CheckDevices(_) => Outcome::DevicesReady(true),
            Action::Adjust => Outcome::Adjusted(self.model.up(node, res).map_err(|e| e.message)),
            Action::DetectPolicy => Outcome::Policy(Ok(SplitBrainPolicy::Quorum)),
            Action::Probe => Outcome::Probed(s.running),
            Action::Freeze(_) => {
                if s.running {
                    self.services[n][r].frozen = true;
                }
                return None;
            }
            Action::Thaw(_) => {
                self.services[n][r].frozen = false;
                return None;
            }
            Action::Start { id } => {
                let result = self.start(n, r);
                self.events.push((
                    self.now,
                    Event::Started {
                        node: n,
                        res: r,
                        ok: result.is_ok(),
                    },
                ));
                Outcome::Started { id, result }
            }
            Action::Stop { id } => {
                // systemd replaces a start job still running with the stop job.
                let cancelled: Vec<Cmd> = self
                    .cmds
                    .iter()
                    .filter(|x| {
                        x.node == n && x.res == r && matches!(x.action, Action::Start { .. })
                    })
                    .cloned()
                    .collect();
                self.cmds.retain(|x| {
                    !(x.node == n && x.res == r && matches!(x.action, Action::Start { .. }))
                });
                for x in cancelled {
                    if let Action::Start { id } = x.action {
                        let o = Outcome::Started {
                            id,
                            result: Err("start job cancelled by the stop job".into()),
                        };
                        self.feed(n, r, x.epoch, o);
                    }
                }
                // Commands never change quorum: the view of the last delivery is current.
                let quorum = quorum(&self.views[n], r);
                let primary = self
                    .model
                    .view(NODES[n])
                    .get(RESOURCES[r])
                    .and_then(|v| v.resource.role)
                    == Some(Role::Primary);
                self.events.push((
                    self.now,
                    Event::Stopped {
                        node: n,
                        res: r,
                        frozen_without_quorum: s.frozen && quorum == Some(false) && primary,
                    },
                ));
                Outcome::Stopped {
                    id,
                    result: self.stop(n, r),
                }
            }
        })
    }

    fn start(&mut self, n: usize, r: usize) -> Result<(), String> {
        let (node, res) = (NODES[n], RESOURCES[r]);
        self.model
            .primary(node, res, false)
            .map_err(|e| e.message)?;
        // Starting an active target is a no-op that succeeds, whatever a new start would do.
        if self.services[n][r].commands == Commands::FailStart && !self.services[n][r].running {
            return Err("app.service: start failed".into());
        }
        // Starting an active target whose units are frozen is a no-op: they stay frozen.
        self.services[n][r].running = true;
        let _ = self.model.set_open(node, res, 0, true);
        Ok(())
    }

    fn stop(&mut self, n: usize, r: usize) -> Result<(), String> {
        let (node, res) = (NODES[n], RESOURCES[r]);
        let s = &mut self.services[n][r];
        s.running = false;
        s.frozen = false;
        let (holder, commands) = (s.holder, s.commands);
        if !holder {
            let _ = self.model.set_open(node, res, 0, false);
        }
        let demoted = match self.model.secondary(node, res, false) {
            Ok(()) => Ok(()),
            Err(_) if self.cfgs[r].secondary_force => {
                self.model.secondary(node, res, true).map_err(|e| e.message)
            }
            Err(e) => Err(e.message),
        };
        match commands {
            Commands::SlowStop => Err("stop timed out".into()),
            Commands::FailStop => Err("app.service: stop failed".into()),
            _ => demoted,
        }
    }

    /// The quorum of a node's resource as its kernel reports it (None while down).
    pub fn quorum(&self, n: usize, r: usize) -> Option<bool> {
        quorum(&self.model.view(NODES[n]), r)
    }

    /// What every node's kernel reports (as of the last `settle`).
    pub fn views(&self) -> &[NodeView; 3] {
        debug_assert!(!self.dirty, "views read before settle");
        &self.views
    }

    /// The next moment something is due: a timer of a live machine or a command; the
    /// earliest after `now` when only later ones count.
    pub fn next_due(&self) -> Option<u64> {
        let (base, now) = (self.base, self.now);
        let timers = self.daemons.iter().flatten().flat_map(|d| {
            d.machines.iter().filter_map(move |m| {
                m.next_deadline()
                    .map(|t| t.saturating_duration_since(base).as_millis() as u64)
            })
        });
        let cmds = self.cmds.iter().map(|c| c.due);
        // A resync ends within 100 ms of when it would (a coarser step makes false ties).
        let resync = self.model.resyncing().then_some(now + 100);
        let all: Vec<u64> = timers.chain(cmds).chain(resync).collect();
        all.iter()
            .copied()
            .filter(|d| *d >= now)
            .min()
            .or_else(|| all.iter().copied().min())
    }

    /// Moves time forward to `t`, firing timers and commands in order; `each` runs after
    /// every instant something happened.
    pub fn advance_to(
        &mut self,
        t: u64,
        each: &mut dyn FnMut(&World) -> Result<(), String>,
    ) -> Result<(), String> {
        // A deadline that passed without effect (a start waiting for a stop to end) must not
        // hold time still: after the first instant only later ones count.
        let mut first = true;
        loop {
            let next = self
                .next_due()
                .map(|d| d.max(self.now))
                .filter(|d| *d <= t && (first || *d > self.now));
            let Some(at) = next else { break };
            first = false;
            self.step_to(at);
            each(self)?;
        }
        self.step_to(t);
        each(self)
    }

    fn step_to(&mut self, at: u64) {
        if at > self.now {
            // Time changes what a node reports only while a resync runs.
            self.dirty |= self.model.resyncing();
            self.model.tick(at - self.now);
            self.now = at;
        }
        let now = self.instant();
        for n in 0..3 {
            let Some(d) = self.daemons[n].as_mut() else {
                continue;
            };
            let epoch = d.epoch;
            let mut decided = Vec::new();
            for (r, m) in d.machines.iter_mut().enumerate() {
                if m.next_deadline().is_some_and(|x| x <= now) {
                    decided.push((r, m.on_timer(now)));
                }
            }
            for (r, a) in decided {
                self.enqueue(n, r, epoch, a);
            }
        }
        self.settle();
    }
}
