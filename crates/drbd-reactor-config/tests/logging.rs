//! The logging sinks: line format, per-sink levels, reconfiguration on reload.
//! Uses `Logger` directly (not the global facade) so tests stay independent.

use std::path::Path;

use drbd_reactor_config::logging::{format_line, Logger};
use drbd_reactor_config::LogConfig;
use log::{Level, LevelFilter, Log, Record};

fn emit(logger: &Logger, level: Level, target: &str, message: &str) {
    logger.log(
        &Record::builder()
            .level(level)
            .target(target)
            .args(format_args!("{message}"))
            .build(),
    );
}

fn sink(level: LevelFilter, file: &Path) -> LogConfig {
    LogConfig {
        level,
        file: Some(file.to_path_buf()),
        site: None,
    }
}

/// The file's records without their timestamps (checked by its own test).
fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((stamp, rest)) if stamp.ends_with('Z') && stamp.contains('T') => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn file_records_start_with_a_utc_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.log");
    let logger = Logger::new(&[sink(LevelFilter::Info, &file)]).unwrap();
    emit(&logger, Level::Info, "drbd_reactor", "stamped");
    let text = std::fs::read_to_string(&file).unwrap();
    let (stamp, rest) = text.split_once(' ').unwrap();
    assert_eq!(rest, "INFO [drbd_reactor] stamped\n");
    // 2026-12-05T19:30:01.123456Z
    assert_eq!(stamp.len(), 27, "{stamp}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{stamp}"
    );
    assert!(stamp[..4].parse::<u32>().unwrap() >= 2024, "{stamp}");
}

#[test]
fn line_format_is_level_target_message_without_decoration() {
    let line = format_line(
        &Record::builder()
            .level(Level::Warn)
            .target("drbd_reactor::plugin")
            .args(format_args!("'id' is deprecated and ignored!"))
            .build(),
    );
    assert_eq!(
        line,
        "WARN [drbd_reactor::plugin] 'id' is deprecated and ignored!\n"
    );
}

#[test]
fn multi_line_message_is_one_record_with_its_newlines() {
    let line = format_line(
        &Record::builder()
            .level(Level::Info)
            .target("drbd_reactor")
            .args(format_args!("main: plugin config:\n[[debugger]]"))
            .build(),
    );
    assert_eq!(
        line,
        "INFO [drbd_reactor] main: plugin config:\n[[debugger]]\n"
    );
}

#[test]
fn each_sink_filters_by_its_own_level() {
    let dir = tempfile::tempdir().unwrap();
    let (all, errors) = (dir.path().join("all.log"), dir.path().join("err.log"));
    let logger = Logger::new(&[
        sink(LevelFilter::Trace, &all),
        sink(LevelFilter::Error, &errors),
    ])
    .unwrap();
    assert_eq!(logger.max_level(), LevelFilter::Trace);
    emit(&logger, Level::Debug, "drbd_reactor::events", "d");
    emit(&logger, Level::Error, "drbd_reactor", "e");
    logger.flush();
    assert_eq!(
        read(&all),
        "DEBUG [drbd_reactor::events] d\nERROR [drbd_reactor] e\n"
    );
    assert_eq!(read(&errors), "ERROR [drbd_reactor] e\n");
}

#[test]
fn log_file_is_appended_to_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.log");
    std::fs::write(&file, "old line\n").unwrap();
    let logger = Logger::new(&[sink(LevelFilter::Info, &file)]).unwrap();
    emit(&logger, Level::Info, "drbd_reactor", "new");
    assert_eq!(read(&file), "old line\nINFO [drbd_reactor] new\n");
}

#[test]
fn no_sinks_means_nothing_is_enabled() {
    let logger = Logger::new(&[]).unwrap();
    assert_eq!(logger.max_level(), LevelFilter::Off);
}

#[test]
fn unopenable_log_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("missing-dir").join("r.log");
    let err = Logger::new(&[sink(LevelFilter::Info, &file)])
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn reconfigure_applies_new_level_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("1.log"), dir.path().join("2.log"));
    let logger = Logger::new(&[sink(LevelFilter::Info, &first)]).unwrap();
    emit(&logger, Level::Debug, "t", "hidden");
    logger
        .reconfigure(&[sink(LevelFilter::Debug, &second)])
        .unwrap();
    assert_eq!(logger.max_level(), LevelFilter::Debug);
    emit(&logger, Level::Debug, "t", "shown");
    assert_eq!(read(&first), "");
    assert_eq!(read(&second), "DEBUG [t] shown\n");
}

#[test]
fn failed_reconfigure_keeps_the_old_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.log");
    let logger = Logger::new(&[sink(LevelFilter::Warn, &file)]).unwrap();
    let bad = dir.path().join("no").join("such.log");
    assert!(logger
        .reconfigure(&[sink(LevelFilter::Trace, &bad)])
        .is_err());
    assert_eq!(logger.max_level(), LevelFilter::Warn);
    emit(&logger, Level::Warn, "t", "still here");
    assert_eq!(read(&file), "WARN [t] still here\n");
}

#[test]
fn an_unopenable_log_file_from_the_config_names_its_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("drbd-reactor.toml");
    let file = dir.path().join("missing-dir").join("r.log");
    std::fs::write(
        &main,
        format!(
            "# logging\n[[log]]\nlevel = \"info\"\nfile = \"{}\"\n",
            file.display()
        ),
    )
    .unwrap();
    let config = drbd_reactor_config::load(&main).unwrap();
    let err = Logger::new(&config.log)
        .err()
        .expect("must fail")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}:4:1: key 'log[0].file': cannot open log file {}: No such file or directory (os error 2)\n  |\n4 | file = \"{}\"\n  | ^",
            main.display(),
            file.display(),
            file.display()
        )
    );
}

#[test]
fn an_empty_log_file_path_says_so_instead_of_printing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("drbd-reactor.toml");
    std::fs::write(&main, "[[log]]\nfile = \"\"\n").unwrap();
    let config = drbd_reactor_config::load(&main).unwrap();
    let err = Logger::new(&config.log)
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2:1: key 'log[0].file': cannot open log file: the path is empty",
            main.display()
        )),
        "{err}"
    );
}
