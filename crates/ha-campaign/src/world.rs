//! The simulated cluster with the promoter on every node: the simulator's pure model (the
//! kernels), per node a daemon (its events2 stream, its state, one promoter `Machine` per
//! resource) and the services systemd runs, all in one virtual time. Commands decided by the
//! machines are executed against the model (start = promote + services up and the device
//! open; stop = services down, device closed, demote) and their outcomes fed back.
//!
//! Must never: read a clock, sleep, or decide anything the promoter decides; the invariants
//! are checked elsewhere (`check`), this module only reports what happened.
//!
//! `setup` says what the cluster is, `daemon` feeds each node's machines, `systemd` runs
//! their commands; this module owns the state and moves time.

use crate::daemon::Daemon;
use crate::schedule::{Commands, Fault};
use crate::systemd::{Cmd, Services};
use drbd::vocab::{ConnectionState, DiskState};
use drbd::State;
use drbd_reactor_promoter::config::ResourceConfig;
use drbd_sim::model::Cluster;
use drbd_sim::printer::{Options, Printer};
use drbd_sim::view::NodeView;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use crate::setup::{cluster_config, promoter_config, quorum, role, NODES, RESOURCES, SLOW_MS};
pub use crate::systemd::Event;

#[derive(Clone)]
pub struct World {
    pub model: Cluster,
    /// Virtual milliseconds since the start.
    pub now: u64,
    pub(crate) base: Instant,
    pub(crate) daemons: [Option<Daemon>; 3],
    pub(crate) next_epoch: u64,
    pub services: [[Services; 3]; 3],
    pub(crate) cmds: Vec<Cmd>,
    pub(crate) lane_free: [[u64; 3]; 3],
    pub(crate) seq: u64,
    pub(crate) cfgs: Vec<Arc<ResourceConfig>>,
    pub events: Vec<(u64, Event)>,
    /// When each node's daemon was last started (for bounds that need a live daemon).
    pub daemon_since: [Option<u64>; 3],
    /// Decisions and commands, when asked for (to read a failure).
    pub trace: Option<Vec<String>>,
    /// What every node's kernel reports, as of the last change of the model.
    pub(crate) views: [NodeView; 3],
    /// Bumped when a node's view changes (a daemon that printed this version has nothing new
    /// to print: its printer is not even asked).
    pub(crate) view_version: [u64; 3],
    /// The model changed since `views` was rendered.
    pub(crate) dirty: bool,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// Every node up, every daemon starting: a copy of one booted world (booting is a
    /// deterministic function of the configuration, so every copy equals a fresh boot).
    pub fn new() -> World {
        static BOOTED: OnceLock<World> = OnceLock::new();
        BOOTED.get_or_init(|| World::with_trace(false)).clone()
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
            view_version: [0; 3],
            dirty: true,
        };
        for n in 0..3 {
            w.start_daemon(n);
        }
        w.settle();
        w
    }

    pub(crate) fn instant(&self) -> Instant {
        self.base + Duration::from_millis(self.now)
    }

    pub fn daemon_alive(&self, n: usize) -> bool {
        self.daemons[n].is_some()
    }

    pub fn up(&self, n: usize) -> bool {
        self.model.is_up(NODES[n])
    }
    /// Applies one fault, then lets the cluster react at this instant.
    pub fn apply(&mut self, f: Fault) {
        // Only faults on the kernels change what a node reports.
        self.dirty |= !matches!(
            f,
            Fault::HoldOpen(..)
                | Fault::KillStream(_)
                | Fault::KillDaemon(_)
                | Fault::StartDaemon(_)
                | Fault::Reload(_)
                | Fault::Commands(..)
        );
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
                        self.dirty = true;
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
        let lines = self.trace.is_some().then(|| self.summary());
        if let (Some(t), Some(lines)) = (self.trace.as_mut(), lines) {
            t.extend(lines);
        }
    }

    /// What each node's kernel reports, one line per resource (for traces).
    pub fn summary(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (r, res) in RESOURCES.iter().enumerate() {
            let mut line = format!("{:>9}   {res}:", self.now);
            for (n, node) in NODES.iter().enumerate() {
                let Some(rv) = self.views[n].get(*res) else {
                    line += &format!(" {node}=down;");
                    continue;
                };
                let d = rv.devices.values().next();
                let conns: Vec<String> = rv
                    .connections
                    .values()
                    .map(|c| {
                        let pd = c.peer_devices.values().next();
                        format!(
                            "{}:{:?}/{:?}",
                            c.conn.conn_name,
                            c.conn.connection.unwrap_or_default(),
                            pd.and_then(|p| p.replication).unwrap_or_default()
                        )
                    })
                    .collect();
                line += &format!(
                    " {node}={:?}/{:?}/q{}{} {};",
                    rv.resource.role.unwrap_or_default(),
                    d.and_then(|d| d.disk).unwrap_or_default(),
                    quorum(&self.views[n], r) == Some(true),
                    if self.services[n][r].running {
                        "/RUN"
                    } else {
                        ""
                    },
                    conns.join(",")
                );
            }
            out.push(line);
        }
        out
    }

    /// Every fault repaired: links, nodes, disks, daemons, commands and holders.
    pub fn repair_all(&mut self) {
        // Repairs of what is not broken are skipped: they would change nothing but cost a
        // settle each.
        self.apply(Fault::Heal);
        for n in 0..3u8 {
            if !self.up(n as usize) || !self.daemon_alive(n as usize) {
                // Powers the node on if it is off, and starts its daemon.
                self.apply(Fault::Restart(n));
            }
            for r in 0..3u8 {
                let s = self.services[n as usize][r as usize];
                if s.commands != Commands::Normal {
                    self.apply(Fault::Commands(n, r, Commands::Normal));
                }
                if s.holder {
                    self.apply(Fault::HoldOpen(n, r, false));
                }
                if self.needs_adjust(n as usize, r as usize) {
                    self.apply(Fault::Attach(n, r));
                    // `drbdadm adjust`: connects what split brain left StandAlone.
                    self.dirty = true;
                    let _ = self.model.up(NODES[n as usize], RESOURCES[r as usize]);
                    self.settle();
                }
            }
            if !self.daemon_alive(n as usize) {
                self.apply(Fault::StartDaemon(n));
            }
        }
        self.settle();
    }

    /// True if `drbdadm adjust` would change something: the resource is down, a disk is
    /// detached, or a connection is StandAlone (as the node reports it).
    fn needs_adjust(&self, n: usize, r: usize) -> bool {
        let Some(rv) = self.views[n].get(RESOURCES[r]) else {
            return true;
        };
        rv.devices
            .values()
            .any(|d| matches!(d.disk, Some(DiskState::Diskless | DiskState::Failed)))
            || rv
                .connections
                .values()
                .any(|c| c.conn.connection == Some(ConnectionState::StandAlone))
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
