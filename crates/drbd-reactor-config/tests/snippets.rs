//! Snippets: discovery and order, parsing each file on its own, merging, and the
//! errors for directories and snippets that cannot be used.

mod common;

use common::{file_name, main_with_snippets, Setup};
use drbd_reactor_config::{discover_snippets, load, LogConfig, PluginKind};
use log::LevelFilter;

#[test]
fn discovery_is_bytewise_sorted_includes_dotfiles_and_only_toml_suffix() {
    let setup = Setup::new();
    for name in [
        "9-a.toml",
        "10-a.toml",
        "B.toml",
        "a.toml",
        ".x.toml",
        "c.toml.disabled",
        "d.toml~",
        ".tmpABC123",
        "e.TOML",
    ] {
        setup.snippet(name, "");
    }
    let found: Vec<_> = discover_snippets(&setup.snippets_dir())
        .unwrap()
        .iter()
        .map(|p| file_name(p))
        .collect();
    assert_eq!(
        found,
        [".x.toml", "10-a.toml", "9-a.toml", "B.toml", "a.toml"]
    );
}

#[test]
fn discovery_follows_symlinks_and_skips_directories_and_dangling_links() {
    let setup = Setup::new();
    let target = setup.path("elsewhere.conf");
    std::fs::write(&target, "[[debugger]]\n").unwrap();
    setup.snippet("real.toml", "");
    std::os::unix::fs::symlink(&target, setup.snippets_dir().join("link.toml")).unwrap();
    std::os::unix::fs::symlink(
        setup.path("gone"),
        setup.snippets_dir().join("dangling.toml"),
    )
    .unwrap();
    std::fs::create_dir(setup.snippets_dir().join("dir.toml")).unwrap();
    let found: Vec<_> = discover_snippets(&setup.snippets_dir())
        .unwrap()
        .iter()
        .map(|p| file_name(p))
        .collect();
    assert_eq!(found, ["link.toml", "real.toml"]);
    let config = load(&main_with_snippets(&setup)).unwrap();
    assert_eq!(config.plugins.len(), 1, "the linked snippet is loaded");
}

#[test]
fn missing_snippets_directory_is_an_error_naming_it() {
    let setup = Setup::new();
    let err = load(&setup.main("snippets = \"{snippets}\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&setup.snippets_dir().display().to_string()),
        "{err}"
    );
    assert!(err.contains("cannot list snippets directory"), "{err}");
}

#[test]
fn snippets_path_that_is_a_file_is_an_error_naming_it() {
    let setup = Setup::new();
    std::fs::write(setup.snippets_dir(), "").unwrap();
    let err = load(&setup.main("snippets = \"{snippets}\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&setup.snippets_dir().display().to_string()),
        "{err}"
    );
    assert!(err.contains("cannot list snippets directory"), "{err}");
}

#[test]
fn a_snippet_that_is_not_utf8_is_an_error_naming_it() {
    let setup = Setup::new();
    let main = main_with_snippets(&setup);
    let snippet = setup.snippets_dir().join("bad.toml");
    std::fs::write(&snippet, [0xff, 0xfe, b'\n']).unwrap();
    let err = load(&main).unwrap_err().to_string();
    assert!(err.contains(&snippet.display().to_string()), "{err}");
    assert!(err.contains("cannot read config snippet"), "{err}");
}

#[test]
fn plugins_accumulate_main_first_then_snippets_in_order() {
    let setup = Setup::new();
    let main = setup.main("snippets = \"{snippets}\"\n[[debugger]]\n");
    setup.snippet("b.toml", "[[umh]]\n");
    setup.snippet("a.toml", "[[prometheus]]\n\n[[agentx]]\n");
    let config = load(&main).unwrap();
    let kinds: Vec<_> = config.plugins.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            PluginKind::Debugger,
            PluginKind::Prometheus,
            PluginKind::Agentx,
            PluginKind::Umh
        ]
    );
    let origins: Vec<_> = config
        .plugins
        .iter()
        .map(|p| format!("{}:{}", file_name(&p.origin.file), p.origin.line))
        .collect();
    assert_eq!(
        origins,
        ["drbd-reactor.toml:2", "a.toml:1", "a.toml:3", "b.toml:1"]
    );
}

#[test]
fn global_key_in_a_snippet_is_an_error_naming_the_snippet_line() {
    // the original silently made it a key of the previous snippet's last table
    let setup = Setup::new();
    let main = main_with_snippets(&setup);
    setup.snippet("10-prom.toml", "[[prometheus]]\n");
    let snippet = setup.snippet("20-poll.toml", "# tune\nstatistics-poll-interval = 7\n");
    let err = load(&main).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2:1: key 'statistics-poll-interval'",
            snippet.display()
        )),
        "{err}"
    );
    assert!(
        err.ends_with("\n2 | statistics-poll-interval = 7\n  | ^"),
        "{err}"
    );
    assert!(
        err.contains("only allowed in the main config file"),
        "{err}"
    );
}

#[test]
fn every_global_key_is_rejected_in_snippets() {
    for key in [
        "snippets = \"/x\"",
        "snippets-monitoring-interval = 60",
        "statistics-poll-interval = 1",
    ] {
        let setup = Setup::new();
        let main = main_with_snippets(&setup);
        setup.snippet("a.toml", &format!("{key}\n"));
        let err = load(&main).unwrap_err().to_string();
        let name = key.split(' ').next().unwrap();
        assert!(err.contains(&format!(":1:1: key '{name}'")), "{err}");
    }
}

#[test]
fn a_snippet_starting_with_a_bare_key_does_not_continue_the_previous_table() {
    // textual concatenation would have put `bogus` into the [[prometheus]] of a.toml
    let setup = Setup::new();
    let main = main_with_snippets(&setup);
    setup.snippet("a.toml", "[[prometheus]]\naddress = \"[::]:9942\"\n");
    setup.snippet("b.toml", "bogus = 1\n");
    let config = load(&main).unwrap();
    assert_eq!(config.plugins[0].table.len(), 1);
    assert_eq!(config.warnings.len(), 1);
    assert_eq!(file_name(&config.warnings[0].origin.file), "b.toml");
}

#[test]
fn syntax_error_line_refers_to_the_snippet_itself() {
    let setup = Setup::new();
    let main = setup.main("snippets = \"{snippets}\"\n\n\n\n\n[[debugger]]\n");
    let snippet = setup.snippet("x.toml", "[[umh]]\n[[umh.resource]]\nname = \n");
    let err = load(&main).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:3:8: key 'name': invalid TOML",
            snippet.display()
        )),
        "{err}"
    );
    assert!(err.ends_with("\n3 | name = \n  |        ^"), "{err}");
}

#[test]
fn duplicate_key_across_files_is_not_an_error() {
    // each file is parsed on its own; the same table name in two files simply accumulates
    let setup = Setup::new();
    let main = setup.main("snippets = \"{snippets}\"\n[[log]]\nlevel = \"warn\"\n");
    setup.snippet(
        "a.toml",
        "[[log]]\nlevel = \"debug\"\nfile = \"/tmp/r.log\"\n",
    );
    let config = load(&main).unwrap();
    assert_eq!(
        config.log,
        [
            LogConfig {
                level: LevelFilter::Warn,
                file: None,
                site: None
            },
            LogConfig {
                level: LevelFilter::Debug,
                file: Some("/tmp/r.log".into()),
                site: None
            }
        ]
    );
}

#[test]
fn log_in_a_snippet_replaces_the_default_sink() {
    let setup = Setup::new();
    let main = main_with_snippets(&setup);
    setup.snippet("log.toml", "[[log]]\nlevel = \"trace\"\n");
    let config = load(&main).unwrap();
    assert_eq!(
        config.log,
        [LogConfig {
            level: LevelFilter::Trace,
            file: None,
            site: None
        }]
    );
}

#[test]
fn empty_log_array_in_main_with_snippet_sinks_keeps_the_snippet_sinks() {
    let setup = Setup::new();
    let main = setup.main("snippets = \"{snippets}\"\nlog = []\n");
    setup.snippet("log.toml", "[[log]]\nlevel = \"error\"\n");
    let config = load(&main).unwrap();
    assert_eq!(config.log.len(), 1);
    assert_eq!(config.log[0].level, LevelFilter::Error);
}

#[test]
fn unknown_plugin_type_in_a_snippet_names_the_snippet() {
    let setup = Setup::new();
    let main = main_with_snippets(&setup);
    let snippet = setup.snippet("p.toml", "\n[[prometeus]]\n");
    let err = load(&main).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:2:3: key 'prometeus'", snippet.display())),
        "{err}"
    );
}

#[test]
fn moving_a_section_to_another_file_keeps_plugin_equality() {
    let setup = Setup::new();
    main_with_snippets(&setup);
    let main = setup.main("snippets = \"{snippets}\"\n[[prometheus]]\naddress = \"[::]:1\"\n");
    let in_main = load(&main).unwrap().plugins;
    let main = setup.main("snippets = \"{snippets}\"\n");
    setup.snippet(
        "p.toml",
        "# moved\n\n[[prometheus]]\n# same\naddress = \"[::]:1\"\n",
    );
    let in_snippet = load(&main).unwrap().plugins;
    assert_ne!(in_main[0].origin, in_snippet[0].origin);
    assert_eq!(in_main, in_snippet);
}

/// Runs `f` on another thread and fails (instead of hanging) if it takes longer than 20 s.
fn within_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .expect("did not finish within 20 s (blocked on a FIFO?)")
}

#[test]
fn links_loops_fifos_and_directories_named_toml_are_skipped_with_a_located_warning() {
    let setup = Setup::new();
    let main = main_with_snippets(&setup);
    let dir = setup.snippets_dir();
    setup.snippet("real.toml", "[[debugger]]\n");
    std::os::unix::fs::symlink(setup.path("gone"), dir.join("dangling.toml")).unwrap();
    std::os::unix::fs::symlink(dir.join("loop-b.toml"), dir.join("loop-a.toml")).unwrap();
    std::os::unix::fs::symlink(dir.join("loop-a.toml"), dir.join("loop-b.toml")).unwrap();
    std::fs::create_dir(dir.join("dir.toml")).unwrap();
    let fifo = dir.join("fifo.toml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo (coreutils)");
    assert!(status.success());
    let config = within_deadline(move || load(&main).map(|c| (c, main)));
    let (config, main) = config.unwrap();
    assert_eq!(config.plugins.len(), 1, "the regular snippet is loaded");
    let warnings: Vec<String> = config.warnings.iter().map(|w| w.to_string()).collect();
    let located = format!("{}:1: key 'snippets': skipping snippet ", main.display());
    let expect = |name: &str, why: &str| {
        let path = dir.join(name).display().to_string();
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("{located}{path}: ")) && w.contains(why)),
            "{name}: {why} not in {warnings:#?}"
        );
    };
    expect("dangling.toml", "dangling symbolic link");
    expect("loop-a.toml", "symbolic link loop");
    expect("loop-b.toml", "symbolic link loop");
    expect("dir.toml", "is a directory");
    expect("fifo.toml", "named pipe");
    assert_eq!(warnings.len(), 5, "{warnings:#?}");
}
