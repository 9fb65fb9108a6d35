//! The rules that stop or freeze running services (spec §6.6–§6.8): quorum lost or back,
//! forced to Secondary while frozen, local disk lost, a more preferred peer UpToDate. They
//! compare two snapshots, so each fires once per resource transition.
//!
//! Must never: start anything (starts are decided in the parent module only).

use super::*;

impl Machine {
    /// Quorum, disk and fail-back rules (§6.6–§6.8), once per resource transition.
    pub(super) fn apply_rules(
        &mut self,
        now: Instant,
        policy: SplitBrainPolicy,
        old: &Resource,
        new: &Resource,
        out: &mut Vec<Action>,
    ) {
        let name = self.name.clone();
        let freeze = self.cfg.on_quorum_loss == QuorumLoss::Freeze;
        let quorum = policy == SplitBrainPolicy::Quorum;
        let ours = matches!(self.services, Services::Starting | Services::Running)
            || new.role == Role::Primary;
        if quorum
            && freeze
            && old.role == Role::Primary
            && new.role == Role::Secondary
            && matches!(self.services, Services::Frozen | Services::Running)
        {
            // Running: the shell runner cannot freeze, its services ran on while I/O was
            // suspended; on a Secondary they cannot write, so they stop too.
            let msg = if self.services == Services::Frozen {
                format!("resource '{name}' got forced to Secondary while frozen, stopping services")
            } else {
                format!("resource '{name}' got forced to Secondary while its services ran (not frozen), stopping services")
            };
            self.log(out, Level::Info, msg);
            self.stop(out);
            return;
        }
        if old.role == Role::Primary
            && new.role == Role::Secondary
            && self.services == Services::Running
        {
            // Forced to Secondary under running services (on-suspended-primary-outdated, a
            // demotion by hand): they only get I/O errors now. HA campaign seed 929.
            let msg =
                format!("resource '{name}' was demoted under its running services, stopping them");
            self.log(out, Level::Warn, msg);
            self.services_ended(now, out);
            self.stop(out);
            return;
        }
        if quorum && facts::lost_quorum(old, new) {
            let cancelled = self.pending_start.take().is_some();
            if !ours || matches!(self.services, Services::Frozen | Services::Stopping) {
                let msg = if cancelled {
                    format!("run: resource '{name}' lost quorum; not promoting it: its pending start is cancelled")
                } else {
                    format!("run: resource '{name}' lost quorum; not running its services here, nothing to do")
                };
                self.log(out, Level::Info, msg);
            } else {
                self.act_on_quorum_loss("lost quorum", out);
            }
            return;
        }
        if quorum
            && freeze
            && facts::regained_quorum(old, new)
            && new.role == Role::Primary
            // Running too: an instance restarted while its services were frozen took them
            // over as running (starting a frozen active target is a no-op).
            && matches!(self.services, Services::Frozen | Services::Running)
        {
            let msg = format!("resource '{name}' gained quorum, thawing Primary");
            self.log(out, Level::Info, msg);
            // A start still in flight (it promoted this node, then quorum went and came back)
            // decides by its result: counted as running now, its failure would be ignored and
            // the node would stay Primary with nothing running.
            self.services = if self.start_in_flight.is_some() {
                Services::Starting
            } else {
                Services::Running
            };
            out.push(Action::Thaw(self.freeze_units.clone()));
            return;
        }
        if new.role == Role::Primary && facts::lost_disk(old, new) {
            match self.cfg.on_disk_detach {
                DiskDetach::Ignore => {
                    let msg = format!("resource '{name}' lost local disk; on-disk-detach policy is 'ignore', not taking action");
                    self.log(out, Level::Info, msg);
                }
                DiskDetach::FailOver => match facts::uptodate_peer(new) {
                    Some(peer) => {
                        let msg = format!("resource '{name}' lost local disk, found UpToDate peer '{peer}', stopping services");
                        self.log(out, Level::Warn, msg);
                        self.stop(out);
                        return;
                    }
                    None => {
                        let msg = format!("resource '{name}' lost local disk, did not find UpToDate peer, keeping services");
                        self.log(out, Level::Warn, msg);
                    }
                },
            }
        }
        if new.role == Role::Primary
            && self.services == Services::Running
            && !self.cfg.preferred_nodes.is_empty()
            && self.cfg.preferred_nodes_policy == PreferredNodesPolicy::Always
        {
            let prefs = &self.cfg.preferred_nodes;
            let node_pos = preference_position(prefs, self.node.as_deref());
            for peer in facts::newly_uptodate_peers(old, new) {
                let Some(peer_pos) = prefs.iter().position(|p| *p == peer) else {
                    continue;
                };
                if self.node.is_some() && (peer_pos as u64) < node_pos {
                    let node = self.node.clone().unwrap_or_default();
                    let msg = format!("run: resource '{name}' has a new preferred node ('{peer}'), stopping services locally ('{node}')");
                    self.log(out, Level::Info, msg);
                    self.hold_failback(now);
                    self.stop(out);
                    return;
                }
            }
        }
    }

    /// After a successful start. Quorum lost before the machine saw it (an instance started
    /// on a Primary without quorum completes its services first) gets no transition, so
    /// on-quorum-loss applies now (HA campaign seed 142). An instance that completed the
    /// services of a Primary with quorum thaws them: an earlier instance may have frozen
    /// them and died before quorum came back (HA campaign seed 272).
    ///
    /// Services frozen while their start ran (quorum lost meanwhile) whose start completes
    /// with quorum back are thawed and running: the quorum return came while this node was
    /// still Secondary, so the thaw rule never fired, and a later quorum loss found them
    /// "frozen" and did nothing (HA campaign seeds 27672, 53073).
    pub(super) fn after_start(&mut self, out: &mut Vec<Action>) {
        let completing = std::mem::take(&mut self.completing);
        if !matches!(self.services, Services::Running | Services::Frozen)
            || self.policy != PolicyState::Known(SplitBrainPolicy::Quorum)
        {
            return;
        }
        let Some(no_quorum) = self.resource.as_deref().map(facts::without_quorum) else {
            return;
        };
        if self.services == Services::Frozen {
            if !no_quorum {
                let msg = format!(
                    "resource '{}' has quorum again as its start completes, thawing the services frozen meanwhile",
                    self.name
                );
                self.log(out, Level::Info, msg);
                self.services = Services::Running;
                out.push(Action::Thaw(self.freeze_units.clone()));
            }
            return;
        }
        if no_quorum {
            self.act_on_quorum_loss("has no quorum", out);
        } else if completing && self.cfg.on_quorum_loss == QuorumLoss::Freeze {
            let msg = format!(
                "resource '{}' has quorum, thawing services an earlier instance may have frozen",
                self.name
            );
            self.log(out, Level::Info, msg);
            out.push(Action::Thaw(self.freeze_units.clone()));
        }
    }

    /// Stops or freezes (on-quorum-loss) the services this node runs without quorum.
    pub(super) fn act_on_quorum_loss(&mut self, why: &str, out: &mut Vec<Action>) {
        let name = self.name.clone();
        if self.cfg.on_quorum_loss == QuorumLoss::Freeze {
            let msg = format!("run: resource '{name}' {why}; freezing its services");
            self.log(out, Level::Warn, msg);
            self.freeze(out);
        } else {
            let msg = format!("run: resource '{name}' {why}; stopping its services");
            self.log(out, Level::Warn, msg);
            self.stop(out);
        }
    }

    pub(super) fn stop(&mut self, out: &mut Vec<Action>) {
        self.pending_start = None;
        self.running_since = None;
        if self.services == Services::Stopping {
            // One stop at a time; the one in flight does the job.
            return;
        }
        let id = self.id();
        self.stop_in_flight = Some(id);
        self.services = Services::Stopping;
        self.counters.stops += 1;
        out.push(Action::Stop { id });
    }

    /// The shell runner's stop list ended at a failure (its list stops at the first one): it
    /// is run again, once per tick, until it completes. On a Primary nobody else can promote
    /// meanwhile; on a Secondary part of the services may still run, and the start record
    /// stays until a stop list completes.
    pub(super) fn retry_failed_stop(&mut self, out: &mut Vec<Action>) {
        if !self.stop_failed || self.services != Services::Stopped || self.start_in_flight.is_some()
        {
            return;
        }
        let primary = self
            .resource
            .as_deref()
            .is_some_and(|r| r.role == Role::Primary);
        let msg = if primary {
            format!(
                "'{}' is still Primary after its stop list failed: running the stop list again",
                self.name
            )
        } else {
            format!(
                "the stop list of '{}' failed: running it again to end what may still run",
                self.name
            )
        };
        self.log(out, Level::Warn, msg);
        self.stop(out);
    }

    fn freeze(&mut self, out: &mut Vec<Action>) {
        if self.cfg.runner == Runner::Shell {
            let msg = format!(
                "Freezing '{}' failed: Shell runner can not freeze/thaw services, use systemd",
                self.name
            );
            self.log(out, Level::Warn, msg);
            return;
        }
        self.services = Services::Frozen;
        out.push(Action::Freeze(
            self.freeze_units.iter().rev().cloned().collect(),
        ));
    }
}
