//! What systemd and drbdadm do on each node for the promoter's commands: the per-resource
//! lane (starts run beside it, as `shell.rs` runs them), the services of each resource, and
//! each command executed against the model with its outcome fed back to the machine that
//! decided it (start = promote + services up + device open; stop = services down, device
//! closed unless held, demote).
//!
//! Must never: decide anything the promoter decides, or read a clock.

use crate::schedule::Commands;
use crate::setup::{quorum, NODES, RESOURCES, SLOW_MS};
use crate::world::World;
use drbd::vocab::Role;
use drbd_reactor_promoter::policy::{Action, Outcome, SplitBrainPolicy};

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
pub(crate) struct Cmd {
    pub(crate) due: u64,
    pub(crate) seq: u64,
    pub(crate) node: usize,
    pub(crate) res: usize,
    pub(crate) epoch: u64,
    pub(crate) action: Action,
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

impl World {
    pub(crate) fn enqueue(&mut self, n: usize, r: usize, epoch: u64, actions: Vec<Action>) {
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

    /// Runs the commands due now, in the order they were decided.
    pub(crate) fn run_due(&mut self) -> bool {
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

    pub(crate) fn feed(&mut self, n: usize, r: usize, epoch: u64, o: Outcome) {
        let now = self.instant();
        let Some(d) = self.daemons[n].as_mut().filter(|d| d.epoch == epoch) else {
            return;
        };
        let a = d.machines[r].on_outcome(now, o);
        self.enqueue(n, r, epoch, a);
    }

    pub(crate) fn perform(&mut self, c: &Cmd) -> Option<Outcome> {
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
            Action::Probe => Outcome::Probed(Ok(s.running)),
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

    pub(crate) fn start(&mut self, n: usize, r: usize) -> Result<(), String> {
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

    pub(crate) fn stop(&mut self, n: usize, r: usize) -> Result<(), String> {
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
}
