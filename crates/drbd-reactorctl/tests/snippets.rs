//! enable, disable, rm, restart, cat: renames, the reload step's systemctl calls, and the
//! fixed defects (`restart <typo>`, `rm --force ../x`).
mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

const RELOAD: [&str; 2] = [
    "is-active -q drbd-reactor-reload.path",
    "reload drbd-reactor.service",
];

#[test]
fn disable_renames_and_reloads_then_enable_renames_back_and_reloads() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[debugger]]\n");
    let out = bench.ctl(&["disable", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("Disabling '{}/a.toml'...", bench.dir().display())));
    assert!(bench.dir().join("a.toml.disabled").is_file() && !bench.dir().join("a.toml").exists());
    assert_eq!(bench.systemctl_log(), RELOAD);
    let out = bench.ctl(&["enable", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bench.dir().join("a.toml").is_file() && !bench.dir().join("a.toml.disabled").exists());
    assert_eq!(bench.systemctl_log(), [RELOAD, RELOAD].concat());
}

#[test]
fn with_the_auto_reload_path_unit_active_no_explicit_reload_is_sent() {
    let bench = Bench::new();
    bench.auto_reload(true);
    bench.snippet("a.toml", "[[debugger]]\n");
    assert!(bench.ctl(&["disable", "a"]).status.success());
    assert_eq!(
        bench.systemctl_log(),
        ["is-active -q drbd-reactor-reload.path"]
    );
}

#[test]
fn a_failing_reload_exits_1_naming_the_command() {
    let bench = Bench::new();
    std::fs::write(bench.root().join("fail-reload"), "").unwrap();
    bench.snippet("a.toml", "[[debugger]]\n");
    let out = bench.ctl(&["disable", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("systemctl reload drbd-reactor.service"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn disable_now_stops_the_promoter_targets_after_the_reload() {
    let bench = Bench::new();
    bench.snippet(
        "p.toml",
        "[[promoter]]\n[promoter.resources.r-1]\nstart = [\"a.service\"]\n",
    );
    assert!(bench.ctl(&["disable", "--now", "p"]).status.success());
    assert_eq!(
        bench.systemctl_log(),
        [RELOAD[0], RELOAD[1], "stop drbd-services@r\\x2d1.target"]
    );
}

#[test]
fn enable_does_not_overwrite_an_existing_enabled_snippet() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[debugger]]\n");
    bench.snippet("a.toml.disabled", "[[umh]]\n");
    let out = bench.ctl(&["enable", "a"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("already exists, doing nothing"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(bench.dir().join("a.toml")).unwrap(),
        "[[debugger]]\n"
    );
    assert!(
        bench.systemctl_log().is_empty(),
        "nothing changed, no reload"
    );
}

#[test]
fn enable_of_an_explicit_enabled_name_is_an_error() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[debugger]]\n");
    bench.snippet("b.toml.disabled", "[[umh]]\n");
    let out = bench.ctl(&["enable", "b", "a.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        bench.dir().join("b.toml.disabled").exists(),
        "nothing renamed before the error"
    );
    assert!(
        stderr(&out).contains("to end in .toml.disabled"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_names_are_reported_and_skipped_without_a_reload() {
    let bench = Bench::new();
    let out = bench.ctl(&["disable", "nope"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("nope.toml' does not exist or is not a regular file, ignoring"),
        "{}",
        stderr(&out)
    );
    assert!(bench.systemctl_log().is_empty());
}

#[test]
fn rm_force_refuses_paths_outside_the_snippets_directory() {
    let bench = Bench::new();
    let outside = bench.root().join("x.toml");
    std::fs::write(&outside, "[[debugger]]\n").unwrap();
    std::fs::create_dir(bench.dir().join("sub")).unwrap();
    std::fs::write(bench.dir().join("sub/y.toml"), "[[debugger]]\n").unwrap();
    let out = bench.ctl(&["rm", "--force", "../x", "sub/y", outside.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(outside.exists(), "the file outside must survive");
    assert!(bench.dir().join("sub/y.toml").exists());
    assert_eq!(
        stderr(&out)
            .matches("is not directly within snippets path")
            .count(),
        3,
        "{}",
        stderr(&out)
    );
    assert!(
        bench.systemctl_log().is_empty(),
        "nothing removed, no reload"
    );
}

fn rm_with_answer(bench: &Bench, answer: &str) -> std::process::Output {
    let mut child = bench
        .cmd()
        .arg("-c")
        .arg(bench.main())
        .args(["rm", "a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn rm_asks_and_defaults_to_no() {
    let bench = Bench::new();
    let path = bench.snippet("a.toml", "[[debugger]]\n");
    let out = rm_with_answer(&bench, "\n");
    assert!(out.status.success());
    assert_eq!(stdout(&out), format!("Remove '{}'? [N/y] ", path.display()));
    assert!(path.exists());
    let out = rm_with_answer(&bench, "what\ny\n");
    assert!(stdout(&out).contains("Unknown answer 'what', use 'y' or 'n'"));
    assert!(!path.exists());
    assert_eq!(bench.systemctl_log(), RELOAD);
}

#[test]
fn rm_without_names_is_a_usage_error() {
    let bench = Bench::new();
    assert_eq!(bench.ctl(&["rm"]).status.code(), Some(1));
}

#[test]
fn rm_disabled_removes_the_disabled_snippet() {
    let bench = Bench::new();
    bench.snippet("a.toml.disabled", "[[debugger]]\n");
    assert!(bench.ctl(&["rm", "-f", "--disabled", "a"]).status.success());
    assert!(!bench.dir().join("a.toml.disabled").exists());
}

#[test]
fn restart_of_a_misspelled_name_is_an_error_naming_it_and_restarts_nothing() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[debugger]]\n");
    let out = bench.ctl(&["restart", "a", "typo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("'typo'"), "{}", stderr(&out));
    assert!(
        bench.systemctl_log().is_empty(),
        "{:?}",
        bench.systemctl_log()
    );
    assert!(bench.dir().join("a.toml").exists());
}

#[test]
fn restart_with_names_disables_reloads_stops_targets_enables_and_reloads() {
    let bench = Bench::new();
    bench.snippet("p.toml", "[[promoter]]\n[promoter.resources.r1]\n");
    let out = bench.ctl(&["restart", "--with-targets", "p"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        bench.systemctl_log(),
        [
            RELOAD[0],
            RELOAD[1],
            "stop drbd-services@r1.target",
            RELOAD[0],
            RELOAD[1]
        ]
    );
    assert!(bench.dir().join("p.toml").exists());
}

/// A reload can fail (another snippet is broken, the daemon does not answer in time): the
/// snippet must not stay disabled, or the next successful reload drops its plugin.
#[test]
fn a_restart_whose_reload_fails_puts_the_snippet_back_and_exits_1() {
    let bench = Bench::new();
    std::fs::write(bench.root().join("fail-reload"), "").unwrap();
    bench.snippet("a.toml", "[[debugger]]\n");
    let out = bench.ctl(&["restart", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("renamed back; nothing restarted"),
        "{}",
        stderr(&out)
    );
    assert!(bench.dir().join("a.toml").is_file());
    assert!(!bench.dir().join("a.toml.disabled").exists());
}

/// `restart` resolved its names, then resolved the resulting paths again as names: with a
/// relative `snippets` directory they were joined twice, nothing was disabled, and the final
/// `enable` of an empty list enabled every disabled snippet.
#[test]
fn restart_with_a_relative_snippets_directory_restarts_it_and_enables_nothing_else() {
    let bench = Bench::new();
    std::fs::write(bench.main(), "snippets = \"snippets\"\n").unwrap();
    bench.snippet("p.toml", "[[debugger]]\n");
    bench.snippet("q.toml.disabled", "[[debugger]]\n");
    let out = bench
        .cmd()
        .current_dir(bench.root())
        .args(["-c", "main.toml", "restart", "p"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(bench.systemctl_log(), [RELOAD, RELOAD].concat());
    assert!(bench.dir().join("p.toml").is_file());
    assert!(bench.dir().join("q.toml.disabled").is_file());
    assert!(!bench.dir().join("q.toml").exists());
}

#[test]
fn restart_of_a_name_given_twice_restarts_it_once() {
    let bench = Bench::new();
    bench.snippet("p.toml", "[[debugger]]\n");
    let out = bench.ctl(&["restart", "p", "p.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(bench.systemctl_log(), [RELOAD, RELOAD].concat());
    assert!(bench.dir().join("p.toml").is_file());
}

#[test]
fn restart_without_names_restarts_the_daemon() {
    let bench = Bench::new();
    assert!(bench.ctl(&["restart"]).status.success());
    assert_eq!(bench.systemctl_log(), ["restart drbd-reactor.service"]);
}

#[test]
fn cat_displays_enabled_snippets() {
    let bench = Bench::new();
    let path = bench.snippet("a.toml", "[[debugger]]\n# hello\n");
    bench.snippet("b.toml.disabled", "[[umh]]\n");
    let out = bench.ctl(&["cat"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "[[debugger]]\n# hello\n");
    assert!(stderr(&out).contains(&format!("Displaying {}...", path.display())));
    assert_eq!(stdout(&bench.ctl(&["cat", "b.toml.disabled"])), "[[umh]]\n");
}

#[test]
fn disabling_an_already_disabled_snippet_changes_nothing_and_does_not_reload() {
    let bench = Bench::new();
    bench.snippet("a.toml.disabled", "[[debugger]]\n");
    let out = bench.ctl(&["disable", "a.toml.disabled"]);
    assert!(out.status.success());
    assert!(bench.dir().join("a.toml.disabled").exists());
    assert!(
        bench.systemctl_log().is_empty(),
        "{:?}",
        bench.systemctl_log()
    );
}

#[test]
fn disable_refuses_to_overwrite_an_existing_disabled_twin_and_disables_the_others() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[debugger]]\n# new\n");
    bench.snippet("a.toml.disabled", "[[debugger]]\n# old\n");
    bench.snippet("b.toml", "[[debugger]]\n");
    let out = bench.ctl(&["disable", "a", "b"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let dir = bench.dir().display().to_string();
    assert!(
        stderr(&out).contains(&format!(
            "'{dir}/a.toml' not disabled: '{dir}/a.toml.disabled' exists"
        )),
        "{}",
        stderr(&out)
    );
    let read = |name: &str| std::fs::read_to_string(bench.dir().join(name)).unwrap();
    assert_eq!(read("a.toml"), "[[debugger]]\n# new\n");
    assert_eq!(read("a.toml.disabled"), "[[debugger]]\n# old\n");
    assert!(bench.dir().join("b.toml.disabled").is_file() && !bench.dir().join("b.toml").exists());
    assert_eq!(bench.systemctl_log(), RELOAD, "b's rename is reloaded");
}

#[test]
fn restart_refuses_a_snippet_whose_disabled_twin_exists_and_changes_nothing() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[debugger]]\n# new\n");
    bench.snippet("a.toml.disabled", "[[debugger]]\n# old\n");
    let out = bench.ctl(&["restart", "a"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a.toml.disabled' exists")
            && stderr(&out).contains("nothing restarted"),
        "{}",
        stderr(&out)
    );
    let read = |name: &str| std::fs::read_to_string(bench.dir().join(name)).unwrap();
    assert_eq!(read("a.toml"), "[[debugger]]\n# new\n");
    assert_eq!(read("a.toml.disabled"), "[[debugger]]\n# old\n");
    assert!(bench.systemctl_log().is_empty());
}

/// Names are bytes: two names that are not UTF-8 and differ only there stay two files through
/// `disable` and `enable` (a lossy name made both `a\u{fffd}.toml.disabled`, the second
/// overwriting the first; `enable` gave up on them).
#[test]
fn names_that_are_not_utf8_keep_their_bytes_through_disable_and_enable() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bench = Bench::new();
    let file = |name: &[u8]| bench.dir().join(OsStr::from_bytes(name));
    std::fs::write(file(b"a\xfe.toml"), "[[debugger]]\n# fe\n").unwrap();
    std::fs::write(file(b"a\xff.toml"), "[[debugger]]\n# ff\n").unwrap();
    let out = bench.ctl(&["disable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(file(b"a\xfe.toml.disabled")).unwrap(),
        "[[debugger]]\n# fe\n"
    );
    assert_eq!(
        std::fs::read_to_string(file(b"a\xff.toml.disabled")).unwrap(),
        "[[debugger]]\n# ff\n"
    );
    assert_eq!(std::fs::read_dir(bench.dir()).unwrap().count(), 2);
    assert_eq!(bench.systemctl_log(), RELOAD);
    let out = bench.ctl(&["enable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(file(b"a\xfe.toml")).unwrap(),
        "[[debugger]]\n# fe\n"
    );
    assert_eq!(
        std::fs::read_to_string(file(b"a\xff.toml")).unwrap(),
        "[[debugger]]\n# ff\n"
    );
    assert_eq!(bench.systemctl_log(), [RELOAD, RELOAD].concat());
}

/// `enable` of `x` and a name that is not UTF-8: both are enabled and reloaded (it renamed
/// `x`, then stopped at the other name with no reload for `x`).
#[test]
fn enable_with_a_name_that_is_not_utf8_after_another_enables_both_and_reloads() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bench = Bench::new();
    bench.snippet("x.toml.disabled", "[[debugger]]\n");
    std::fs::write(
        bench.dir().join(OsStr::from_bytes(b"\xff.toml.disabled")),
        "[[umh]]\n",
    )
    .unwrap();
    let out = bench.ctl(&["enable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bench.dir().join("x.toml").is_file());
    assert!(bench.dir().join(OsStr::from_bytes(b"\xff.toml")).is_file());
    assert_eq!(bench.systemctl_log(), RELOAD);
}

/// `snippets = "./snippets"` is the directory `snippets`: its files are directly in it, by
/// name and without names (every one was refused as "not directly within snippets path").
#[test]
fn a_snippets_directory_written_with_a_leading_dot_finds_its_snippets() {
    let bench = Bench::new();
    std::fs::write(bench.main(), "snippets = \"./snippets\"\n").unwrap();
    bench.snippet("a.toml", "[[debugger]]\n");
    bench.snippet("b.toml", "[[debugger]]\n");
    let ctl = |args: &[&str]| {
        bench
            .cmd()
            .current_dir(bench.root())
            .args(["-c", "main.toml"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = ctl(&["disable", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("not directly within"),
        "{}",
        stderr(&out)
    );
    assert!(bench.dir().join("a.toml.disabled").is_file());
    let out = ctl(&["disable"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bench.dir().join("b.toml.disabled").is_file());
    assert_eq!(bench.systemctl_log(), [RELOAD, RELOAD].concat());
}
