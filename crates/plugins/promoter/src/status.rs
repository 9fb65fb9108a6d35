//! The per-resource promoter state published to state readers (prometheus, drbd-reactorctl
//! status): whether this node runs the services, the DRBD role, the last decision and its
//! reason, and counters.
//!
//! Must never: be written by anything but the resource's own task.

use crate::policy::{Machine, Services, SplitBrainPolicy};
use drbd::vocab::Role;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResourceStatus {
    /// This node runs (or is starting) the services.
    pub runs_services: bool,
    pub services: Services,
    pub role: Role,
    pub may_promote: bool,
    pub policy: Option<SplitBrainPolicy>,
    /// The units a start brings up, in order (for the systemd runner).
    pub start_units: Vec<String>,
    /// systemd's view of the target, the promote unit and the start units, as last queried
    /// (after each start, stop and ticker probe; only when the host asks for it).
    pub unit_states: Vec<UnitState>,
    pub last_decision: Option<String>,
    pub starts: u64,
    pub stops: u64,
    pub failures: u64,
    pub lost_races: u64,
}

impl ResourceStatus {
    pub fn of(m: &Machine, start_units: &[String], unit_states: &[UnitState]) -> ResourceStatus {
        let r = m.resource();
        ResourceStatus {
            runs_services: matches!(m.services(), Services::Running | Services::Frozen),
            services: m.services(),
            role: r.map(|r| r.role).unwrap_or_default(),
            may_promote: r.is_some_and(|r| r.may_promote),
            policy: m.policy(),
            start_units: start_units.to_vec(),
            unit_states: unit_states.to_vec(),
            last_decision: m.last_decision.as_ref().map(|d| d.message.clone()),
            starts: m.counters.starts,
            stops: m.counters.stops,
            failures: m.counters.failures,
            lost_races: m.counters.lost_races,
        }
    }
}

/// One unit as `systemctl show` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UnitState {
    pub unit: String,
    pub active_state: String,
    pub freezer_state: String,
}

/// Parses `systemctl show --property=Id --property=ActiveState --property=FreezerState U...`
/// (one block per unit, separated by empty lines).
pub fn parse_unit_states(stdout: &str) -> Vec<UnitState> {
    let mut out = Vec::new();
    for block in stdout.split("\n\n") {
        let mut u = UnitState {
            unit: String::new(),
            active_state: String::new(),
            freezer_state: String::new(),
        };
        for line in block.lines() {
            if let Some((k, v)) = line.split_once('=') {
                match k {
                    "Id" => u.unit = v.to_string(),
                    "ActiveState" => u.active_state = v.to_string(),
                    "FreezerState" => u.freezer_state = v.to_string(),
                    _ => {}
                }
            }
        }
        if !u.unit.is_empty() {
            out.push(u);
        }
    }
    out
}

/// The state of one promoter instance, by resource name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromoterStatus {
    pub resources: BTreeMap<String, ResourceStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_show_blocks_become_unit_states() {
        let out = "Id=drbd-services@r0.target\nActiveState=active\nFreezerState=running\n\nId=a.service\nActiveState=failed\nFreezerState=frozen\n";
        let s = parse_unit_states(out);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[1],
            UnitState {
                unit: "a.service".into(),
                active_state: "failed".into(),
                freezer_state: "frozen".into()
            }
        );
    }
}
