//! Cluster context files (spec ctl.md §6.1): where they are, their format (nodes plus ssh
//! settings) and the optional nodes script. Parsing is pure; must never contact a node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use serde::Deserialize;

pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ContextFile {
    /// Program in the context directory whose stdout is appended (more `[nodes.x]` tables).
    pub nodes_script: Option<String>,
    /// Extra ssh arguments for every node, e.g. ["-o", "UserKnownHostsFile=/x"] (new).
    #[serde(default)]
    pub ssh_options: Vec<String>,
    /// Seconds each node may take before it is reported as failed (new; default 60).
    pub timeout: Option<u64>,
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeEntry>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeEntry {
    pub hostname: Option<String>,
    pub user: Option<String>,
    /// ssh port (new).
    pub port: Option<u16>,
    /// The drbd-reactorctl command on that node, a shell command line (new; default
    /// `drbd-reactorctl`).
    pub command: Option<String>,
}

/// One node to run on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub hostname: String,
    pub user: String,
    pub port: Option<u16>,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub ssh_options: Vec<String>,
    pub timeout_secs: u64,
}

/// `$XDG_CONFIG_HOME/drbd-reactorctl`, else `$HOME/.config/drbd-reactorctl`.
pub fn context_dir(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<PathBuf> {
    let non_empty = |name: &str| get(name).filter(|v| !v.is_empty());
    if let Some(xdg) = non_empty("XDG_CONFIG_HOME") {
        return Ok(Path::new(&xdg).join("drbd-reactorctl"));
    }
    if let Some(home) = non_empty("HOME") {
        return Ok(Path::new(&home).join(".config/drbd-reactorctl"));
    }
    bail!("cannot find cluster contexts: neither XDG_CONFIG_HOME nor HOME is set (use --context local)")
}

/// Parses a context's text; `nodes` restricts to those table keys; sorted by hostname.
pub fn parse(text: &str, origin: &Path, only: &[String]) -> anyhow::Result<Cluster> {
    let file: ContextFile = toml::from_str(text)
        .with_context(|| format!("Could not parse context file '{}'", origin.display()))?;
    for name in only {
        if !file.nodes.contains_key(name) {
            bail!(
                "node '{name}' is not in context file '{}'",
                origin.display()
            );
        }
    }
    let mut nodes: Vec<Node> = file
        .nodes
        .into_iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .map(|(name, entry)| Node {
            hostname: entry.hostname.unwrap_or_else(|| name.clone()),
            user: entry.user.unwrap_or_else(|| "root".into()),
            port: entry.port,
            command: entry.command.unwrap_or_else(|| "drbd-reactorctl".into()),
            name,
        })
        .collect();
    nodes.sort_by(|a, b| (&a.hostname, &a.name).cmp(&(&b.hostname, &b.name)));
    Ok(Cluster {
        nodes,
        ssh_options: file.ssh_options,
        timeout_secs: file.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS),
    })
}

/// The cluster of context `name`, or None when no fan-out applies (`none`/`local`, or a
/// missing `default`).
pub fn load(name: &str, only: &[String]) -> anyhow::Result<Option<Cluster>> {
    if name == "none" || name == "local" {
        return Ok(None);
    }
    let dir = match context_dir(|v| std::env::var(v).ok()) {
        Ok(dir) => dir,
        Err(_) if name == "default" => return Ok(None),
        Err(e) => return Err(e),
    };
    let path = dir.join(format!("{name}.toml"));
    let mut text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == "default" => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("Could not read context file '{}'", path.display()))
        }
    };
    let head: ContextFile = toml::from_str(&text)
        .with_context(|| format!("Could not parse context file '{}'", path.display()))?;
    if let Some(script) = head.nodes_script {
        let script = dir.join(script);
        let out = Command::new(&script)
            .output()
            .with_context(|| format!("Could not execute script '{}'", script.display()))?;
        if !out.status.success() {
            bail!(
                "Script '{}' did not return successfully ({})",
                script.display(),
                out.status
            );
        }
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    let cluster = parse(&text, &path, only)?;
    Ok((!cluster.nodes.is_empty()).then_some(cluster))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_default_to_their_name_and_root_and_sort_by_hostname() {
        let text = r#"
ssh-options = ["-o", "BatchMode=yes"]
[nodes."alpha.mynet"]
[nodes.b]
hostname = "beta.mynet"
user = "admin"
port = 2222
"#;
        let c = parse(text, Path::new("ctx.toml"), &[]).unwrap();
        assert_eq!(c.nodes[0].hostname, "alpha.mynet");
        assert_eq!(c.nodes[0].user, "root");
        assert_eq!(c.nodes[1].name, "b");
        assert_eq!(c.nodes[1].user, "admin");
        assert_eq!(c.nodes[1].port, Some(2222));
        assert_eq!(c.timeout_secs, DEFAULT_TIMEOUT_SECS);
        let only = parse(text, Path::new("ctx.toml"), &["b".into()]).unwrap();
        assert_eq!(only.nodes.len(), 1);
        assert!(parse(text, Path::new("ctx.toml"), &["zz".into()]).is_err());
    }

    #[test]
    fn the_context_directory_prefers_xdg_config_home() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            context_dir(get(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/x/drbd-reactorctl")
        );
        assert_eq!(
            context_dir(get(&[("XDG_CONFIG_HOME", ""), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.config/drbd-reactorctl")
        );
        assert!(context_dir(get(&[])).is_err());
    }
}
