//! Reads the content of ONE configuration file (main file or snippet) into its parts:
//! global keys, [[log]] entries and plugin sections, each with its line.
//! Checks every top-level and [[log]] key. Pure: gets the text, never opens files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::LevelFilter;

use crate::error::{ConfigError, Located, Origin, Site};
use crate::locate::{below, key_lines, line_for, line_of};
use crate::plugin::{PluginInstance, PluginKind};
use crate::LogConfig;

pub const SNIPPETS: &str = "snippets";
pub const STATISTICS_POLL_INTERVAL: &str = "statistics-poll-interval";
pub const SNIPPETS_MONITORING_INTERVAL: &str = "snippets-monitoring-interval";
pub const LOG: &str = "log";

/// A global key's value and where it was set.
#[derive(Clone, Debug, PartialEq)]
pub struct Set<T> {
    pub value: T,
    pub origin: Origin,
}

/// What one file contributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileConfig {
    pub snippets: Option<Set<PathBuf>>,
    pub statistics_poll_interval: Option<Set<u64>>,
    pub snippets_monitoring_interval: Option<Set<u64>>,
    /// `None` if the file has no `log` key at all; `Some(vec![])` for `log = []`.
    pub log: Option<Vec<LogConfig>>,
    /// In the order of their headers in the file.
    pub plugins: Vec<PluginInstance>,
    pub warnings: Vec<Located>,
    /// The file's content, for the source line of errors found when merging.
    pub source_text: Arc<str>,
}

struct FileCtx<'a> {
    file: &'a Path,
    text: &'a str,
    /// `text` shared by the plugin sections, for their error excerpts.
    shared: Arc<str>,
    lines: BTreeMap<String, usize>,
}

impl FileCtx<'_> {
    fn origin(&self, path: &str) -> Origin {
        Origin::new(self.file, line_for(&self.lines, path, 1))
    }

    fn error(&self, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.origin(path), Some(path.to_string()), message)
    }

    fn warning(&self, path: &str, message: impl Into<String>) -> Located {
        Located {
            origin: self.origin(path),
            key: Some(path.to_string()),
            message: message.into(),
        }
    }
}

/// Parses the content `text` of `file` on its own. Errors carry the line, column, key and
/// source line.
pub fn parse_file(file: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    parse_text(file, text).map_err(|err| err.with_source_text(text))
}

/// The error for text that is not TOML: at the column the parser stopped, naming the key
/// written on that line if there is one.
fn syntax_error(file: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map_or(0, |span| span.start.min(text.len()));
    let line = line_of(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    let key = crate::error::source_line(text, line).and_then(|l| key_on_line(&l));
    let mut error = ConfigError::at(
        Origin::new(file, line),
        key,
        format!("invalid TOML: {}", err.message().trim_end()),
    );
    error.set_column(column);
    error
}

/// The key a TOML line assigns (`a.b = 1` → `a.b`) or the table it opens (`[[log]]` → `log`).
fn key_on_line(line: &str) -> Option<String> {
    let line = line.trim();
    let is_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
    };
    let key = if let Some(header) = line.strip_prefix('[') {
        header.trim_start_matches('[').split(']').next()?
    } else {
        line.split('=').next().filter(|_| line.contains('='))?
    };
    let key = key.trim();
    is_key(key).then(|| key.split('.').map(str::trim).collect::<Vec<_>>().join("."))
}

fn parse_text(file: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let table: toml::Table = toml::from_str(text).map_err(|err| syntax_error(file, text, &err))?;
    let ctx = FileCtx {
        file,
        text,
        shared: Arc::from(text),
        lines: key_lines(text),
    };
    let mut out = FileConfig {
        source_text: ctx.shared.clone(),
        ..FileConfig::default()
    };
    for (key, value) in &table {
        match key.as_str() {
            SNIPPETS => {
                let path = expect_str(&ctx, key, value)?;
                out.snippets = Some(Set {
                    value: PathBuf::from(path),
                    origin: ctx.origin(key),
                });
            }
            STATISTICS_POLL_INTERVAL => {
                out.statistics_poll_interval = Some(Set {
                    value: interval(&ctx, key, value, &mut out.warnings)?,
                    origin: ctx.origin(key),
                });
            }
            SNIPPETS_MONITORING_INTERVAL => {
                out.snippets_monitoring_interval = Some(Set {
                    value: interval(&ctx, key, value, &mut out.warnings)?,
                    origin: ctx.origin(key),
                });
            }
            LOG => out.log = Some(parse_log(&ctx, value, &mut out.warnings)?),
            _ => match PluginKind::from_key(key) {
                Some(kind) => parse_plugins(&ctx, kind, value, &mut out.plugins)?,
                None if matches!(value, toml::Value::Table(_)) || is_array_of_tables(value) => {
                    let known: Vec<&str> = PluginKind::ALL.iter().map(|k| k.as_str()).collect();
                    return Err(ctx.error(
                        key,
                        format!(
                            "unknown plugin type '{key}' (known types: {})",
                            known.join(", ")
                        ),
                    ));
                }
                None => out.warnings.push(ctx.warning(key, "unknown key, ignored")),
            },
        }
    }
    out.plugins.sort_by_key(|p| p.origin.line);
    // The table is read in key order: warnings in the order of the file's lines.
    out.warnings.sort_by_key(|w| w.origin.line);
    Ok(out)
}

fn is_array_of_tables(value: &toml::Value) -> bool {
    match value {
        toml::Value::Array(items) => {
            !items.is_empty() && items.iter().all(|v| matches!(v, toml::Value::Table(_)))
        }
        _ => false,
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("string \"{s}\""),
        toml::Value::Integer(i) => format!("integer `{i}`"),
        toml::Value::Float(f) => format!("floating point `{f}`"),
        toml::Value::Boolean(b) => format!("boolean `{b}`"),
        toml::Value::Datetime(d) => format!("datetime `{d}`"),
        toml::Value::Array(_) => "array".to_string(),
        toml::Value::Table(_) => "table".to_string(),
    }
}

fn expect_str<'v>(
    ctx: &FileCtx<'_>,
    path: &str,
    value: &'v toml::Value,
) -> Result<&'v str, ConfigError> {
    value.as_str().ok_or_else(|| {
        ctx.error(
            path,
            format!("invalid type: {}, expected a string", describe(value)),
        )
    })
}

/// The longest interval in seconds (a year): longer ones are taken as a year, which means
/// the same (practically never) and keeps the timers' deadlines from overflowing.
pub const MAX_INTERVAL: u64 = 365 * 24 * 60 * 60;

/// An interval in seconds, longer ones than [`MAX_INTERVAL`] cut to it with a warning.
fn interval(
    ctx: &FileCtx<'_>,
    key: &str,
    value: &toml::Value,
    warnings: &mut Vec<Located>,
) -> Result<u64, ConfigError> {
    let seconds = expect_u64(ctx, key, value)?;
    if seconds > MAX_INTERVAL {
        warnings.push(ctx.warning(
            key,
            format!("{seconds} s is more than a year: taken as {MAX_INTERVAL} s (a year)"),
        ));
        return Ok(MAX_INTERVAL);
    }
    Ok(seconds)
}

fn expect_u64(ctx: &FileCtx<'_>, path: &str, value: &toml::Value) -> Result<u64, ConfigError> {
    match value {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as u64),
        toml::Value::Integer(_) => Err(ctx.error(
            path,
            format!("invalid value: {}, expected u64", describe(value)),
        )),
        other => Err(ctx.error(
            path,
            format!("invalid type: {}, expected u64", describe(other)),
        )),
    }
}

/// `off`, `error`, `warn`, `info`, `debug`, `trace`, case-insensitive.
pub fn parse_level(level: &str) -> Option<LevelFilter> {
    match level.to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warn" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

fn parse_log(
    ctx: &FileCtx<'_>,
    value: &toml::Value,
    warnings: &mut Vec<Located>,
) -> Result<Vec<LogConfig>, ConfigError> {
    let entries = match value {
        toml::Value::Array(entries) => entries,
        toml::Value::Table(_) => {
            return Err(ctx.error(
                LOG,
                "'log' must be an array of tables: write [[log]] instead of [log]",
            ))
        }
        other => {
            return Err(ctx.error(
                LOG,
                format!(
                    "invalid type: {}, expected an array of [[log]] tables",
                    describe(other)
                ),
            ))
        }
    };
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("{LOG}[{index}]");
        let table = entry.as_table().ok_or_else(|| {
            ctx.error(
                &path,
                format!(
                    "invalid type: {}, expected a [[log]] table",
                    describe(entry)
                ),
            )
        })?;
        let mut log = LogConfig::default();
        for (key, value) in table {
            let key_path = format!("{path}.{key}");
            match key.as_str() {
                "level" => {
                    let level = expect_str(ctx, &key_path, value)?;
                    log.level = parse_level(level).ok_or_else(|| {
                        ctx.error(
                            &key_path,
                            format!(
                                "unknown log level '{level}', expected one of off, error, warn, info, debug, trace"
                            ),
                        )
                    })?;
                }
                "file" => {
                    log.file = Some(PathBuf::from(expect_str(ctx, &key_path, value)?));
                    log.site = Some(Site::new(ctx.origin(&key_path), &key_path, ctx.text));
                }
                _ => warnings.push(ctx.warning(&key_path, "unknown key in [[log]], ignored")),
            }
        }
        out.push(log);
    }
    Ok(out)
}

fn parse_plugins(
    ctx: &FileCtx<'_>,
    kind: PluginKind,
    value: &toml::Value,
    plugins: &mut Vec<PluginInstance>,
) -> Result<(), ConfigError> {
    let name = kind.as_str();
    let entries = match value {
        toml::Value::Array(entries) => entries,
        toml::Value::Table(table) => {
            let example = table
                .iter()
                .next()
                .map(|(k, _)| format!(" before [{name}.{k}...]"))
                .unwrap_or_default();
            return Err(ctx.error(
                name,
                format!(
                    "'{name}' is a table, but plugin sections are arrays of tables: write [[{name}]]{example}"
                ),
            ));
        }
        other => {
            return Err(ctx.error(
                name,
                format!(
                    "invalid type: {}, expected an array of [[{name}]] tables",
                    describe(other)
                ),
            ))
        }
    };
    for (index, entry) in entries.iter().enumerate() {
        let path = format!("{name}[{index}]");
        let table = entry.as_table().ok_or_else(|| {
            ctx.error(
                &path,
                format!(
                    "invalid type: {}, expected a [[{name}]] table",
                    describe(entry)
                ),
            )
        })?;
        plugins.push(PluginInstance {
            kind,
            table: table.clone(),
            origin: ctx.origin(&path),
            key_lines: below(&ctx.lines, &path),
            source_text: ctx.shared.clone(),
        });
    }
    Ok(())
}
