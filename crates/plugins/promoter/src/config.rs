//! The `[[promoter]]` section (spec §2): every key with its default, typed once at load.
//!
//! Unknown keys are accepted (the original ignored them; the config crate warns about them).
//! Equality is instance identity on reload: two configs are the same instance exactly when
//! every key of every resource is equal. Must never: do I/O or log; warnings and errors are
//! returned, naming the key, and the config crate adds file and line.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `[[promoter]]` instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PromoterConfig {
    /// Deprecated and ignored, but part of the instance's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The resources of this instance, by DRBD resource name (sorted, like the original).
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceConfig>,
}

/// How start/stop/freeze are executed (§6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    #[default]
    Systemd,
    Shell,
}

/// A systemd dependency directive (§3.3); spelled exactly like systemd does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Dependency {
    Wants,
    #[default]
    Requires,
    Requisite,
    BindsTo,
}

impl Dependency {
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Wants => "Wants",
            Dependency::Requires => "Requires",
            Dependency::Requisite => "Requisite",
            Dependency::BindsTo => "BindsTo",
        }
    }
}

/// systemd `FailureAction=` used when demotion fails; `none` = no escalation drop-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemoteFailureAction {
    #[default]
    None,
    Reboot,
    RebootForce,
    RebootImmediate,
    Poweroff,
    PoweroffForce,
    PoweroffImmediate,
    Exit,
    ExitForce,
}

impl DemoteFailureAction {
    /// The `FailureAction=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            DemoteFailureAction::None => "none",
            DemoteFailureAction::Reboot => "reboot",
            DemoteFailureAction::RebootForce => "reboot-force",
            DemoteFailureAction::RebootImmediate => "reboot-immediate",
            DemoteFailureAction::Poweroff => "poweroff",
            DemoteFailureAction::PoweroffForce => "poweroff-force",
            DemoteFailureAction::PoweroffImmediate => "poweroff-immediate",
            DemoteFailureAction::Exit => "exit",
            DemoteFailureAction::ExitForce => "exit-force",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreferredNodesPolicy {
    #[default]
    Always,
    StartOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuorumLoss {
    #[default]
    Shutdown,
    Freeze,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskDetach {
    #[default]
    Ignore,
    FailOver,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn five() -> u64 {
    5
}

/// `[promoter.resources.<RES>]` (§2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResourceConfig {
    #[serde(default)]
    pub start: Vec<String>,
    /// Shell runner only; empty means `start` reversed.
    #[serde(default)]
    pub stop: Vec<String>,
    #[serde(default)]
    pub runner: Runner,
    #[serde(default)]
    pub dependencies_as: Dependency,
    #[serde(default)]
    pub target_as: Dependency,
    #[serde(default)]
    pub on_drbd_demote_failure: DemoteFailureAction,
    #[serde(default = "yes")]
    pub secondary_force: bool,
    #[serde(default)]
    pub stop_services_on_exit: bool,
    #[serde(default = "one")]
    pub sleep_before_promote_factor: u32,
    #[serde(default)]
    pub preferred_nodes: Vec<String>,
    #[serde(default)]
    pub preferred_nodes_policy: PreferredNodesPolicy,
    #[serde(default)]
    pub on_quorum_loss: QuorumLoss,
    #[serde(default)]
    pub on_disk_detach: DiskDetach,
    /// Seconds.
    #[serde(default = "five")]
    pub fencing_promote_delay: u64,
    #[serde(default = "yes")]
    pub adjust_resource_on_start: bool,
    /// Deprecated, ignored; warned about when non-empty.
    #[serde(default)]
    pub on_stop_failure: String,
}

impl Default for ResourceConfig {
    fn default() -> Self {
        ResourceConfig {
            start: Vec::new(),
            stop: Vec::new(),
            runner: Runner::default(),
            dependencies_as: Dependency::default(),
            target_as: Dependency::default(),
            on_drbd_demote_failure: DemoteFailureAction::default(),
            secondary_force: true,
            stop_services_on_exit: false,
            sleep_before_promote_factor: 1,
            preferred_nodes: Vec::new(),
            preferred_nodes_policy: PreferredNodesPolicy::default(),
            on_quorum_loss: QuorumLoss::default(),
            on_disk_detach: DiskDetach::default(),
            fencing_promote_delay: 5,
            adjust_resource_on_start: true,
            on_stop_failure: String::new(),
        }
    }
}

impl ResourceConfig {
    /// The shell runner's stop list: `stop`, or `start` reversed when `stop` is empty.
    pub fn effective_stop(&self) -> Vec<String> {
        if self.stop.is_empty() {
            self.start.iter().rev().cloned().collect()
        } else {
            self.stop.clone()
        }
    }
}

/// A warning or error about one key, relative to the `[[promoter]]` section
/// (`resources.r0.start[1]`); the config crate turns the key into file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMessage {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for KeyMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The warnings the deprecated keys ask for (§2.1, §2.2), to be logged at (re)start.
pub fn deprecation_warnings(config: &PromoterConfig) -> Vec<KeyMessage> {
    let mut out = Vec::new();
    if config.id.is_some() {
        out.push(KeyMessage {
            key: "id".into(),
            message: "'id' is deprecated and ignored!".into(),
        });
    }
    for (name, res) in &config.resources {
        if !res.on_stop_failure.is_empty() {
            out.push(KeyMessage {
                key: format!("resources.{name}.on-stop-failure"),
                message:
                    "'on-stop-failure' is deprecated and ignored!; use 'on-drbd-demote-failure'"
                        .into(),
            });
        }
    }
    out
}

/// Validates an instance: start entries resolve (§3; errors as the original words them),
/// and warnings for a mount as the topmost unit and an empty systemd start list.
/// Errors stop the instance; warnings are only logged.
pub fn validate(config: &PromoterConfig) -> (Vec<KeyMessage>, Vec<KeyMessage>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (name, res) in &config.resources {
        if res.runner != Runner::Systemd {
            continue;
        }
        match crate::units::resolve_start_list(name, &res.start) {
            Ok(units) => {
                if units.is_empty() {
                    warnings.push(KeyMessage {
                        key: format!("resources.{name}.start"),
                        message: format!("Resource '{name}' has an empty start list"),
                    });
                }
                if units.last().is_some_and(|u| u.name.ends_with(".mount")) {
                    warnings.push(KeyMessage {
                        key: format!("resources.{name}.start[{}]", units.len() - 1),
                        message: "Mount unit should not be the topmost unit, consider using an OCF file system RA".into(),
                    });
                }
            }
            Err(e) => errors.push(KeyMessage {
                key: format!("resources.{name}.start[{}]", e.index),
                message: e.message,
            }),
        }
    }
    (errors, warnings)
}

/// The same resource in two instances (§12.18): both would write the same drop-ins and both
/// would react. Returns an error per resource seen again, naming its key in the later section.
pub fn duplicate_resources(instances: &[&PromoterConfig]) -> Vec<(usize, KeyMessage)> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        for name in inst.resources.keys() {
            if let Some(first) = seen.get(name.as_str()) {
                out.push((
                    i,
                    KeyMessage {
                        key: format!("resources.{name}"),
                        message: format!(
                            "resource '{name}' is already managed by promoter instance {}",
                            first + 1
                        ),
                    },
                ));
            } else {
                seen.insert(name, i);
            }
        }
    }
    out
}
