//! The sinks behind the `log` facade: one per [[log]] entry (stderr or an appended
//! file), each with its own level, lines `<LEVEL> [<target>] <message>` (spec §3.2).
//! Plain text always (no colours, no timestamps): under systemd the journal adds those.
//! Must never reformat targets or split multi-line messages.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};

use log::{LevelFilter, Log, Metadata, Record};

use crate::error::ConfigError;
use crate::LogConfig;

enum Output {
    Stderr,
    File(Mutex<File>),
}

struct Sink {
    level: LevelFilter,
    output: Output,
}

/// The `<LEVEL> [<target>] <message>` line for a record, newline-terminated.
pub fn format_line(record: &Record<'_>) -> String {
    format!(
        "{} [{}] {}\n",
        record.level(),
        record.target(),
        record.args()
    )
}

/// A set of sinks; installed as the global logger by [`init`], usable directly in tests.
pub struct Logger {
    sinks: RwLock<Vec<Sink>>,
}

impl Logger {
    /// Opens every sink of `log` (files created if missing, appended to).
    pub fn new(log: &[LogConfig]) -> Result<Logger, ConfigError> {
        Ok(Logger {
            sinks: RwLock::new(open_sinks(log)?),
        })
    }

    /// The most verbose level any sink admits.
    pub fn max_level(&self) -> LevelFilter {
        let sinks = self.sinks.read().unwrap_or_else(|e| e.into_inner());
        sinks
            .iter()
            .map(|s| s.level)
            .max()
            .unwrap_or(LevelFilter::Off)
    }

    /// Replaces all sinks. On error (a file cannot be opened) the old sinks stay.
    pub fn reconfigure(&self, log: &[LogConfig]) -> Result<(), ConfigError> {
        let sinks = open_sinks(log)?;
        *self.sinks.write().unwrap_or_else(|e| e.into_inner()) = sinks;
        Ok(())
    }
}

fn open_sinks(log: &[LogConfig]) -> Result<Vec<Sink>, ConfigError> {
    log.iter()
        .map(|entry| {
            let output = match &entry.file {
                None => Output::Stderr,
                Some(path) => Output::File(Mutex::new(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|err| open_error(entry, path, err))?,
                )),
            };
            Ok(Sink {
                level: entry.level,
                output,
            })
        })
        .collect()
}

/// Located at the `file` key when the entry came from a file, else naming the path.
fn open_error(entry: &LogConfig, path: &std::path::Path, err: std::io::Error) -> ConfigError {
    let message = if path.as_os_str().is_empty() {
        "cannot open log file: the path is empty".to_string()
    } else {
        format!("cannot open log file {}", path.display())
    };
    match &entry.site {
        Some(site) => site.error(message, Some(err)),
        None => ConfigError::io(path, "cannot open log file", err),
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.max_level()
    }

    fn log(&self, record: &Record<'_>) {
        let sinks = self.sinks.read().unwrap_or_else(|e| e.into_inner());
        let mut line: Option<String> = None;
        for sink in sinks.iter().filter(|s| record.level() <= s.level) {
            let line = line.get_or_insert_with(|| format_line(record));
            // a failing sink must not take the daemon down; there is nowhere to report it
            let _ = match &sink.output {
                Output::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                Output::File(file) => file
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .write_all(line.as_bytes()),
            };
        }
    }

    fn flush(&self) {
        let sinks = self.sinks.read().unwrap_or_else(|e| e.into_inner());
        for sink in sinks.iter() {
            let _ = match &sink.output {
                Output::Stderr => std::io::stderr().flush(),
                Output::File(file) => file.lock().unwrap_or_else(|e| e.into_inner()).flush(),
            };
        }
    }
}

struct Installed(Arc<Logger>);

impl Log for Installed {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }
    fn log(&self, record: &Record<'_>) {
        self.0.log(record)
    }
    fn flush(&self) {
        self.0.flush()
    }
}

/// Handle to the installed logger: applies a new [[log]] on reload.
#[derive(Clone)]
pub struct LoggingHandle {
    logger: Arc<Logger>,
}

impl LoggingHandle {
    /// Replaces the sinks by those of `log` (level and file changes take effect at once).
    /// On error the previous sinks stay in place.
    pub fn reconfigure(&self, log: &[LogConfig]) -> Result<(), ConfigError> {
        self.logger.reconfigure(log)?;
        log::set_max_level(self.logger.max_level());
        Ok(())
    }
}

/// Installs the `log` facade with one sink per LogConfig (stderr or appended file), each
/// with its own level; line format `<LEVEL> [<target>] <message>` (spec §3.2).
/// Fails if a log file cannot be opened or a logger is already installed.
pub fn init(log: &[LogConfig]) -> Result<LoggingHandle, ConfigError> {
    let logger = Arc::new(Logger::new(log)?);
    log::set_boxed_logger(Box::new(Installed(logger.clone())))
        .map_err(|_| ConfigError::at_nothing("a logger is already installed"))?;
    log::set_max_level(logger.max_level());
    Ok(LoggingHandle { logger })
}
