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
    pub last_decision: Option<String>,
    pub starts: u64,
    pub stops: u64,
    pub failures: u64,
    pub lost_races: u64,
}

impl ResourceStatus {
    pub fn of(m: &Machine, start_units: &[String]) -> ResourceStatus {
        let r = m.resource();
        ResourceStatus {
            runs_services: matches!(m.services(), Services::Running | Services::Frozen),
            services: m.services(),
            role: r.map(|r| r.role).unwrap_or_default(),
            may_promote: r.is_some_and(|r| r.may_promote),
            policy: m.policy(),
            start_units: start_units.to_vec(),
            last_decision: m.last_decision.as_ref().map(|d| d.message.clone()),
            starts: m.counters.starts,
            stops: m.counters.stops,
            failures: m.counters.failures,
            lost_races: m.counters.lost_races,
        }
    }
}

/// The state of one promoter instance, by resource name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromoterStatus {
    pub resources: BTreeMap<String, ResourceStatus>,
}
