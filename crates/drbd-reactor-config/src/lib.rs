//! drbd-reactor's configuration: the main file plus the snippets directory, each parsed
//! on its own and merged; every error names file, line and key; plus the logging sinks
//! configured by [[log]]. Never starts plugins and never decides plugin identity.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # let main = dir.path().join("drbd-reactor.toml");
//! # std::fs::write(&main, "[[prometheus]]\naddress = \"[::]:9942\"\nbogus = 1\n").unwrap();
//! use drbd_reactor_config::{load, PluginKind, Strictness};
//!
//! #[derive(serde::Deserialize)]
//! struct Prometheus { address: String }
//!
//! let config = load(&main)?; // Err names file:line and key
//! for warning in &config.warnings {
//!     log::warn!("{warning}");
//! }
//! for section in config.plugins_of(PluginKind::Prometheus) {
//!     let (prometheus, warnings): (Prometheus, _) = section.parse(Strictness::WarnUnknownKeys)?;
//!     assert_eq!(prometheus.address, "[::]:9942");
//!     assert_eq!(warnings[0].to_string(), format!("{}:3: key 'bogus': unknown key in [[prometheus]], ignored", main.display()));
//! }
//! # Ok::<(), drbd_reactor_config::ConfigError>(())
//! ```

mod error;
mod file;
mod locate;
pub mod logging;
mod plugin;
mod snippets;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, Located, Origin, Place, Site};
pub use file::parse_level;
pub use logging::LoggingHandle;
pub use plugin::{PluginInstance, PluginKind, Strictness};
/// The §9 rule (newer than the reload, at least 20 s old), also for the promoter's drop-ins.
pub use snippets::changed as changed_since_reload;
pub use snippets::{
    discover as discover_snippets, discover_reporting as discover_snippets_reporting,
    files_changed_since, snippets_changed_since, units_rewritten_since, Skipped as SkippedSnippet,
    SETTLE_TIME,
};

use file::{FileConfig, SNIPPETS, SNIPPETS_MONITORING_INTERVAL, STATISTICS_POLL_INTERVAL};

pub const DEFAULT_STATISTICS_POLL_INTERVAL: u64 = 60;
pub const DEFAULT_SNIPPETS_MONITORING_INTERVAL: u64 = 120;
/// Monitoring intervals from 1 to 29 s are raised to this.
pub const MIN_SNIPPETS_MONITORING_INTERVAL: u64 = 30;

/// One `[[log]]` entry: a sink with its own level.
///
/// Equality compares `level` and `file` only: where the entry is written (`site`) is not
/// part of it.
#[derive(Clone, Debug)]
pub struct LogConfig {
    pub level: log::LevelFilter,
    /// Appended to; `None` means stderr.
    pub file: Option<PathBuf>,
    /// Where `file` is written, so that failing to open it names file, line and key.
    pub site: Option<Site>,
}

impl PartialEq for LogConfig {
    fn eq(&self, other: &Self) -> bool {
        self.level == other.level && self.file == other.file
    }
}

impl Eq for LogConfig {}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: log::LevelFilter::Info,
            file: None,
            site: None,
        }
    }
}

/// The merged configuration of the main file and its snippets.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub snippets: Option<PathBuf>,
    /// Seconds, default 60; 0 = polling off.
    pub statistics_poll_interval: u64,
    /// Seconds, default 120; 0 = off; 1..=29 are raised to 30.
    pub snippets_monitoring_interval: u64,
    /// Default: one entry {level info, stderr}; empty (`log = []`) = no logging.
    pub log: Vec<LogConfig>,
    /// In file order: main file, then snippets in order.
    pub plugins: Vec<PluginInstance>,
    /// Unknown keys etc., for the daemon to log.
    pub warnings: Vec<Located>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            snippets: None,
            statistics_poll_interval: DEFAULT_STATISTICS_POLL_INTERVAL,
            snippets_monitoring_interval: DEFAULT_SNIPPETS_MONITORING_INTERVAL,
            log: vec![LogConfig::default()],
            plugins: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// The sections of one plugin type, in file order.
    pub fn plugins_of(&self, kind: PluginKind) -> impl Iterator<Item = &PluginInstance> {
        self.plugins.iter().filter(move |p| p.kind == kind)
    }
}

fn read(path: &Path, what: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|err| ConfigError::io(path, format!("cannot read {what}"), err))
}

/// Reads the main file `main` and the snippets it names, each on its own, and merges them.
pub fn load(main: &Path) -> Result<Config, ConfigError> {
    let main_file = file::parse_file(main, &read(main, "config file")?)?;
    let mut snippet_files = Vec::new();
    let mut skipped_warnings = Vec::new();
    if let Some(dir) = &main_file.snippets {
        let (found, skipped) = snippets::discover_reporting(&dir.value)?;
        for path in found {
            let parsed = file::parse_file(&path, &read(&path, "config snippet")?)?;
            snippet_files.push(parsed);
        }
        // Located at the `snippets` key: that is where the operator chose the directory.
        skipped_warnings.extend(skipped.into_iter().map(|s| Located {
            origin: dir.origin.clone(),
            key: Some(SNIPPETS.to_string()),
            message: format!("skipping snippet {}: {}", s.path.display(), s.reason),
        }));
    }
    let mut config = merge(main_file, snippet_files)?;
    config.warnings.extend(skipped_warnings);
    Ok(config)
}

/// The content `text` of ONE file, read as the daemon reads it, without touching the disk:
/// as the main file (global keys allowed, its `snippets` directory NOT read) or, with
/// `as_snippet`, as one snippet (global keys rejected). For tools such as drbd-reactorctl
/// that must validate exactly like the daemon.
pub fn parse_one(file: &Path, text: &str, as_snippet: bool) -> Result<Config, ConfigError> {
    let parsed = file::parse_file(file, text)?;
    if as_snippet {
        merge(file::FileConfig::default(), vec![parsed])
    } else {
        merge(parsed, Vec::new())
    }
}

/// Merges a main file with its snippets (in order). Global keys are only allowed in the
/// main file; [[log]] and plugin sections accumulate.
pub(crate) fn merge(main: FileConfig, snippets: Vec<FileConfig>) -> Result<Config, ConfigError> {
    let mut config = Config {
        snippets: main.snippets.map(|s| s.value),
        statistics_poll_interval: main
            .statistics_poll_interval
            .map_or(DEFAULT_STATISTICS_POLL_INTERVAL, |s| s.value),
        snippets_monitoring_interval: match main.snippets_monitoring_interval.map(|s| s.value) {
            None => DEFAULT_SNIPPETS_MONITORING_INTERVAL,
            Some(0) => 0,
            Some(v) => v.max(MIN_SNIPPETS_MONITORING_INTERVAL),
        },
        log: Vec::new(),
        plugins: main.plugins,
        warnings: main.warnings,
    };
    let mut any_log = main.log.is_some();
    config.log.extend(main.log.unwrap_or_default());
    for snippet in snippets {
        let global = [
            (SNIPPETS, snippet.snippets.map(|s| s.origin)),
            (
                STATISTICS_POLL_INTERVAL,
                snippet.statistics_poll_interval.map(|s| s.origin),
            ),
            (
                SNIPPETS_MONITORING_INTERVAL,
                snippet.snippets_monitoring_interval.map(|s| s.origin),
            ),
        ];
        if let Some((key, origin)) = global.into_iter().find_map(|(k, o)| o.map(|o| (k, o))) {
            return Err(ConfigError::at(
                origin,
                Some(key.to_string()),
                "global keys are only allowed in the main config file, not in snippets",
            )
            .with_source_text(&snippet.source_text));
        }
        any_log |= snippet.log.is_some();
        config.log.extend(snippet.log.unwrap_or_default());
        config.plugins.extend(snippet.plugins);
        config.warnings.extend(snippet.warnings);
    }
    if !any_log {
        config.log = vec![LogConfig::default()];
    }
    Ok(config)
}
