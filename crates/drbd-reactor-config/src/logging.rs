//! The sinks behind the `log` facade: one per [[log]] entry (stderr or an appended
//! file), each with its own level, lines `<LEVEL> [<target>] <message>` (spec §3.2).
//! Plain text always (no colours). A file sink puts a UTC timestamp before each record
//! (nothing else would); stderr gets none, but when it is the journal (`JOURNAL_STREAM`
//! names it) each record starts with its syslog priority `<N>`, so `journalctl -p err`
//! finds errors. Must never reformat targets or split multi-line messages.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};

use crate::error::ConfigError;
use crate::LogConfig;

enum Output {
    /// `journal`: stderr is the journal's stream: `<N>` priority prefixes.
    Stderr {
        journal: bool,
    },
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

/// The syslog priority prefix journald understands on a stream (`sd-daemon(3)`).
pub fn journal_priority(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "<3>",
        log::Level::Warn => "<4>",
        log::Level::Info => "<6>",
        log::Level::Debug | log::Level::Trace => "<7>",
    }
}

/// `line` for the journal's stream: every line of the record (journald files each line as an
/// entry of its own) starts with the record's priority.
pub fn journal_lines(level: log::Level, line: &str) -> String {
    let priority = journal_priority(level);
    let mut out = String::with_capacity(line.len() + 8);
    for l in line.split_inclusive('\n') {
        out.push_str(priority);
        out.push_str(l);
    }
    out
}

/// `2026-12-05T19:30:01.123456Z `: the UTC time of a file record, microseconds, then a space.
pub fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // civil date from days since 1970-01-01 (H. Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z ",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// True if stderr is the stream `JOURNAL_STREAM` (`<device>:<inode>`) names: set by systemd
/// for a unit whose stderr goes to the journal, inherited (and then wrong) after a redirect.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(meta) => dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()),
        // no /proc: trust the variable
        Err(_) => true,
    }
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
    let journal = stderr_is_journal();
    log.iter()
        .map(|entry| {
            let output = match &entry.file {
                None => Output::Stderr { journal },
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
                Output::Stderr { journal } => {
                    let mut err = std::io::stderr().lock();
                    // one write per record: lines of two threads never interleave
                    if *journal {
                        err.write_all(journal_lines(record.level(), line).as_bytes())
                    } else {
                        err.write_all(line.as_bytes())
                    }
                }
                Output::File(file) => {
                    let stamped = timestamp(SystemTime::now()) + line;
                    file.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .write_all(stamped.as_bytes())
                }
            };
        }
    }

    fn flush(&self) {
        let sinks = self.sinks.read().unwrap_or_else(|e| e.into_inner());
        for sink in sinks.iter() {
            let _ = match &sink.output {
                Output::Stderr { .. } => std::io::stderr().flush(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_with_microseconds_and_a_trailing_space() {
        let at = |s: u64, us: u32| timestamp(UNIX_EPOCH + Duration::new(s, us * 1_000));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z ");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.789012
        assert_eq!(at(951_827_696, 789_012), "2000-02-29T12:34:56.789012Z ");
        // 2026-12-31 23:59:59
        assert_eq!(at(1_798_761_599, 0), "2026-12-31T23:59:59.000000Z ");
    }

    #[test]
    fn every_line_of_a_multi_line_record_gets_the_priority() {
        assert_eq!(
            journal_lines(log::Level::Error, "ERROR [t] a\nb\n"),
            "<3>ERROR [t] a\n<3>b\n"
        );
        assert_eq!(
            journal_lines(log::Level::Info, "INFO [t] x\n"),
            "<6>INFO [t] x\n"
        );
    }

    #[test]
    fn journal_priorities_follow_syslog() {
        assert_eq!(journal_priority(log::Level::Error), "<3>");
        assert_eq!(journal_priority(log::Level::Warn), "<4>");
        assert_eq!(journal_priority(log::Level::Info), "<6>");
        assert_eq!(journal_priority(log::Level::Debug), "<7>");
        assert_eq!(journal_priority(log::Level::Trace), "<7>");
    }
}
