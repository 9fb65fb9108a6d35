//! `status` (spec ctl.md §4.1): the report per plugin instance, its JSON shape and its text
//! rendering. `gather` is the shell (drbdsetup, systemctl, TCP connects); `render_text` and
//! the JSON are pure. Must never abort on an unexpected systemd state.

use std::fmt::Write;

use serde::Serialize;

use crate::color::{paint, Style};
use crate::snippet::{display_address, Plugin, Snippet};
use crate::system::{ActiveState, FreezerState, PrimaryOn};
use crate::units;

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    pub status: ActiveState,
    pub freezer: FreezerState,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PromoterStatus {
    pub drbd_resource: String,
    pub path: String,
    pub enabled: bool,
    /// Local node name, the Primary peer's connection name, or "unknown".
    pub primary_on: String,
    pub target: Unit,
    pub dependencies: Vec<Unit>,
    pub status: ActiveState,
    #[serde(skip)]
    pub primary: PrimaryOn,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct AddressStatus {
    pub path: String,
    pub enabled: bool,
    pub address: String,
    pub status: ActiveState,
    /// `--verbose` TCP connects: (socket address, Ok or the error).
    #[serde(skip)]
    pub connects: Vec<(String, Result<(), String>)>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PlainStatus {
    pub path: String,
    pub enabled: bool,
    pub status: ActiveState,
}

#[derive(Serialize, Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub promoter: Vec<PromoterStatus>,
    pub prometheus: Vec<AddressStatus>,
    pub debugger: Vec<PlainStatus>,
    pub umh: Vec<PlainStatus>,
    pub agentx: Vec<AddressStatus>,
}

/// The system queries `gather` needs, so tests can answer them.
pub trait Probe {
    fn node_name(&self) -> String;
    fn primary_on(&self, resource: &str) -> PrimaryOn;
    fn unit(&self, name: &str) -> Unit;
    fn connect(&self, address: &str) -> Vec<(String, Result<(), String>)>;
}

/// The real system.
pub struct System;

impl Probe for System {
    fn node_name(&self) -> String {
        crate::system::node_name()
    }
    fn primary_on(&self, resource: &str) -> PrimaryOn {
        crate::system::primary_on(resource)
    }
    fn unit(&self, name: &str) -> Unit {
        Unit {
            name: name.to_string(),
            status: crate::system::active_state(name),
            freezer: crate::system::freezer_state(name),
        }
    }
    fn connect(&self, address: &str) -> Vec<(String, Result<(), String>)> {
        let shown = display_address(address);
        let targets = match shown.strip_prefix(':') {
            Some(port) => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
            None => vec![shown],
        };
        targets
            .into_iter()
            .map(|target| {
                let result = target
                    .parse::<std::net::SocketAddr>()
                    .map_err(|e| e.to_string())
                    .and_then(|sa| {
                        std::net::TcpStream::connect_timeout(&sa, std::time::Duration::from_secs(2))
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    });
                (target, result)
            })
            .collect()
    }
}

/// Collects the report for `snippets` (in order), promoter entries limited to `resources`
/// when that is not empty.
pub fn gather(
    snippets: &[Snippet],
    resources: &[String],
    verbose: bool,
    probe: &dyn Probe,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let node = probe.node_name();
    for snippet in snippets {
        let path = snippet.path.display().to_string();
        let enabled = snippet.enabled;
        for plugin in &snippet.plugins {
            match plugin {
                Plugin::Promoter(promoter) => {
                    for (res, conf) in &promoter.resources {
                        if !resources.is_empty() && !resources.contains(res) {
                            continue;
                        }
                        let primary = probe.primary_on(res);
                        let primary_on = match &primary {
                            PrimaryOn::Local => node.clone(),
                            PrimaryOn::Peer(peer) => peer.clone(),
                            PrimaryOn::Unknown => "unknown".into(),
                        };
                        let target = probe.unit(&units::target(res));
                        let mut dependencies = vec![probe.unit(&units::promote(res))];
                        for entry in &conf.start {
                            let name = units::start_unit(entry, res)
                                .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
                            dependencies.push(probe.unit(&name));
                        }
                        report.promoter.push(PromoterStatus {
                            drbd_resource: res.clone(),
                            path: path.clone(),
                            enabled,
                            primary_on,
                            status: target.status,
                            target,
                            dependencies,
                            primary,
                        });
                    }
                }
                Plugin::Prometheus { address } => report.prometheus.push(AddressStatus {
                    path: path.clone(),
                    enabled,
                    address: display_address(address),
                    status: ActiveState::Active,
                    connects: if verbose {
                        probe.connect(address)
                    } else {
                        Vec::new()
                    },
                }),
                Plugin::Agentx { address } => report.agentx.push(AddressStatus {
                    path: path.clone(),
                    enabled,
                    address: address.clone(),
                    status: ActiveState::Active,
                    connects: Vec::new(),
                }),
                Plugin::Debugger => report.debugger.push(PlainStatus {
                    path: path.clone(),
                    enabled,
                    status: ActiveState::Active,
                }),
                Plugin::Umh => report.umh.push(PlainStatus {
                    path: path.clone(),
                    enabled,
                    status: ActiveState::Active,
                }),
            }
        }
    }
    Ok(report)
}

/// The compact JSON (no trailing newline).
pub fn to_json(report: &Report) -> String {
    serde_json::to_string(report).expect("the report serializes")
}

fn symbol(state: ActiveState, color: bool) -> String {
    match state {
        ActiveState::Active => paint("●", Style::BoldGreen, color),
        ActiveState::Reloading | ActiveState::Refreshing => paint("↻", Style::BoldGreen, color),
        ActiveState::Inactive | ActiveState::Maintenance => "○".into(),
        ActiveState::Failed => paint("×", Style::BoldRed, color),
        ActiveState::Activating | ActiveState::Deactivating => paint("●", Style::Bold, color),
        ActiveState::Unknown => "?".into(),
    }
}

fn freezer_suffix(freezer: FreezerState, color: bool) -> String {
    match freezer {
        FreezerState::Freezing => format!("({})", paint("freezing", Style::Blue, color)),
        FreezerState::Frozen => format!("({})", paint("frozen", Style::Blue, color)),
        FreezerState::Thawing => "(thawing)".into(),
        FreezerState::Running | FreezerState::Unknown => String::new(),
    }
}

fn disabled(enabled: bool) -> &'static str {
    if enabled {
        ""
    } else {
        " (disabled)"
    }
}

/// The text output: `<path>:`, the entry's block, an empty line; promoters first.
pub fn render_text(report: &Report, color: bool) -> String {
    let mut out = String::new();
    for p in &report.promoter {
        let on = match &p.primary {
            PrimaryOn::Local => "this node".to_string(),
            PrimaryOn::Peer(peer) => format!("node '{peer}'"),
            PrimaryOn::Unknown => "<unknown>".to_string(),
        };
        let _ = writeln!(out, "{}:", p.path);
        let _ = writeln!(
            out,
            "Promoter: Resource {}{} currently active on {on}",
            p.drbd_resource,
            disabled(p.enabled)
        );
        if p.enabled {
            let _ = writeln!(out, "{} {}", symbol(p.target.status, color), p.target.name);
            let last = p.dependencies.len().saturating_sub(1);
            for (i, unit) in p.dependencies.iter().enumerate() {
                let branch = if i == last { "└─" } else { "├─" };
                let _ = writeln!(
                    out,
                    "{} {branch} {}{}",
                    symbol(unit.status, color),
                    unit.name,
                    freezer_suffix(unit.freezer, color)
                );
            }
        } else if p.primary == PrimaryOn::Local {
            let _ = writeln!(
                out,
                "{} disabled but Primary",
                paint("WARN:", Style::BoldRed, color)
            );
        }
        out.push('\n');
    }
    for p in &report.prometheus {
        let _ = writeln!(out, "{}:", p.path);
        let _ = writeln!(
            out,
            "Prometheus{}: listening on {}",
            disabled(p.enabled),
            paint(&p.address, Style::BoldGreen, color)
        );
        for (target, result) in &p.connects {
            let verdict = match result {
                Ok(()) => paint("success", Style::BoldGreen, color),
                Err(e) => format!("{} ({e})", paint("failed", Style::BoldRed, color)),
            };
            let _ = writeln!(out, "TCP Connect ({target}): {verdict}");
        }
        out.push('\n');
    }
    for (name, list) in [("Debugger", &report.debugger), ("UMH", &report.umh)] {
        for p in list {
            let _ = writeln!(out, "{}:\n{name}{}: started\n", p.path, disabled(p.enabled));
        }
    }
    for p in &report.agentx {
        let _ = writeln!(out, "{}:", p.path);
        let _ = writeln!(
            out,
            "AgentX{}: connecting to main agent at {}\n",
            disabled(p.enabled),
            paint(&p.address, Style::BoldGreen, color)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snippet::{Promoter, PromoterResource};
    use std::path::PathBuf;

    struct Fake;
    impl Probe for Fake {
        fn node_name(&self) -> String {
            "alpha".into()
        }
        fn primary_on(&self, resource: &str) -> PrimaryOn {
            if resource == "r1" {
                PrimaryOn::Local
            } else {
                PrimaryOn::Peer("beta".into())
            }
        }
        fn unit(&self, name: &str) -> Unit {
            let (status, freezer) = if name.ends_with(".mount") {
                (ActiveState::Failed, FreezerState::Frozen)
            } else {
                (ActiveState::Active, FreezerState::Running)
            };
            Unit {
                name: name.into(),
                status,
                freezer,
            }
        }
        fn connect(&self, address: &str) -> Vec<(String, Result<(), String>)> {
            vec![(address.into(), Err("refused".into()))]
        }
    }

    fn promoter(res: &str, start: &[&str]) -> Plugin {
        let mut p = Promoter::default();
        p.resources.insert(
            res.into(),
            PromoterResource {
                start: start.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
        );
        Plugin::Promoter(p)
    }

    #[test]
    fn promoter_trees_colours_and_disabled_warnings_render_as_the_spec_shows() {
        let snippets = vec![
            Snippet {
                path: PathBuf::from("/d/a.toml"),
                enabled: true,
                plugins: vec![promoter("r0", &["x.mount", "y.service"])],
            },
            Snippet {
                path: PathBuf::from("/d/b.toml.disabled"),
                enabled: false,
                plugins: vec![promoter("r1", &[])],
            },
            Snippet {
                path: PathBuf::from("/d/c.toml"),
                enabled: true,
                plugins: vec![Plugin::Prometheus {
                    address: "[::]:1".into(),
                }],
            },
        ];
        let report = gather(&snippets, &[], true, &Fake).unwrap();
        assert_eq!(report.promoter[0].primary_on, "beta");
        assert_eq!(report.promoter[1].primary_on, "alpha");
        assert_eq!(
            render_text(&report, false),
            "/d/a.toml:\nPromoter: Resource r0 currently active on node 'beta'\n● drbd-services@r0.target\n\
             ● ├─ drbd-promote@r0.service\n× ├─ x.mount(frozen)\n● └─ y.service\n\n\
             /d/b.toml.disabled:\nPromoter: Resource r1 (disabled) currently active on this node\nWARN: disabled but Primary\n\n\
             /d/c.toml:\nPrometheus: listening on :1\nTCP Connect ([::]:1): failed (refused)\n\n"
        );
        let coloured = render_text(&report, true);
        assert!(
            coloured.contains("\x1b[1;31m×\x1b[0m ├─ x.mount(\x1b[34mfrozen\x1b[0m)"),
            "{coloured}"
        );
        assert!(coloured.contains("\x1b[1;31mWARN:\x1b[0m disabled but Primary"));
    }
}
