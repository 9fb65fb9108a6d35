//! What an operator sees first: `--check` on a configuration, the version line at start and
//! the stopping line, journal priorities on stderr and timestamps in log files.

mod common;

use common::Setup;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn check(config: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drbd-reactor"))
        .args(["--check", "-c"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_lists_every_broken_snippet_and_exits_1_without_starting() {
    let setup = Setup::new();
    std::fs::create_dir(setup.path("d")).unwrap();
    setup.write("d/a.toml", "[[debugger]]\nformat = 3\n");
    setup.write("d/b.toml", "[[prometheu]]\n");
    let main = setup.config_with(
        &format!("snippets = \"{}\"\n", setup.path("d").display()),
        "",
    );
    let (code, out, err) = check(&main);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("a.toml:2:1: key 'format'"), "{err}");
    assert!(err.contains("b.toml:1"), "{err}");
    assert!(err.contains("2 problems"), "{err}");
    // nothing was started: no drbdsetup ran, no log file was opened
    assert!(setup.pids().is_empty());
    assert!(!setup.path("log").exists());
}

#[test]
fn check_of_a_good_configuration_exits_0_with_a_verdict() {
    let setup = Setup::new();
    let main = setup.config("[[debugger]]\n");
    let (code, out, err) = check(&main);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn start_logs_the_version_and_a_clean_stop_logs_stopped_with_timestamps_in_the_file() {
    let setup = Setup::new();
    let config = setup.config("[[debugger]]\n");
    let mut daemon = setup.start(&config);
    // SIGTERM once the daemon handles it (before that it would end the process by default).
    common::wait_for("the start line and the signal handlers", || {
        let log = daemon.log();
        log.contains("starting, configuration") && log.contains("signal-handler: set up done")
    });
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGTERM) };
    let status = daemon.child.wait().unwrap();
    assert!(status.success());
    let log = daemon.log();
    let version = format!(
        "INFO [drbd_reactor] drbd-reactor {} (",
        env!("CARGO_PKG_VERSION")
    );
    assert!(log.contains(&version), "{log}");
    assert!(
        log.contains("INFO [drbd_reactor] drbd-reactor stopped\n"),
        "{log}"
    );
    let raw = std::fs::read_to_string(&daemon.log).unwrap();
    assert!(
        raw.lines()
            .next()
            .unwrap()
            .ends_with(&format!("starting, configuration {}", config.display())),
        "{raw}"
    );
    assert!(
        raw.lines().all(|l| !l.starts_with("INFO [")),
        "every record has a timestamp: {raw}"
    );
}

#[test]
fn stderr_records_carry_syslog_priorities_when_stderr_is_the_journal_stream() {
    let setup = Setup::new();
    // the [[log]] sink is stderr here; stderr is a file whose device:inode JOURNAL_STREAM names
    setup.write("r.toml", "[[log]]\nlevel = \"debug\"\n[[debugger]]\n");
    let stderr_path = setup.path("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();
    let mut cmd = setup.command(&setup.path("r.toml"));
    cmd.stderr(stderr)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let read = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    // SIGTERM once the daemon handles it (before that it would end the process by default).
    while !read().contains("signal-handler: set up done") {
        assert!(Instant::now() < deadline, "no start line: {}", read());
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let text = read();
    assert!(
        text.contains("<6>INFO [drbd_reactor] drbd-reactor "),
        "{text}"
    );
    assert!(text.contains("<7>DEBUG ["), "{text}");
    assert!(
        !text.contains("\nINFO ["),
        "every record is prefixed: {text}"
    );
}
