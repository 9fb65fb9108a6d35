//! Loading the main file and snippets: defaults, global keys, [[log]], plugin sections,
//! and the located errors and warnings for bad input.

mod common;

use common::{main_with_snippets, Setup};
use drbd_reactor_config::{load, LogConfig, PluginKind};
use log::LevelFilter;

fn load_err(main: &std::path::Path) -> String {
    load(main).expect_err("config must be rejected").to_string()
}

#[test]
fn missing_main_file_is_an_error_naming_the_file() {
    let setup = Setup::new();
    let main = setup.path("nope.toml");
    let err = load_err(&main);
    assert!(err.contains(&main.display().to_string()), "{err}");
    assert!(err.contains("cannot read config file"), "{err}");
}

#[test]
fn empty_main_file_gives_the_documented_defaults() {
    let setup = Setup::new();
    let config = load(&setup.main("")).unwrap();
    assert_eq!(config.snippets, None);
    assert_eq!(config.statistics_poll_interval, 60);
    assert_eq!(config.snippets_monitoring_interval, 120);
    assert_eq!(
        config.log,
        vec![LogConfig {
            level: LevelFilter::Info,
            file: None,
            site: None
        }]
    );
    assert!(config.plugins.is_empty());
    assert!(config.warnings.is_empty());
}

#[test]
fn global_keys_are_read_from_the_main_file() {
    let setup = Setup::new();
    std::fs::create_dir_all(setup.snippets_dir()).unwrap();
    let main = setup.main(
        "snippets = \"{snippets}\"\nstatistics-poll-interval = 5\nsnippets-monitoring-interval = 300\n",
    );
    let config = load(&main).unwrap();
    assert_eq!(config.snippets, Some(setup.snippets_dir()));
    assert_eq!(config.statistics_poll_interval, 5);
    assert_eq!(config.snippets_monitoring_interval, 300);
}

#[test]
fn monitoring_interval_below_30_is_raised_to_30_and_0_stays_off() {
    let setup = Setup::new();
    let config = load(&setup.main("snippets-monitoring-interval = 1\n")).unwrap();
    assert_eq!(config.snippets_monitoring_interval, 30);
    let config = load(&setup.main("snippets-monitoring-interval = 29\n")).unwrap();
    assert_eq!(config.snippets_monitoring_interval, 30);
    let config = load(&setup.main("snippets-monitoring-interval = 0\n")).unwrap();
    assert_eq!(config.snippets_monitoring_interval, 0);
}

#[test]
fn statistics_poll_interval_zero_is_accepted_as_polling_off() {
    let setup = Setup::new();
    let config = load(&setup.main("statistics-poll-interval = 0\n")).unwrap();
    assert_eq!(config.statistics_poll_interval, 0);
}

/// `Instant::now() + 2^63 s` panics: an interval meaning "never" must not crash the daemon
/// (at start, or at a reload instead of keeping the old configuration).
#[test]
fn an_interval_longer_than_a_year_is_taken_as_a_year_with_a_located_warning() {
    let setup = Setup::new();
    let main = setup.main(
        "statistics-poll-interval = 9223372036854775807\nsnippets-monitoring-interval = 31536001\n",
    );
    let config = load(&main).unwrap();
    assert_eq!(config.statistics_poll_interval, 365 * 24 * 3600);
    assert_eq!(config.snippets_monitoring_interval, 365 * 24 * 3600);
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            format!("{}:1: key 'statistics-poll-interval': 9223372036854775807 s is more than a year: taken as 31536000 s (a year)", main.display()),
            format!("{}:2: key 'snippets-monitoring-interval': 31536001 s is more than a year: taken as 31536000 s (a year)", main.display()),
        ]
    );
    let config = load(&setup.main("statistics-poll-interval = 31536000\n")).unwrap();
    assert_eq!(config.statistics_poll_interval, 31_536_000);
    assert!(config.warnings.is_empty(), "a year is still taken as it is");
}

#[test]
fn negative_interval_is_an_error_naming_file_line_and_key() {
    let setup = Setup::new();
    let main = setup.main("# comment\n\nstatistics-poll-interval = -1\n");
    let err = load_err(&main);
    assert!(
        err.starts_with(&format!(
            "{}:3:1: key 'statistics-poll-interval'",
            main.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("invalid value: integer `-1`, expected u64"),
        "{err}"
    );
}

#[test]
fn string_where_a_number_belongs_is_a_type_error_with_line() {
    let setup = Setup::new();
    let main = setup.main("snippets-monitoring-interval = \"often\"\n");
    let err = load_err(&main);
    assert!(
        err.contains(":1:1: key 'snippets-monitoring-interval'"),
        "{err}"
    );
    assert!(
        err.contains("invalid type: string \"often\", expected u64"),
        "{err}"
    );
}

#[test]
fn snippets_that_is_not_a_string_is_a_type_error() {
    let setup = Setup::new();
    let err = load_err(&setup.main("snippets = 3\n"));
    assert!(
        err.contains(":1:1: key 'snippets': invalid type: integer `3`, expected a string"),
        "{err}"
    );
}

#[test]
fn syntax_error_names_file_line_and_column_and_shows_the_line_with_a_caret() {
    let setup = Setup::new();
    let main = setup.main("[[log]]\nlevel = \"info\"\n\nthis is not toml\n");
    let err = load_err(&main);
    assert!(
        err.starts_with(&format!("{}:4:6: invalid TOML", main.display())),
        "{err}"
    );
    assert!(
        err.ends_with("\n  |\n4 | this is not toml\n  |      ^"),
        "{err}"
    );
}

#[test]
fn syntax_error_in_a_value_names_the_key_written_on_that_line() {
    let setup = Setup::new();
    let main = setup.main("statistics-poll-interval = 60\nsnippets-monitoring-interval = = 3\n");
    let err = load_err(&main);
    assert!(
        err.starts_with(&format!(
            "{}:2:32: key 'snippets-monitoring-interval': invalid TOML",
            main.display()
        )),
        "{err}"
    );
    assert!(
        err.ends_with(
            "2 | snippets-monitoring-interval = = 3\n  |                                ^"
        ),
        "{err}"
    );
}

#[test]
fn every_located_error_shows_its_source_line_with_a_caret_under_the_key() {
    let setup = Setup::new();
    let main = setup.main("[[log]]\n  level = \"loud\"\n");
    let err = load_err(&main);
    assert_eq!(
        err,
        format!(
            "{}:2:3: key 'log[0].level': unknown log level 'loud', expected one of off, error, warn, info, debug, trace\n  |\n2 |   level = \"loud\"\n  |   ^",
            main.display()
        )
    );
}

#[test]
fn unknown_top_level_key_is_a_warning_with_file_line_and_key() {
    let setup = Setup::new();
    let main = setup.main("statistics-poll-interval = 5\nstatistics-pol-interval = 7\n");
    let config = load(&main).unwrap();
    assert_eq!(config.warnings.len(), 1);
    let warning = config.warnings[0].to_string();
    assert_eq!(
        warning,
        format!(
            "{}:2: key 'statistics-pol-interval': unknown key, ignored",
            main.display()
        )
    );
}

#[test]
fn unknown_log_key_is_a_warning_with_its_line() {
    let setup = Setup::new();
    let config = load(&setup.main("[[log]]\nlevel = \"debug\"\nlevle = \"x\"\n")).unwrap();
    assert_eq!(config.warnings.len(), 1);
    assert_eq!(config.warnings[0].origin.line, 3);
    assert_eq!(config.warnings[0].key.as_deref(), Some("log[0].levle"));
    assert_eq!(config.log[0].level, LevelFilter::Debug);
}

#[test]
fn log_levels_are_case_insensitive() {
    let setup = Setup::new();
    for (text, level) in [
        ("Debug", LevelFilter::Debug),
        ("WARN", LevelFilter::Warn),
        ("Off", LevelFilter::Off),
        ("error", LevelFilter::Error),
        ("TRACE", LevelFilter::Trace),
        ("info", LevelFilter::Info),
    ] {
        let config = load(&setup.main(&format!("[[log]]\nlevel = \"{text}\"\n"))).unwrap();
        assert_eq!(config.log[0].level, level, "{text}");
    }
}

#[test]
fn log_level_warning_is_rejected_with_line_and_key() {
    let setup = Setup::new();
    let err = load_err(&setup.main("[[log]]\nfile = \"/tmp/x\"\nlevel = \"warning\"\n"));
    assert!(
        err.contains(":3:1: key 'log[0].level': unknown log level 'warning'"),
        "{err}"
    );
}

#[test]
fn log_file_and_multiple_sinks_are_kept_in_order() {
    let setup = Setup::new();
    let config = load(&setup.main(
        "[[log]]\nlevel = \"trace\"\nfile = \"/var/log/a.log\"\n[[log]]\nlevel = \"error\"\n",
    ))
    .unwrap();
    assert_eq!(
        config.log,
        vec![
            LogConfig {
                level: LevelFilter::Trace,
                file: Some("/var/log/a.log".into()),
                site: None
            },
            LogConfig {
                level: LevelFilter::Error,
                file: None,
                site: None
            },
        ]
    );
}

#[test]
fn empty_log_array_disables_logging() {
    let setup = Setup::new();
    let config = load(&setup.main("log = []\n")).unwrap();
    assert!(config.log.is_empty());
}

#[test]
fn log_as_plain_table_is_an_error_saying_to_write_an_array() {
    let setup = Setup::new();
    let err = load_err(&setup.main("[log]\nlevel = \"info\"\n"));
    assert!(err.contains("write [[log]] instead of [log]"), "{err}");
}

#[test]
fn plugin_table_instead_of_array_is_an_error_saying_what_to_write() {
    let setup = Setup::new();
    let main = setup.main("\n[promoter.resources.foo]\nstart = [\"a.service\"]\n");
    let err = load_err(&main);
    assert!(err.contains(&main.display().to_string()), "{err}");
    assert!(err.contains("key 'promoter'"), "{err}");
    assert!(
        err.contains("write [[promoter]] before [promoter.resources...]"),
        "{err}"
    );
}

#[test]
fn unknown_plugin_type_is_an_error_naming_the_type() {
    let setup = Setup::new();
    let main = setup.main("[[debugger]]\n\n[[prometheu]]\naddress = \"[::]:9942\"\n");
    let err = load_err(&main);
    assert!(
        err.starts_with(&format!("{}:3:3: key 'prometheu'", main.display())),
        "{err}"
    );
    assert!(err.contains("unknown plugin type 'prometheu'"), "{err}");
}

#[test]
fn unknown_plain_table_is_an_error_too() {
    let setup = Setup::new();
    let err = load_err(&setup.main("[umhh]\nx = 1\n"));
    assert!(err.contains("unknown plugin type 'umhh'"), "{err}");
}

#[test]
fn plugin_sections_keep_kind_table_and_header_line() {
    let setup = Setup::new();
    let main = setup.main(
        "# header\n[[prometheus]]\naddress = \"[::]:9942\"\n\n[[debugger]]\n[[prometheus]]\naddress = \"1.2.3.4:1\"\n",
    );
    let config = load(&main).unwrap();
    let kinds: Vec<_> = config.plugins.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        vec![
            PluginKind::Prometheus,
            PluginKind::Debugger,
            PluginKind::Prometheus
        ]
    );
    let lines: Vec<_> = config.plugins.iter().map(|p| p.origin.line).collect();
    assert_eq!(lines, vec![2, 5, 6]);
    assert_eq!(config.plugins[0].origin.file, main);
    assert_eq!(
        config.plugins[2]
            .table
            .get("address")
            .and_then(|v| v.as_str()),
        Some("1.2.3.4:1")
    );
}

#[test]
fn plugin_kind_names_are_the_toml_keys() {
    let names: Vec<_> = PluginKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        ["promoter", "debugger", "umh", "prometheus", "agentx"]
    );
    assert_eq!(PluginKind::from_key("umh"), Some(PluginKind::Umh));
    assert_eq!(PluginKind::from_key("Umh"), None);
}

#[test]
fn main_without_snippets_key_ignores_any_directory() {
    let setup = Setup::new();
    setup.snippet("a.toml", "[[debugger]]\n");
    let config = load(&setup.main("")).unwrap();
    assert!(config.plugins.is_empty());
    let _ = main_with_snippets; // used by the snippet tests
}
