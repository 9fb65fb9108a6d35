//! A snippet file as ctl sees it: read with the daemon's own config code
//! (`drbd_reactor_config::parse_one`), then each plugin section reduced to the few keys ctl
//! shows. Tolerant of every key it does not need; must never write files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use drbd_reactor_config::{PluginInstance, PluginKind, Strictness};
use serde::Deserialize;

use crate::resolve::{state_of, Wanted};

pub const PROMETHEUS_DEFAULT_ADDRESS: &str = ":9942";
pub const AGENTX_DEFAULT_ADDRESS: &str = "localhost:705";

/// The promoter keys ctl needs (status, ls, edit, start-until, evict).
#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
pub struct Promoter {
    #[serde(default)]
    pub resources: BTreeMap<String, PromoterResource>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct PromoterResource {
    #[serde(default)]
    pub start: Vec<String>,
    #[serde(default)]
    pub on_drbd_demote_failure: Option<String>,
    #[serde(default)]
    pub dependencies_as: Option<String>,
    #[serde(default)]
    pub target_as: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
struct WithAddress {
    address: Option<String>,
}

/// One plugin section, reduced to what ctl shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Plugin {
    Promoter(Promoter),
    Prometheus { address: String },
    Debugger,
    Umh,
    Agentx { address: String },
}

impl Plugin {
    pub fn kind(&self) -> PluginKind {
        match self {
            Plugin::Promoter(_) => PluginKind::Promoter,
            Plugin::Prometheus { .. } => PluginKind::Prometheus,
            Plugin::Debugger => PluginKind::Debugger,
            Plugin::Umh => PluginKind::Umh,
            Plugin::Agentx { .. } => PluginKind::Agentx,
        }
    }
}

/// A parsed snippet file.
#[derive(Debug, Clone)]
pub struct Snippet {
    pub path: PathBuf,
    pub enabled: bool,
    pub plugins: Vec<Plugin>,
}

impl Snippet {
    pub fn promoters(&self) -> impl Iterator<Item = &Promoter> {
        self.plugins.iter().filter_map(|p| match p {
            Plugin::Promoter(promoter) => Some(promoter),
            _ => None,
        })
    }
}

fn reduce(section: &PluginInstance) -> anyhow::Result<Plugin> {
    let with_address = || -> anyhow::Result<Option<String>> {
        let (parsed, _): (WithAddress, _) = section.parse(Strictness::WarnUnknownKeys)?;
        Ok(parsed.address)
    };
    Ok(match section.kind {
        PluginKind::Promoter => {
            let (promoter, _): (Promoter, _) = section.parse(Strictness::WarnUnknownKeys)?;
            Plugin::Promoter(promoter)
        }
        PluginKind::Prometheus => Plugin::Prometheus {
            address: with_address()?.unwrap_or_else(|| PROMETHEUS_DEFAULT_ADDRESS.into()),
        },
        PluginKind::Agentx => Plugin::Agentx {
            address: with_address()?.unwrap_or_else(|| AGENTX_DEFAULT_ADDRESS.into()),
        },
        PluginKind::Debugger => Plugin::Debugger,
        PluginKind::Umh => Plugin::Umh,
    })
}

/// Parses `text` as the snippet `path` exactly as the daemon would (errors name file:line
/// and key), then reduces each plugin section.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Plugin>, drbd_reactor_config::ConfigError> {
    let config = drbd_reactor_config::parse_one(path, text, true)?;
    config
        .plugins
        .iter()
        .map(|section| {
            reduce(section).map_err(|err| {
                match err.downcast::<drbd_reactor_config::ConfigError>() {
                    Ok(config_error) => config_error,
                    Err(other) => drbd_reactor_config::ConfigError::io(
                        path,
                        other.to_string(),
                        std::io::Error::other("invalid plugin section"),
                    ),
                }
            })
        })
        .collect()
}

/// Reads and parses the snippet file `path`.
pub fn load(path: &Path) -> anyhow::Result<Snippet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Could not read snippet '{}'", path.display()))?;
    let plugins = parse(path, &text)
        .with_context(|| format!("Could not parse snippet '{}'", path.display()))?;
    Ok(Snippet {
        path: path.to_path_buf(),
        enabled: state_of(path) == Some(Wanted::Enabled),
        plugins,
    })
}

/// The `:port` form for an unspecified IP (the original's display), `ip:port` otherwise;
/// anything unparsable as it is written.
pub fn display_address(address: &str) -> String {
    if address.starts_with(':') {
        return address.to_string();
    }
    match address.parse::<std::net::SocketAddr>() {
        Ok(sa) if sa.ip().is_unspecified() => format!(":{}", sa.port()),
        Ok(sa) => sa.to_string(),
        Err(_) => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_type_is_reduced_with_defaults_and_unknown_keys_tolerated() {
        let text = r#"
[[promoter]]
id = "old"
[promoter.resources.r1]
start = ["a.mount", "b.service"]
on-drbd-demote-failure = "reboot"
secondary-force = false
[[prometheus]]
enums = true
[[agentx]]
address = "10.0.0.1:705"
[[debugger]]
[[umh]]
"#;
        let plugins = parse(Path::new("/d/x.toml"), text).unwrap();
        let Plugin::Promoter(p) = &plugins[0] else {
            panic!()
        };
        assert_eq!(p.resources["r1"].start, ["a.mount", "b.service"]);
        assert_eq!(
            p.resources["r1"].on_drbd_demote_failure.as_deref(),
            Some("reboot")
        );
        assert_eq!(
            plugins[1],
            Plugin::Prometheus {
                address: ":9942".into()
            }
        );
        assert_eq!(
            plugins[2],
            Plugin::Agentx {
                address: "10.0.0.1:705".into()
            }
        );
        assert_eq!(plugins[3], Plugin::Debugger);
        assert_eq!(plugins[4], Plugin::Umh);
    }

    #[test]
    fn a_wrong_type_names_file_line_and_key() {
        let text = "[[promoter]]\n[promoter.resources.r1]\nstart = [1]\n";
        let err = parse(Path::new("/d/x.toml"), text).unwrap_err().to_string();
        assert!(
            err.starts_with("/d/x.toml:3:1: key 'resources.r1.start[0]'"),
            "{err}"
        );
    }

    #[test]
    fn unspecified_addresses_show_as_port_only() {
        assert_eq!(display_address(":9942"), ":9942");
        assert_eq!(display_address("[::]:9942"), ":9942");
        assert_eq!(display_address("0.0.0.0:1"), ":1");
        assert_eq!(display_address("127.0.0.1:9942"), "127.0.0.1:9942");
        assert_eq!(display_address("[::1]:9942"), "[::1]:9942");
    }
}
