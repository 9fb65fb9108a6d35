//! Plugin sections as found in the files: their type, raw table and where they are,
//! and their conversion into a plugin's typed config with located errors and warnings.
//! Must never decide identity or defaults: that is the plugins' and the daemon's job.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{ConfigError, Located, Origin};
use crate::locate::line_for;

/// The plugin types a configuration may contain (`[[promoter]]`, ...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum PluginKind {
    Promoter,
    Debugger,
    Umh,
    Prometheus,
    Agentx,
}

impl PluginKind {
    pub const ALL: [PluginKind; 5] = [
        PluginKind::Promoter,
        PluginKind::Debugger,
        PluginKind::Umh,
        PluginKind::Prometheus,
        PluginKind::Agentx,
    ];

    /// The TOML key of the section: "promoter", "debugger", "umh", "prometheus", "agentx".
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Promoter => "promoter",
            PluginKind::Debugger => "debugger",
            PluginKind::Umh => "umh",
            PluginKind::Prometheus => "prometheus",
            PluginKind::Agentx => "agentx",
        }
    }

    pub fn from_key(key: &str) -> Option<PluginKind> {
        PluginKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == key)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How unknown keys inside a plugin section are treated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Strictness {
    /// Accepted with a warning (compatible with the original, which ignored them).
    WarnUnknownKeys,
    /// Rejected (the umh plugin wants typos to be errors).
    RejectUnknownKeys,
}

/// One `[[kind]]` entry of the merged configuration.
///
/// Equality compares `kind` and `table` only: where the section is written
/// (`origin`, `key_lines`) is not part of it, so moving a section to another
/// file or line does not change it.
#[derive(Clone, Debug)]
pub struct PluginInstance {
    pub kind: PluginKind,
    /// The raw section.
    pub table: toml::Table,
    /// Where the `[[kind]]` header is.
    pub origin: Origin,
    /// Line of every key inside the section, by key path relative to the section
    /// (`address`, `resources.foo.start[1]`).
    pub key_lines: BTreeMap<String, usize>,
    /// The content of the section's file, for the source line shown under an error.
    pub source_text: Arc<str>,
}

impl PartialEq for PluginInstance {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.table == other.table
    }
}

impl PluginInstance {
    /// Where `key` (a path relative to the section) is written; the header if unknown.
    pub fn origin_of(&self, key: &str) -> Origin {
        Origin::new(
            self.origin.file.clone(),
            line_for(&self.key_lines, key, self.origin.line),
        )
    }

    /// The section as the plugin's typed config. Errors name file:line:key (the line of
    /// the offending key). Unknown keys become warnings or errors depending on `strictness`.
    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        strictness: Strictness,
    ) -> Result<(T, Vec<Located>), ConfigError> {
        let mut unknown: Vec<String> = Vec::new();
        let value = toml::Value::Table(self.table.clone());
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
        let deserializer = serde_ignored::Deserializer::new(value, &mut record);
        let parsed: Result<T, _> = serde_path_to_error::deserialize(deserializer);
        let typed = match parsed {
            Ok(typed) => typed,
            Err(err) => {
                let key = error_path(err.path());
                let message = err.inner().message().to_string();
                let origin = self.origin_of(&key);
                let key = (!key.is_empty()).then_some(key);
                return Err(
                    ConfigError::at(origin, key, format!("[[{}]]: {message}", self.kind))
                        .with_source_text(&self.source_text),
                );
            }
        };
        let located: Vec<Located> = unknown
            .into_iter()
            .map(|key| Located {
                origin: self.origin_of(&key),
                message: match strictness {
                    Strictness::WarnUnknownKeys => {
                        format!("unknown key in [[{}]], ignored", self.kind)
                    }
                    Strictness::RejectUnknownKeys => format!("unknown key in [[{}]]", self.kind),
                },
                key: Some(key),
            })
            .collect();
        match strictness {
            Strictness::RejectUnknownKeys if !located.is_empty() => Err(ConfigError::from_located(
                located.into_iter().next().expect("not empty"),
            )
            .with_source_text(&self.source_text)),
            _ => Ok((typed, located)),
        }
    }
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}
