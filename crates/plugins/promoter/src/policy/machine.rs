//! The state machine of one promoter resource (spec §6, §6.11, with the §12 fixes listed in
//! docs/compat/promoter.md): construction without blocking, split-brain policy detection,
//! delayed starts that are cancelled when the state changes, quorum, disk and fail-back
//! rules, backoff for this node's own failed starts only, the ticker, and exit.
//!
//! Must never: start while a stop of the same resource is pending, act on updates after exit
//! was asked for, or count a lost promotion race as a failure.

use super::delay::{preference_position, promotion_delay};
use super::facts;
use super::{Action, Decision, Level, Outcome, SplitBrainPolicy};
use crate::config::{DiskDetach, PreferredNodesPolicy, QuorumLoss, ResourceConfig, Runner};
use crate::units;
use drbd::event::EventType;
use drbd::vocab::Role;
use drbd::{Change, ObjectUpdate, Resource};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod backoff;
mod construct;
mod dropins;
mod exit;
mod failback;
mod pending;
mod rules;

pub use backoff::STABLE;
pub use failback::FAILBACK_HOLDOFF;

/// Ticker period and the first step of the backoff (the original's `MIN_SECS_PROMOTE`).
pub const TICK: Duration = Duration::from_secs(20);
/// Longest wait between two of this node's own failed starts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(320);
/// Backing-device poll period while constructing.
pub const DEVICE_POLL: Duration = Duration::from_secs(2);
/// How long construction waits for backing devices before adjusting is skipped.
pub const DEVICE_WAIT_LIMIT: Duration = Duration::from_secs(600);
/// First retry of a failed split-brain policy detection; doubles up to `TICK`.
pub const POLICY_RETRY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Construct {
    Listing,
    Waiting {
        devices: Vec<String>,
        give_up_at: Instant,
        next_check: Option<Instant>,
    },
    Adjusting,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PolicyState {
    Unknown,
    Detecting,
    Known(SplitBrainPolicy),
    Failed { retry_at: Instant, failures: u32 },
}

/// What this node's services are doing, as far as the promoter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Services {
    Stopped,
    Starting,
    Running,
    Frozen,
    Stopping,
}

/// Counters and the last decision, for state readers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub starts: u64,
    pub stops: u64,
    /// This node's own failed starts (a lost promotion race is not one).
    pub failures: u64,
    pub lost_races: u64,
}

/// Clone: a simulation forks a machine as it is (the HA campaign starts every schedule from
/// one booted cluster).
#[derive(Clone)]
pub struct Machine {
    name: String,
    cfg: Arc<ResourceConfig>,
    /// Resolved start units without mounts, in start order (what freeze/thaw act on).
    freeze_units: Vec<String>,
    node: Option<String>,
    construct: Construct,
    configured_diskless: bool,
    policy: PolicyState,
    resource: Option<Arc<Resource>>,
    services: Services,
    /// Id of the start or stop in flight; outcomes with another id are stale.
    start_in_flight: Option<u64>,
    stop_in_flight: Option<u64>,
    next_id: u64,
    pending_start: Option<Instant>,
    /// The `may_promote` edge the pending start's delay counts from (None: no delay).
    pending_since: Option<Instant>,
    /// The start in flight completes a Primary's services at instance start (§6.3).
    completing: bool,
    /// The first evaluation may start a Primary's half-started target (§6.3).
    initial_pass_done: bool,
    own_failures: u32,
    retry_not_before: Option<Instant>,
    /// A start failed and it is not yet known whether a peer won the race.
    unclassified_failure: bool,
    /// This node was Primary while its start in flight ran: a failure is its own.
    promoted_in_attempt: bool,
    /// When the services last started successfully (cleared when they stop).
    running_since: Option<Instant>,
    /// The first pass asked whether an earlier instance left the services running on this
    /// Secondary: no start fires before the answer (it would take them over as its own).
    awaiting_probe: bool,
    next_tick: Instant,
    /// No fail-back on this node's own initiative before then (`failback`).
    failback_held_until: Option<Instant>,
    /// The shell runner's last stop failed (its list ends at the first failure, so the node
    /// may still be Primary, or services may still run): the ticker runs it again.
    stop_failed: bool,
    /// Why the drop-ins could not be written (systemd runner): no start until they are.
    units_failed: Option<String>,
    exiting: bool,
    finished: bool,
    pub counters: Counters,
    pub last_decision: Option<Decision>,
}

impl Machine {
    /// A new machine at construction; returns its first actions.
    pub fn new(
        name: &str,
        cfg: Arc<ResourceConfig>,
        node: Option<String>,
        now: Instant,
    ) -> (Machine, Vec<Action>) {
        let freeze_units = match cfg.runner {
            Runner::Systemd => units::resolve_start_list(name, &cfg.start)
                .map(|l| {
                    l.into_iter()
                        .filter(|u| !u.is_mount())
                        .map(|u| u.name)
                        .collect()
                })
                .unwrap_or_default(),
            Runner::Shell => Vec::new(),
        };
        let m = Machine {
            name: name.to_string(),
            cfg,
            freeze_units,
            node,
            construct: Construct::Listing,
            configured_diskless: false,
            policy: PolicyState::Unknown,
            resource: None,
            services: Services::Stopped,
            start_in_flight: None,
            stop_in_flight: None,
            next_id: 0,
            pending_start: None,
            pending_since: None,
            completing: false,
            initial_pass_done: false,
            own_failures: 0,
            retry_not_before: None,
            unclassified_failure: false,
            promoted_in_attempt: false,
            running_since: None,
            awaiting_probe: false,
            next_tick: now + TICK,
            failback_held_until: None,
            stop_failed: false,
            units_failed: None,
            exiting: false,
            finished: false,
            counters: Counters::default(),
            last_decision: None,
        };
        let mut out = Vec::new();
        if m.cfg.runner == Runner::Systemd {
            out.push(Action::WriteUnits);
        }
        out.push(Action::ListBackingDevices);
        (m, out)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn services(&self) -> Services {
        self.services
    }
    pub fn policy(&self) -> Option<SplitBrainPolicy> {
        match self.policy {
            PolicyState::Known(p) => Some(p),
            _ => None,
        }
    }
    pub fn resource(&self) -> Option<&Arc<Resource>> {
        self.resource.as_ref()
    }
    pub fn pending_start(&self) -> Option<Instant> {
        self.pending_start
    }
    /// Exit was asked for and everything it needs has run.
    pub fn finished(&self) -> bool {
        self.finished
    }
    pub fn freeze_units(&self) -> &[String] {
        &self.freeze_units
    }

    /// The earliest moment `on_timer` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.exiting {
            return None;
        }
        let pending = self.pending_start.filter(|_| !self.awaiting_probe);
        let mut d = vec![Some(self.next_tick), pending];
        if let Construct::Waiting { next_check, .. } = &self.construct {
            d.push(*next_check);
        }
        if let PolicyState::Failed { retry_at, .. } = self.policy {
            d.push(Some(retry_at));
        }
        d.into_iter().flatten().min()
    }

    fn log(&mut self, out: &mut Vec<Action>, level: Level, message: String) {
        let d = Decision { level, message };
        if level != Level::Debug {
            self.last_decision = Some(d.clone());
        }
        out.push(Action::Log(d));
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A state update for this resource.
    pub fn on_update(&mut self, now: Instant, update: &ObjectUpdate) -> Vec<Action> {
        let mut out = Vec::new();
        if self.exiting {
            return out;
        }
        let destroyed =
            update.event_type == EventType::Destroy && matches!(update.change, Change::Resource(_));
        if destroyed {
            self.resource = None;
            if self.pending_start.take().is_some() {
                let msg = format!("not promoting {}: the resource was brought down", self.name);
                self.log(&mut out, Level::Info, msg);
            }
            return out;
        }
        let new = update.resource.clone();
        let old = self.resource.replace(new.clone());
        self.note_own_role(&new);
        if self.policy == PolicyState::Unknown {
            self.policy = PolicyState::Detecting;
            out.push(Action::DetectPolicy);
        }
        if let Some(peer) = facts::primary_peer(&new) {
            self.saw_primary_peer(&peer, &mut out);
        } else if !new.may_promote
            && new.role != Role::Primary
            && self.pending_start.take().is_some()
        {
            let msg = format!("not promoting {}: may_promote went back to no", self.name);
            self.log(&mut out, Level::Info, msg);
        }
        if let (Some(old), PolicyState::Known(policy)) = (old, self.policy) {
            self.apply_rules(now, policy, &old, &new, &mut out);
            self.consider_failback(now, "state update", &mut out);
        }
        self.reschedule(now, &mut out);
        self.consider_start(now, &mut out);
        out
    }

    fn saw_primary_peer(&mut self, peer: &str, out: &mut Vec<Action>) {
        self.lost_race(peer, out);
        if self.pending_start.take().is_some() {
            let msg = format!("not promoting {}: peer {peer} is Primary", self.name);
            self.log(out, Level::Info, msg);
        }
    }

    fn ready(&self) -> bool {
        self.construct == Construct::Ready
            && matches!(self.policy, PolicyState::Known(_))
            && self.units_failed.is_none()
            && !self.exiting
    }

    /// Schedules a start if this node may race for promotion and nothing runs or is pending.
    fn consider_start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.ready()
            || self.services != Services::Stopped
            || self.pending_start.is_some()
            || self.start_in_flight.is_some()
        {
            return;
        }
        let Some(r) = self.resource.clone() else {
            return;
        };
        let initial = !self.initial_pass_done;
        self.initial_pass_done = true;
        if initial && r.role != Role::Primary {
            // An earlier instance may have left the services running on what is now a
            // Secondary (forced to Secondary while it was frozen, the daemon dead): systemd
            // knows the target's state, the shell runner its record in the run directory.
            out.push(Action::Probe);
            self.awaiting_probe = true;
        }
        if let Some(peer) = facts::primary_peer(&r) {
            if initial {
                let msg = format!("not promoting {}: peer {peer} is Primary", self.name);
                self.log(out, Level::Info, msg);
            }
            return;
        }
        let primary_here = initial && r.role == Role::Primary;
        if !r.may_promote && !primary_here {
            if initial {
                let msg = format!("not promoting {}: DRBD does not allow it here (may_promote: no); waiting for that to change", self.name);
                self.log(out, Level::Info, msg);
            }
            return;
        }
        let PolicyState::Known(policy) = self.policy else {
            return;
        };
        let delay = if primary_here {
            Duration::ZERO
        } else {
            promotion_delay(
                &self.cfg,
                policy,
                &r,
                self.node.as_deref(),
                self.configured_diskless,
            )
        };
        let mut at = now + delay;
        let name = self.name.clone();
        if let Some(nb) = self.retry_not_before.filter(|nb| *nb > at) {
            at = nb;
            let msg = format!(
                "run: resource '{name}' may promote after {}ms (this node's last {} start(s) failed; backing off)",
                at.duration_since(now).as_millis(),
                self.own_failures
            );
            self.log(out, Level::Info, msg);
        } else if primary_here {
            let msg = format!("run: resource '{name}' is Primary here; completing its services");
            self.log(out, Level::Info, msg);
        } else {
            let msg = format!(
                "run: resource '{name}' may promote after {}ms",
                delay.as_millis()
            );
            self.log(out, Level::Info, msg);
        }
        self.pending_start = Some(at);
        self.pending_since = (!primary_here).then_some(now);
        self.completing = primary_here;
        if at <= now && !self.awaiting_probe {
            self.fire_start(now, out);
        }
    }

    fn fire_start(&mut self, _now: Instant, out: &mut Vec<Action>) {
        self.pending_start = None;
        // No peer became Primary since the last failure: it was this node's own.
        self.confirm_own_failure();
        self.promoted_in_attempt = false;
        self.stop_failed = false;
        let id = self.id();
        self.start_in_flight = Some(id);
        self.services = Services::Starting;
        self.counters.starts += 1;
        out.push(Action::Start { id });
    }

    /// A command's result.
    pub fn on_outcome(&mut self, now: Instant, outcome: Outcome) -> Vec<Action> {
        let mut out = Vec::new();
        if self.finished {
            // The instance is gone; a late outcome changes nothing.
            return out;
        }
        let name = self.name.clone();
        match outcome {
            Outcome::UnitsWritten(result) => self.units_written(result, &mut out),
            Outcome::BackingDevices(devices) => self.backing_devices(now, devices, &mut out),
            Outcome::DevicesReady(ready) => self.devices_ready(now, ready, &mut out),
            Outcome::Adjusted(result) => self.adjusted(result, &mut out),
            Outcome::Policy(result) => self.policy_detected(now, result, &mut out),
            Outcome::Started { id, result } => {
                let current = self.start_in_flight == Some(id);
                if current {
                    self.start_in_flight = None;
                }
                // A start superseded by a stop (services Stopping or Stopped) has nothing
                // to report: its failure is the stop's doing.
                if current && matches!(self.services, Services::Starting | Services::Frozen) {
                    match result {
                        Ok(()) => {
                            if self.services == Services::Starting {
                                self.services = Services::Running;
                            }
                            self.start_succeeded(now);
                            let msg =
                                format!("started the services of '{name}': this node runs them");
                            self.log(&mut out, Level::Info, msg);
                            self.after_start(&mut out);
                            self.consider_failback(now, "its start completed", &mut out);
                        }
                        Err(e) => {
                            let msg = format!("Starting '{name}' failed: {e}");
                            self.log(&mut out, Level::Warn, msg);
                            self.start_failed(now, &mut out);
                            self.stop(&mut out);
                        }
                    }
                }
            }
            Outcome::Stopped { id, result } => {
                if self.stop_in_flight == Some(id) {
                    self.stop_in_flight = None;
                    self.services = Services::Stopped;
                    self.stop_failed = result.is_err() && self.cfg.runner == Runner::Shell;
                    if let Err(e) = result {
                        let msg = format!("Stopping '{name}' failed: {e}");
                        self.log(&mut out, Level::Warn, msg);
                    }
                    if self.exiting {
                        self.finished = true;
                    }
                }
            }
            Outcome::Probed(Err(e)) => {
                self.awaiting_probe = false;
                let msg = format!("could not tell whether the services of '{name}' are active: {e}; assuming they are as they were");
                self.log(&mut out, Level::Warn, msg);
                self.fire_due_start(now, &mut out);
            }
            Outcome::Probed(Ok(active)) => {
                self.awaiting_probe = false;
                let secondary = self
                    .resource
                    .as_deref()
                    .is_some_and(|r| r.role != Role::Primary);
                if !active && self.services == Services::Running {
                    let msg = format!("the services target of '{name}' is not active any more");
                    self.log(&mut out, Level::Info, msg);
                    self.services_ended(now, &mut out);
                    self.services = Services::Stopped;
                } else if active && self.services == Services::Stopped && secondary {
                    let what = match self.cfg.runner {
                        Runner::Systemd => "the services target of",
                        Runner::Shell => "the start list (shell runner) of",
                    };
                    let msg = format!("{what} '{name}' is active on a Secondary (left by an earlier instance), stopping it");
                    self.log(&mut out, Level::Warn, msg);
                    self.stop(&mut out);
                }
                self.fire_due_start(now, &mut out);
            }
        }
        self.consider_start(now, &mut out);
        out
    }

    /// A start that came due while the first probe was out.
    pub(super) fn fire_due_start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.pending_start.is_some_and(|t| t <= now)
            && self.services == Services::Stopped
            && self.start_in_flight.is_none()
            && !self.awaiting_probe
        {
            self.fire_start(now, out);
        }
    }

    /// Deadlines that have passed.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.exiting {
            return out;
        }
        self.construction_timers(now, &mut out);
        self.fire_due_start(now, &mut out);
        if self.next_tick <= now {
            while self.next_tick <= now {
                self.next_tick += TICK;
            }
            if self.services == Services::Running && self.cfg.runner == Runner::Systemd {
                out.push(Action::Probe);
            }
            self.note_stable_run(now);
            self.retry_failed_stop(&mut out);
            self.retry_units(&mut out);
            self.consider_failback(now, "ticker", &mut out);
        }
        self.consider_start(now, &mut out);
        out
    }
}
