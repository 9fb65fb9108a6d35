//! `status` (spec ctl.md §4.1): the report per plugin instance, its JSON shape and its text
//! rendering. `gather` is the shell (drbdsetup, systemctl, TCP connects); `render_text` and
//! the JSON are pure. Must never abort on an unexpected systemd state. For a promoter
//! resource it also shows what the running daemon decided (its status file, if any).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

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
    /// What the running daemon's promoter decided for this resource on this node (its
    /// status file); absent when no daemon manages it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reactor: Option<ReactorView>,
    #[serde(skip)]
    pub primary: PrimaryOn,
}

/// The part of the promoter's status file (`$DRBD_REACTOR_RUN_DIR/promoter/status/
/// <ESC(RES)>.json`, the daemon's `PromoterStatus` with this one resource) that ctl shows.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReactorView {
    #[serde(rename = "runs-services")]
    pub runs_services: bool,
    pub services: String,
    #[serde(rename = "last-decision", default)]
    pub last_decision: Option<String>,
    #[serde(default)]
    pub starts: u64,
    #[serde(default)]
    pub stops: u64,
    #[serde(default)]
    pub failures: u64,
    #[serde(rename = "lost-races", default)]
    pub lost_races: u64,
}

#[derive(Deserialize)]
struct StatusFile {
    resources: std::collections::BTreeMap<String, ReactorView>,
}

/// Reads `resource`'s status file from `run_dir`; `None` if there is none or it is unreadable.
pub fn read_reactor_view(run_dir: &std::path::Path, resource: &str) -> Option<ReactorView> {
    let path = run_dir.join("promoter/status").join(format!(
        "{}.json",
        drbd_reactor_promoter::units::escape_unit(resource)
    ));
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<StatusFile>(&text)
        .ok()?
        .resources
        .remove(resource)
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
    /// The running daemon's promoter status for `resource`, if it publishes one.
    fn reactor_view(&self, _resource: &str) -> Option<ReactorView> {
        None
    }
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
    fn reactor_view(&self, resource: &str) -> Option<ReactorView> {
        let run_dir = std::env::var_os("DRBD_REACTOR_RUN_DIR").map_or_else(
            || std::path::PathBuf::from(crate::reload::DEFAULT_RUN_DIR),
            std::path::PathBuf::from,
        );
        read_reactor_view(&run_dir, resource)
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
                            reactor: probe.reactor_view(res),
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

/// Why this node does or does not run the services, as the daemon decided (an addition:
/// only shown when the daemon publishes its status).
fn reactor_lines(out: &mut String, r: &ReactorView) {
    let runs = if r.runs_services {
        format!("runs the services here ({})", r.services)
    } else {
        format!("does not run the services here ({})", r.services)
    };
    let _ = writeln!(
        out,
        "drbd-reactor: {runs}; starts {}, stops {}, failures {}, lost races {}",
        r.starts, r.stops, r.failures, r.lost_races
    );
    if let Some(d) = &r.last_decision {
        let _ = writeln!(out, "  last decision: {d}");
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
        if let Some(r) = &p.reactor {
            reactor_lines(&mut out, r);
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

    /// A daemon that published its decision for r0.
    struct Decided;
    impl Probe for Decided {
        fn node_name(&self) -> String {
            Fake.node_name()
        }
        fn primary_on(&self, resource: &str) -> PrimaryOn {
            Fake.primary_on(resource)
        }
        fn unit(&self, name: &str) -> Unit {
            Fake.unit(name)
        }
        fn connect(&self, address: &str) -> Vec<(String, Result<(), String>)> {
            Fake.connect(address)
        }
        fn reactor_view(&self, resource: &str) -> Option<ReactorView> {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("promoter/status")).unwrap();
            std::fs::write(
                dir.path().join("promoter/status/r0.json"),
                r#"{"resources":{"r0":{"runs-services":false,"services":"stopped","role":"Secondary","may-promote":false,"policy":"quorum","start-units":[],"unit-states":[],"last-decision":"not promoting r0: peer beta is Primary","starts":1,"stops":1,"failures":0,"lost-races":1}}}"#,
            )
            .unwrap();
            read_reactor_view(dir.path(), resource)
        }
    }

    #[test]
    fn a_published_decision_says_why_this_node_does_not_run_the_services() {
        let snippets = vec![Snippet {
            path: PathBuf::from("/d/a.toml"),
            enabled: true,
            plugins: vec![promoter("r0", &[])],
        }];
        let report = gather(&snippets, &[], false, &Decided).unwrap();
        let text = render_text(&report, false);
        assert!(
            text.ends_with(
                "● └─ drbd-promote@r0.service\n\
                 drbd-reactor: does not run the services here (stopped); starts 1, stops 1, failures 0, lost races 1\n\
                 \x20 last decision: not promoting r0: peer beta is Primary\n\n"
            ),
            "{text}"
        );
        let json = to_json(&report);
        assert!(json.contains(r#""reactor":{"runs-services":false,"services":"stopped","last-decision":"not promoting r0: peer beta is Primary""#), "{json}");
        // Without a status file the shapes are the spec's.
        let plain = gather(&snippets, &[], false, &Fake).unwrap();
        assert!(!to_json(&plain).contains("reactor"));
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
