//! The cluster file (TOML): nodes, resources, their volumes and options.
//!
//! Must never: accept an unknown key silently (typos would simulate a different cluster).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterConfig {
    #[serde(rename = "node")]
    pub nodes: Vec<NodeConfig>,
    #[serde(rename = "resource", default)]
    pub resources: Vec<ResourceConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeConfig {
    pub name: String,
    pub id: u32,
    /// IPv4 address for paths; default 10.0.0.<id+1>.
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnNoQuorum {
    SuspendIo,
    IoError,
}

impl OnNoQuorum {
    pub fn as_str(self) -> &'static str {
        match self {
            OnNoQuorum::SuspendIo => "suspend-io",
            OnNoQuorum::IoError => "io-error",
        }
    }
    pub fn parse(s: &str) -> Option<OnNoQuorum> {
        match s {
            "suspend-io" => Some(OnNoQuorum::SuspendIo),
            "io-error" => Some(OnNoQuorum::IoError),
            _ => None,
        }
    }
}

/// Resource options (`drbdsetup resource-options` can change them at run time).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ResourceOptions {
    /// `majority` or `off` (a number is taken as majority).
    #[serde(default = "majority")]
    pub quorum: String,
    #[serde(default = "suspend")]
    pub on_no_quorum: OnNoQuorum,
    #[serde(default = "suspend")]
    pub on_no_data_accessible: OnNoQuorum,
    /// `disconnect` or `force-secondary`.
    #[serde(default = "force_secondary")]
    pub on_suspended_primary_outdated: String,
    #[serde(default)]
    pub auto_promote: bool,
    /// net fencing: `dont-care`, `resource-only`, `resource-and-stonith`.
    #[serde(default = "dont_care")]
    pub fencing: String,
    #[serde(default = "retry_connect")]
    pub rr_conflict: String,
}

fn majority() -> String {
    "majority".into()
}
fn suspend() -> OnNoQuorum {
    OnNoQuorum::SuspendIo
}
fn force_secondary() -> String {
    "force-secondary".into()
}
fn dont_care() -> String {
    "dont-care".into()
}
fn retry_connect() -> String {
    "retry-connect".into()
}

impl Default for ResourceOptions {
    fn default() -> Self {
        toml::from_str("").unwrap()
    }
}

impl ResourceOptions {
    pub fn quorum_enabled(&self) -> bool {
        self.quorum != "off"
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ResourceConfig {
    pub name: String,
    /// Nodes that have the resource; default all.
    #[serde(default)]
    pub nodes: Option<Vec<String>>,
    /// Intentionally diskless nodes (DRBD clients, e.g. tie-breakers).
    #[serde(default)]
    pub clients: Vec<String>,
    #[serde(default = "port")]
    pub port: u16,
    /// Resync rate in KiB/s.
    #[serde(default = "rate")]
    pub resync_rate: u64,
    #[serde(default)]
    pub options: ResourceOptions,
    #[serde(rename = "volume", default = "one_volume")]
    pub volumes: Vec<VolumeConfig>,
}

fn port() -> u16 {
    7789
}
fn rate() -> u64 {
    102_400
}
fn one_volume() -> Vec<VolumeConfig> {
    vec![VolumeConfig {
        number: 0,
        minor: 1000,
        size: 1_048_576,
        disk: "/dev/vg/disk0".into(),
    }]
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VolumeConfig {
    pub number: u32,
    pub minor: u32,
    /// KiB.
    #[serde(default = "size")]
    pub size: u64,
    /// Backing device path on diskful nodes.
    #[serde(default = "disk")]
    pub disk: String,
}

fn size() -> u64 {
    1_048_576
}
fn disk() -> String {
    "/dev/vg/disk0".into()
}

impl ClusterConfig {
    pub fn parse(text: &str) -> Result<ClusterConfig, String> {
        let c: ClusterConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        for r in &c.resources {
            for n in r.nodes.iter().flatten().chain(&r.clients) {
                if !c.nodes.iter().any(|x| &x.name == n) {
                    return Err(format!("resource {}: unknown node {n}", r.name));
                }
            }
        }
        Ok(c)
    }

    /// A cluster of `names` (node ids 0..) with one resource on all of them.
    pub fn simple(names: &[&str], resource: &str) -> ClusterConfig {
        let mut text = String::new();
        for (i, n) in names.iter().enumerate() {
            text.push_str(&format!("[[node]]\nname = \"{n}\"\nid = {i}\n"));
        }
        text.push_str(&format!("[[resource]]\nname = \"{resource}\"\n"));
        ClusterConfig::parse(&text).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_one_volume_majority_quorum_and_suspend_io() {
        let c = ClusterConfig::simple(&["a", "b"], "r0");
        let r = &c.resources[0];
        assert_eq!(r.volumes.len(), 1);
        assert_eq!(r.volumes[0].minor, 1000);
        assert!(r.options.quorum_enabled());
        assert_eq!(r.options.on_no_quorum, OnNoQuorum::SuspendIo);
        assert_eq!(r.options.on_suspended_primary_outdated, "force-secondary");
    }

    #[test]
    fn unknown_keys_and_unknown_nodes_are_errors() {
        let typo =
            "[[node]]\nname='a'\nid=0\n[[resource]]\nname='r0'\n[resource.options]\nquorom='off'\n";
        assert!(ClusterConfig::parse(typo).unwrap_err().contains("quorom"));
        let stranger = "[[node]]\nname='a'\nid=0\n[[resource]]\nname='r0'\nclients=['z']\n";
        assert!(ClusterConfig::parse(stranger)
            .unwrap_err()
            .contains("unknown node z"));
    }

    #[test]
    fn the_demo_cluster_parses() {
        let c = ClusterConfig::parse(crate::demo::CLUSTER).unwrap();
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.resources[0].resync_rate, 51200);
    }
}
