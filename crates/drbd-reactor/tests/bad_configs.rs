//! The malformed-configuration corpus (`tests/fixtures/bad-configs/`, issue 15 item 4): every
//! case, at start, makes the daemon exit 1 with exactly its golden message on stderr, and on
//! reload (SIGHUP to a daemon running a good configuration) logs the same message and keeps
//! the running configuration. Cases marked `accepted-with-warning` load by design (C13): their
//! golden file holds the warning, checked at start and on reload.
//!
//! A case is a directory: `reactor.toml`, optional `snippets/`, optional `setup` (entries git
//! cannot store, made here: FIFOs, links, directories, huge or binary files), `expected` (the
//! message, `@DIR@` standing for the case's directory) and an optional `reload` file saying
//! `log` when the reload keeps the old `[[log]]` sinks but applies the rest (a log file that
//! cannot be opened is reported, not fatal, on reload). Regenerate the golden files with
//! `BLESS_BAD_CONFIGS=1 cargo test -p drbd-reactor --test bad_configs` and review the diff.

mod common;
use common::*;
use std::path::{Path, PathBuf};

const RELOAD_FAILED: &str =
    "ERROR [drbd_reactor] reload failed, keeping the running configuration: ";
const LOG_KEPT: &str = "ERROR [drbd_reactor] reload: keeping the old [[log]] sinks: ";
const SKIPPING: &str = "skipping snippet";

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-configs");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn blessing() -> bool {
    std::env::var_os("BLESS_BAD_CONFIGS").is_some()
}

fn warns(case: &Path) -> bool {
    case.join("accepted-with-warning").exists()
}

fn reload_keeps_only_the_log(case: &Path) -> bool {
    std::fs::read_to_string(case.join("reload")).is_ok_and(|s| s.trim() == "log")
}

fn name(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().into_owned()
}

/// Bytes that are no TOML, the same on every run (a linear congruential generator).
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// Writes the case into `dir` (created afresh), `@DIR@` replaced by `dir`. `log` adds a sink
/// to that file at the end of `reactor.toml` (for cases that load, so the warning is logged).
fn materialize(case: &Path, dir: &Path, log: Option<&Path>) {
    if dir.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let subst = |text: String| text.replace("@DIR@", &dir.display().to_string());
    let mut files = vec![case.join("reactor.toml")];
    if let Ok(listing) = std::fs::read_dir(case.join("snippets")) {
        std::fs::create_dir(dir.join("snippets")).unwrap();
        files.extend(listing.map(|e| e.unwrap().path()));
    }
    for file in files.into_iter().filter(|f| f.exists()) {
        let relative = file.strip_prefix(case).unwrap();
        let mut text = subst(std::fs::read_to_string(&file).unwrap());
        if let (Some(log), true) = (log, relative == Path::new("reactor.toml")) {
            text.push_str(&format!("\n[[log]]\nfile = \"{}\"\n", log.display()));
        }
        std::fs::write(dir.join(relative), text).unwrap();
    }
    let setup = std::fs::read_to_string(case.join("setup")).unwrap_or_default();
    for line in setup.lines() {
        let words: Vec<String> = line.split_whitespace().map(|w| subst(w.into())).collect();
        let path = dir.join(&words[1]);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match words[0].as_str() {
            "dir" => std::fs::create_dir(&path).unwrap(),
            "symlink" => std::os::unix::fs::symlink(&words[2], &path).unwrap(),
            "fifo" => {
                let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
                // SAFETY: mkfifo(3) with a NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            }
            "garbage" => std::fs::write(&path, garbage(words[2].parse().unwrap())).unwrap(),
            "latin1" => std::fs::write(&path, b"# caf\xe9\n[[debugger]]\n").unwrap(),
            "nul" => std::fs::write(&path, b"[[debugger]]\n\0\n").unwrap(),
            "huge" => {
                let lines: usize = words[2].parse().unwrap();
                let mut text = String::with_capacity(lines * 64);
                for i in 0..lines {
                    text.push_str(&format!(
                        "# padding line {i:08} of a snippet far too long\n"
                    ));
                }
                text.push_str("[[debugger]]\nformat = 3\n");
                std::fs::write(&path, text).unwrap();
            }
            other => panic!("{}: unknown setup step {other:?}", case.display()),
        }
    }
}

fn normalize(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "@DIR@");
    format!("{}\n", text.trim_end_matches('\n'))
}

/// Compares `got` with the case's golden file, or writes it when blessing.
fn golden(case: &Path, got: &str, failures: &mut Vec<String>, what: &str) {
    let file = case.join("expected");
    if blessing() && what == "start" {
        std::fs::write(&file, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap_or_default();
    if got != want {
        failures.push(format!(
            "{} ({what}):\n--- expected\n{want}--- got\n{got}",
            name(case)
        ));
    }
}

/// The `skipping snippet` warnings of a log, in order, without their level prefix.
fn skip_warnings(log: &str) -> String {
    records(log)
        .into_iter()
        .filter(|r| r.starts_with("WARN [") && r.contains(SKIPPING))
        .map(|r| r + "\n")
        .collect()
}

/// Runs the daemon on `config` until it exits, or kills it at the deadline (None: it ran).
fn run_bounded(setup: &Setup, config: &Path) -> Option<(std::process::ExitStatus, String)> {
    use std::io::Read;
    let mut child = setup.command(config).spawn().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Some((status, stderr))
}

#[test]
fn the_corpus_holds_at_least_80_cases_that_fail() {
    let failing = corpus().iter().filter(|c| !warns(c)).count();
    assert!(failing >= 80, "only {failing} failing cases");
}

#[test]
fn every_bad_config_exits_1_at_start_with_its_golden_message() {
    let mut failures = Vec::new();
    let cases = corpus();
    for case in &cases {
        let setup = Setup::new();
        let dir = setup.path("c");
        let config = dir.join("reactor.toml");
        if warns(case) {
            let log = setup.path("log");
            materialize(case, &dir, Some(&log));
            let mut daemon = setup.start(&config);
            daemon.wait_log("initial state", 1);
            let got = normalize(&skip_warnings(&daemon.log()), &dir);
            assert!(daemon.stop().success(), "{}", name(case));
            golden(case, &got, &mut failures, "start");
            continue;
        }
        materialize(case, &dir, None);
        let Some((status, stderr)) = run_bounded(&setup, &config) else {
            failures.push(format!(
                "{}: the daemon started instead of failing",
                name(case)
            ));
            continue;
        };
        if status.code() != Some(1) || !stderr.starts_with("Error: ") {
            failures.push(format!("{}: {status}: {stderr}", name(case)));
            continue;
        }
        golden(
            case,
            &normalize(&stderr["Error: ".len()..], &dir),
            &mut failures,
            "start",
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_bad_config_on_reload_logs_its_golden_message_and_keeps_the_running_config() {
    let setup = Setup::new();
    let dir = setup.path("c");
    let config = dir.join("reactor.toml");
    let log = setup.path("log");
    let good = format!(
        "[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n\n[[debugger]]\n",
        log.display()
    );
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&config, &good).unwrap();
    let mut daemon = setup.start(&config);
    daemon.wait_log("initial state", 1);
    let generation = setup.path("run/config-generation");
    let mut failures = Vec::new();
    let mut reloaded = 0;
    for case in corpus() {
        let before = daemon.records().len();
        let n = daemon.count(RELOAD_FAILED) + 1;
        materialize(&case, &dir, warns(&case).then_some(log.as_path()));
        daemon.signal(libc::SIGHUP);
        let fails = !warns(&case) && !reload_keeps_only_the_log(&case);
        if fails {
            let mut text = String::new();
            wait_for(&format!("{}: the reload to fail", name(&case)), || {
                text = std::fs::read_to_string(&generation).unwrap_or_default();
                daemon.count(RELOAD_FAILED) >= n && text.contains("result=failed\n")
            });
        } else {
            reloaded += 1;
            daemon.wait_log("configuration reloaded", reloaded);
        }
        let new: Vec<String> = daemon.records().split_off(before);
        let got = if warns(&case) {
            normalize(&skip_warnings(&new.join("\n")), &dir)
        } else {
            let prefix = if fails { RELOAD_FAILED } else { LOG_KEPT };
            let record = new.iter().find(|r| r.starts_with(prefix));
            normalize(record.map_or("", |r| &r[prefix.len()..]), &dir)
        };
        golden(&case, &got, &mut failures, "reload");
        if fails {
            // nothing was stopped or started: the running configuration is the good one
            if new
                .iter()
                .any(|r| r.contains("stopping plugin") || r.contains("starting plugin"))
            {
                failures.push(format!(
                    "{}: plugins changed on a failed reload: {new:?}",
                    name(&case)
                ));
            }
        } else {
            // back to the good configuration for the next case
            std::fs::write(&config, &good).unwrap();
            daemon.signal(libc::SIGHUP);
            reloaded += 1;
            daemon.wait_log("configuration reloaded", reloaded);
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The debugger was started once, plus once per return from a case that loaded, and the
    // running configuration is still the good one.
    assert_eq!(
        daemon.count("starting plugin [[debugger]]"),
        1 + count_restores(&daemon)
    );
    daemon.signal(libc::SIGUSR1);
    daemon.wait_log("main: plugin config:", 1);
    assert!(daemon
        .log()
        .contains("main: plugin config:\n[[debugger]]\nformat = \"verbose\"\n"));
    assert!(daemon.stop().success());
}

/// Each successful reload away from and back to the good configuration restarts the debugger
/// once (the cases that load have no debugger of their own).
fn count_restores(daemon: &Daemon) -> usize {
    daemon.count("configuration reloaded") / 2
}

/// `--check` says what the daemon would do with each case: exit 1 with an `error:` line for
/// every case the daemon refuses, OK with its `skipping snippet` warning for the cases it
/// loads with one. (It approved a log file that is a directory, and listed no skipped snippet.)
#[test]
fn check_refuses_every_case_the_daemon_refuses_and_warns_where_it_warns() {
    let mut failures = Vec::new();
    let cases = corpus();
    for case in &cases {
        let setup = Setup::new();
        let dir = setup.path("c");
        let config = dir.join("reactor.toml");
        materialize(case, &dir, None);
        let mut cmd = setup.command(&config);
        cmd.arg("--check");
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let refused = out.status.code() == Some(1) && stderr.contains("error: ");
        let warned = out.status.success() && stderr.contains(SKIPPING);
        let wanted = if warns(case) { warned } else { refused };
        if !wanted {
            failures.push(format!("{}: {}: {stderr}", name(case), out.status));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
