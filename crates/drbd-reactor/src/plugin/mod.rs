//! Plugins: what a plugin gets (a [`PluginContext`]), the typed config of every implemented
//! plugin type ([`PluginConfig`], whose equality is the instance identity of daemon spec
//! §2.4), and the registry that turns config sections into those configs.
//!
//! Adding a plugin type = one variant of [`PluginConfig`] + one [`REGISTRY`] entry + one arm
//! in `kind`/`run`/`to_value`. Must never: start anything (that is [`host`]).

pub mod debugger;
pub mod host;
pub mod state_readers;
pub mod umh;
pub mod versions;

use drbd::{PluginUpdate, Resource};
use drbd_reactor_config::{
    Config, ConfigError, Located, Origin, PluginInstance, PluginKind, Strictness,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

use crate::metrics::DaemonMetrics;

pub const TARGET: &str = "drbd_reactor::plugin";

/// The state readers see: every resource, shared, immutable; republished after each batch.
pub type Snapshot = Arc<BTreeMap<String, Arc<Resource>>>;

pub type PluginResult = anyhow::Result<()>;
pub type PluginFuture = Pin<Box<dyn Future<Output = PluginResult> + Send>>;

/// The updates of one core batch, shared by every plugin (one queue entry per batch, so a
/// burst of updates costs one wake-up per plugin, not one per update, and one allocation).
pub type UpdateBatch = Arc<[PluginUpdate]>;

/// One update of a batch: reads as the [`PluginUpdate`] and keeps its batch alive.
#[derive(Clone)]
pub struct Update {
    batch: UpdateBatch,
    index: usize,
}

impl std::ops::Deref for Update {
    type Target = PluginUpdate;
    fn deref(&self) -> &PluginUpdate {
        &self.batch[self.index]
    }
}

/// The diff updates of one plugin run: first the replay of the current state (all
/// `Exists`), then the live updates. `None` = the host stopped this run.
pub struct Updates {
    /// The batch being handed out and the index of its next update.
    batch: Option<(UpdateBatch, usize)>,
    live: mpsc::Receiver<UpdateBatch>,
}

impl Updates {
    pub fn new(replay: Vec<PluginUpdate>, live: mpsc::Receiver<UpdateBatch>) -> Self {
        Updates {
            batch: Some((replay.into(), 0)),
            live,
        }
    }

    /// Drops the replay: the run sees live updates only. Call before the first `next`.
    pub fn skip_replay(&mut self) {
        self.batch = None;
    }

    pub async fn next(&mut self) -> Option<Update> {
        loop {
            if let Some((batch, i)) = &mut self.batch {
                if *i < batch.len() {
                    *i += 1;
                    return Some(Update {
                        batch: Arc::clone(batch),
                        index: *i - 1,
                    });
                }
            }
            self.batch = Some((self.live.recv().await?, 0));
        }
    }
}

/// Everything a plugin run gets. Change plugins (debugger, umh, promoter) consume
/// `updates`; state readers (prometheus, agentx) read `snapshots` when asked; their
/// `updates` stay empty unless [`PluginConfig::wants_updates`] says otherwise.
pub struct PluginContext {
    pub updates: Updates,
    /// Only for plugins whose [`PluginConfig::reads_state`] is true.
    pub snapshots: Option<watch::Receiver<Snapshot>>,
    pub metrics: Arc<DaemonMetrics>,
    /// Turns true when the host stops this run (the update stream also ends then); state
    /// readers, which do not consume updates, wait on this (a closed channel means the same).
    pub shutdown: watch::Receiver<bool>,
}

/// The typed configuration of one instance, after defaults. Equal = same instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginConfig {
    Debugger(debugger::DebuggerConfig),
    Umh(drbd_reactor_umh::rules::UmhConfig),
    Prometheus(drbd_reactor_prometheus::config::PrometheusConfig),
    Agentx(drbd_reactor_agentx::config::AgentxConfig),
}

impl PluginConfig {
    pub fn kind(&self) -> PluginKind {
        match self {
            PluginConfig::Debugger(_) => PluginKind::Debugger,
            PluginConfig::Umh(_) => PluginKind::Umh,
            PluginConfig::Prometheus(_) => PluginKind::Prometheus,
            PluginConfig::Agentx(_) => PluginKind::Agentx,
        }
    }

    /// Starts one run of the plugin.
    pub fn run(&self, ctx: PluginContext) -> PluginFuture {
        match self {
            PluginConfig::Debugger(c) => Box::pin(debugger::run(c.clone(), ctx)),
            PluginConfig::Umh(c) => Box::pin(umh::run(c.clone(), ctx)),
            PluginConfig::Prometheus(c) => Box::pin(state_readers::prometheus(c.clone(), ctx)),
            PluginConfig::Agentx(c) => Box::pin(state_readers::agentx(c.clone(), ctx)),
        }
    }

    /// Change plugins get the diff updates (replay, then live). State readers that return
    /// false get an empty, never-filled update stream and are never cut off for lag.
    pub fn wants_updates(&self) -> bool {
        match self {
            PluginConfig::Debugger(_) => true,
            PluginConfig::Umh(_) => true,
            PluginConfig::Prometheus(_) | PluginConfig::Agentx(_) => false,
        }
    }

    /// State readers get the published snapshots; the core only publishes while one runs.
    pub fn reads_state(&self) -> bool {
        match self {
            PluginConfig::Debugger(_) => false,
            PluginConfig::Umh(_) => false,
            PluginConfig::Prometheus(_) | PluginConfig::Agentx(_) => true,
        }
    }

    /// Whether the deprecated `id` key is set.
    pub fn has_id(&self) -> bool {
        match self {
            PluginConfig::Debugger(c) => c.id.is_some(),
            PluginConfig::Umh(c) => c.id.is_some(),
            PluginConfig::Prometheus(c) => c.id.is_some(),
            PluginConfig::Agentx(_) => false,
        }
    }

    fn to_value(&self) -> Result<toml::Value, toml::ser::Error> {
        match self {
            PluginConfig::Debugger(c) => toml::Value::try_from(c),
            PluginConfig::Umh(c) => toml::Value::try_from(c),
            PluginConfig::Prometheus(c) => toml::Value::try_from(c),
            PluginConfig::Agentx(c) => toml::Value::try_from(c),
        }
    }

    /// The effective configuration as a one-element `[[kind]]` array (SIGUSR1 dump).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let mut table = toml::Table::new();
        table.insert(
            self.kind().as_str().to_string(),
            toml::Value::Array(vec![self.to_value()?]),
        );
        toml::to_string_pretty(&table)
    }
}

type ParseFn = fn(&PluginInstance) -> Result<(PluginConfig, Vec<Located>), ConfigError>;

/// The implemented plugin types.
pub const REGISTRY: &[(PluginKind, ParseFn)] = &[
    (PluginKind::Debugger, |section| {
        let (c, warnings) = section.parse(Strictness::WarnUnknownKeys)?;
        Ok((PluginConfig::Debugger(c), warnings))
    }),
    // A typo in a umh rule must not widen it: unknown keys are errors.
    (PluginKind::Umh, |section| {
        let (c, warnings) = section.parse(Strictness::RejectUnknownKeys)?;
        Ok((PluginConfig::Umh(c), warnings))
    }),
    (PluginKind::Prometheus, |section| {
        let (c, warnings) = section.parse(Strictness::WarnUnknownKeys)?;
        Ok((PluginConfig::Prometheus(c), warnings))
    }),
    (PluginKind::Agentx, |section| {
        let (c, warnings) = section.parse(Strictness::WarnUnknownKeys)?;
        Ok((PluginConfig::Agentx(c), warnings))
    }),
];

/// One desired instance and where it is configured.
#[derive(Debug, Clone)]
pub struct Configured {
    pub config: PluginConfig,
    pub origin: Origin,
}

/// Turns every plugin section of `config` into a typed config. Fails on a type that is not
/// implemented, a bad value (file:line:key), or two identical instances.
pub fn from_config(config: &Config) -> Result<(Vec<Configured>, Vec<Located>), ConfigError> {
    let mut out: Vec<Configured> = Vec::new();
    let mut warnings = Vec::new();
    for section in &config.plugins {
        let Some((_, parse)) = REGISTRY.iter().find(|(k, _)| *k == section.kind) else {
            return Err(ConfigError::at(
                section.origin.clone(),
                None,
                format!("plugin type '{}' is not implemented yet", section.kind),
            ));
        };
        let (typed, w) = parse(section)?;
        warnings.extend(w);
        if let Some(first) = out.iter().find(|c| c.config == typed) {
            return Err(ConfigError::at(
                section.origin.clone(),
                None,
                format!(
                    "duplicate plugin instance: this [[{}]] is identical (after defaults) to the one at {}",
                    section.kind, first.origin
                ),
            ));
        }
        out.push(Configured {
            config: typed,
            origin: section.origin.clone(),
        });
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<Configured>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).unwrap();
        let config = drbd_reactor_config::load(&path).map_err(|e| e.to_string())?;
        from_config(&config)
            .map(|(c, _)| c)
            .map_err(|e| e.to_string().replace(&path.display().to_string(), "r.toml"))
    }

    #[test]
    fn unimplemented_plugin_types_are_errors_naming_type_file_and_line() {
        let kind = "promoter";
        let err = load(&format!("[[debugger]]\n\n[[{kind}]]\n")).unwrap_err();
        assert_eq!(
            err,
            format!("r.toml:3: plugin type '{kind}' is not implemented yet")
        );
    }

    #[test]
    fn identical_instances_after_defaults_are_duplicates() {
        let err = load("[[debugger]]\n[[debugger]]\nformat = \"verbose\"\n").unwrap_err();
        assert!(
            err.starts_with("r.toml:2: duplicate plugin instance"),
            "{err}"
        );
        assert!(err.ends_with("the one at r.toml:1"), "{err}");
    }

    #[test]
    fn instances_differing_in_a_value_are_distinct() {
        let c = load("[[debugger]]\n[[debugger]]\nformat = \"compact\"\n").unwrap();
        assert_eq!(c.len(), 2);
        assert_ne!(c[0].config, c[1].config);
    }

    #[test]
    fn wrong_type_in_a_debugger_section_names_the_key_line() {
        let err = load("[[debugger]]\nformat = 3\n").unwrap_err();
        assert!(err.starts_with("r.toml:2: key 'format'"), "{err}");
    }

    #[test]
    fn the_toml_dump_parses_back_to_an_equal_instance() {
        let c = load("[[debugger]]\nid = \"x\"\nformat = \"compact\"\n").unwrap();
        let text = c[0].config.to_toml().unwrap();
        assert!(text.starts_with("[[debugger]]\n"), "{text}");
        let again = load(&text).unwrap();
        assert_eq!(again[0].config, c[0].config);
    }
}
