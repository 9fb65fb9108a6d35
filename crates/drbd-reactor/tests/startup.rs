//! The command line and bad configurations at start: a clear message on stderr and exit
//! status 1; --help and --version exit 0.

mod common;
use common::*;

fn fails_with(setup: &Setup, config: &std::path::Path, message: &str) {
    let (status, _, stderr) = run_once(setup, &["-c", config.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("Error: "), "{stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in {stderr:?}"
    );
}

#[test]
fn a_missing_config_file_is_named_and_exits_1() {
    let setup = Setup::new();
    let missing = setup.path("nope.toml");
    fails_with(
        &setup,
        &missing,
        &format!("{}: cannot read config file", missing.display()),
    );
}

#[test]
fn an_unreadable_snippets_directory_is_named_and_exits_1() {
    let setup = Setup::new();
    let dir = setup.path("missing.d");
    setup.write("r.toml", &format!("snippets = \"{}\"\n", dir.display()));
    fails_with(&setup, &setup.path("r.toml"), &dir.display().to_string());
}

#[test]
fn a_wrong_type_names_file_line_and_key_and_exits_1() {
    let setup = Setup::new();
    setup.write("r.toml", "\nstatistics-poll-interval = \"often\"\n");
    fails_with(
        &setup,
        &setup.path("r.toml"),
        &format!(
            "{}:2:1: key 'statistics-poll-interval'",
            setup.path("r.toml").display()
        ),
    );
    setup.write("d.toml", "[[debugger]]\nformat = \"loud\"\n");
    fails_with(
        &setup,
        &setup.path("d.toml"),
        &format!("{}:2:1: key 'format'", setup.path("d.toml").display()),
    );
}

#[test]
fn an_unknown_plugin_type_or_a_bad_promoter_entry_exits_1_naming_it() {
    let setup = Setup::new();
    setup.write("r.toml", "[[prometheu]]\n");
    fails_with(
        &setup,
        &setup.path("r.toml"),
        "unknown plugin type 'prometheu'",
    );
    setup.write(
        "r.toml",
        "[[debugger]]\n[[promoter]]\n[promoter.resources.r0]\nstart = [\"a.service\", \"b/c.service\"]\n",
    );
    fails_with(
        &setup,
        &setup.path("r.toml"),
        &format!(
            "{}:4:1: key 'resources.r0.start[1]': [[promoter]]:",
            setup.path("r.toml").display()
        ),
    );
}

#[test]
fn duplicate_plugin_sections_at_start_exit_1() {
    let setup = Setup::new();
    setup.write("r.toml", "[[debugger]]\n[[debugger]]\n");
    fails_with(&setup, &setup.path("r.toml"), "duplicate plugin instance");
}

#[test]
fn help_and_version_exit_0_and_unknown_options_exit_1() {
    let setup = Setup::new();
    let (status, out, _) = run_once(&setup, &["--version"]);
    assert!(status.success());
    assert_eq!(
        out,
        format!(
            "drbd-reactor {} (Rust re-implementation, compatible with drbd-reactor 1.11.0)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let (status, out, _) = run_once(&setup, &["--help"]);
    assert!(status.success());
    assert!(
        out.contains("--config") && out.contains("--allow-tty"),
        "{out}"
    );
    let (status, _, err) = run_once(&setup, &["--bogus"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--bogus"), "{err}");
}

#[test]
fn sigint_stops_cleanly_with_status_0() {
    let setup = Setup::new();
    let config = setup.config("[[debugger]]\n");
    let mut daemon = setup.start(&config);
    daemon.wait_log("initial state", 1);
    daemon.signal(libc::SIGINT);
    assert!(daemon.wait_exit().success());
    for pid in setup.pids() {
        wait_for("the stand-in to be gone", || process_gone(pid));
    }
}

#[test]
fn on_a_terminal_it_refuses_to_start_without_allow_tty() {
    let setup = Setup::new();
    let bin = env!("CARGO_BIN_EXE_drbd-reactor");
    // `script` (util-linux) runs the command on a pseudo terminal
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{bin} -c /nonexistent.toml"), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (Debian package bsdutils) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Error: Refusing to start in a terminal without --allow-tty. Did you mean drbd-reactorctl?"), "{text}");
    // with --allow-tty it gets as far as reading the config
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{bin} --allow-tty -c {}", setup.path("nope.toml").display()),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cannot read config file"), "{text}");
}

/// The FIFO `path` opened for writing, once its reader has opened it (polled: a non-blocking
/// open fails while nobody reads it).
/// A configuration file that is a FIFO: the daemon's read of it waits for a writer, so a signal
/// sent meanwhile arrives during the read, every time.
fn fifo_config(setup: &Setup) -> std::path::PathBuf {
    let fifo = setup.path("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a path in our temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    fifo
}

fn fifo_writer(path: &std::path::Path) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    let mut fifo = None;
    wait_for("the daemon to open its configuration", || {
        fifo = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .ok();
        fifo.is_some()
    });
    fifo.unwrap()
}

/// Before the signal handlers were installed (after the configuration was read, the logging
/// set up and the runtime built), a SIGHUP killed the daemon. The configuration is a FIFO, so
/// the signal arrives, deterministically, while the daemon reads it at start.
#[test]
fn a_sighup_while_the_configuration_is_read_at_start_is_a_reload_once_running() {
    use std::io::Write;
    let setup = Setup::new();
    let text = std::fs::read_to_string(setup.config("[[debugger]]\n")).unwrap();
    let fifo = fifo_config(&setup);
    let mut daemon = setup.start(&fifo);
    // The writer opens only while the daemon has the FIFO open: it is reading it.
    let mut writer = fifo_writer(&fifo);
    daemon.signal(libc::SIGHUP);
    let _ = writer.write_all(text.as_bytes());
    drop(writer);
    let mut exited = None;
    wait_for("the daemon to log its start, or to exit", || {
        exited = daemon.child.try_wait().unwrap();
        exited.is_some() || daemon.count("starting, configuration") > 0
    });
    assert_eq!(exited, None, "the SIGHUP at start ended the daemon");
    // Started: the first read has closed the FIFO; the reload opens it again.
    fifo_writer(&fifo).write_all(text.as_bytes()).unwrap();
    daemon.wait_log("configuration reloaded: 1 plugins kept", 1);
    assert!(daemon.stop().success());
}

/// A SIGTERM while the configuration is read at start ends the daemon cleanly without
/// starting any plugin only to stop it (a promoter would adjust, write drop-ins and reload
/// systemd first): during the read, or, when the read won the race, before the plugins.
#[test]
fn a_sigterm_while_the_configuration_is_read_stops_before_any_plugin_starts() {
    use std::io::Write;
    let setup = Setup::new();
    let text = std::fs::read_to_string(setup.config("[[debugger]]\n")).unwrap();
    let fifo = fifo_config(&setup);
    let mut daemon = setup.start(&fifo);
    let mut writer = fifo_writer(&fifo);
    daemon.signal(libc::SIGTERM);
    let _ = writer.write_all(text.as_bytes());
    drop(writer);
    assert!(daemon.wait_exit().success());
    assert_eq!(daemon.count("starting plugin"), 0, "{}", daemon.log());
    assert_eq!(daemon.count("initial state"), 0, "{}", daemon.log());
}

/// Whether `pid` has a handler for `sig` (/proc/PID/status SigCgt).
fn catches(pid: u32, sig: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let hex = s
                .lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))?
                .trim()
                .to_string();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// A configuration read that blocks for good (a FIFO nobody writes, a hung network file
/// system): SIGTERM still ends the daemon, as its default action did before the handlers
/// were installed ahead of the read.
#[test]
fn a_sigterm_ends_a_daemon_whose_configuration_read_blocks_for_good() {
    let setup = Setup::new();
    let fifo = fifo_config(&setup);
    // Nobody opens the FIFO for writing: the daemon's open blocks.
    let mut daemon = setup.start(&fifo);
    let pid = daemon.child.id();
    wait_for("the daemon's SIGTERM handler", || {
        catches(pid, libc::SIGTERM)
    });
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit().success());
}
