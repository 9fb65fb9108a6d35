//! `edit`: a scripted `$EDITOR` through failing and valid rounds, aborts, modes, and the
//! interactive path under a real terminal (`script`).
mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;

/// An editor that, on its N-th call, saves `rounds/N` (if present) over the file and keeps a
/// copy of what it was shown in `shown/N`.
fn scripted_editor(bench: &Bench, rounds: &[&str]) -> String {
    let dir = bench.root().join("editor");
    std::fs::create_dir_all(dir.join("rounds")).unwrap();
    std::fs::create_dir_all(dir.join("shown")).unwrap();
    for (i, text) in rounds.iter().enumerate() {
        std::fs::write(dir.join(format!("rounds/{}", i + 1)), text).unwrap();
    }
    let script = dir.join("edit.sh");
    write_exec(
        &script,
        &format!(
            "#!/bin/sh\nd={}\nn=$(( $(cat $d/count 2>/dev/null || echo 0) + 1 ))\necho $n > $d/count\ncp \"$1\" $d/shown/$n\n[ -f $d/rounds/$n ] && cp $d/rounds/$n \"$1\"\nexit 0\n",
            dir.display()
        ),
    );
    script.display().to_string()
}

fn shown(bench: &Bench, n: usize) -> String {
    std::fs::read_to_string(bench.root().join(format!("editor/shown/{n}"))).unwrap_or_default()
}

fn edit(bench: &Bench, editor: &str, args: &[&str]) -> std::process::Output {
    bench
        .cmd()
        .env("EDITOR", editor)
        .arg("-c")
        .arg(bench.main())
        .arg("edit")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn edit_reopens_with_the_error_until_a_valid_version_and_only_then_writes_the_snippet() {
    let bench = Bench::new();
    let editor = scripted_editor(
        &bench,
        &[
            "[[prometheus]]\naddress = \n",
            "[[prometheus]]\naddress = \"127.0.0.1:9942\"\n",
        ],
    );
    let out = edit(&bench, &editor, &["-t", "prometheus", "metrics"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let target = bench.dir().join("metrics.toml");
    let first = shown(&bench, 1);
    assert!(
        first.contains("#| Happy editing:\n[[prometheus]]\nenums = true\n# address = \":9942\""),
        "{first}"
    );
    let second = shown(&bench, 2);
    assert!(second.contains("#| Error: "), "{second}");
    // every line of the (multi-line) error is a header line
    let body: Vec<&str> = second.lines().filter(|l| !l.starts_with("#|")).collect();
    assert_eq!(body, ["[[prometheus]]", "address = "], "{second}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "[[prometheus]]\naddress = \"127.0.0.1:9942\"\n"
    );
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "a new snippet gets the umask's mode");
    assert_eq!(
        bench.systemctl_log(),
        [
            "is-active -q drbd-reactor-reload.path",
            "reload drbd-reactor.service"
        ]
    );
    let leftovers: Vec<_> = std::fs::read_dir(bench.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("metrics.toml")]);
}

/// A section that parses as TOML but that the daemon's plugin refuses (here a promoter's
/// misspelt `on-drbd-demote-failure`) reopens the editor with the daemon's located error;
/// saved, it would have stopped the whole daemon at its next start.
#[test]
fn a_value_the_daemon_refuses_reopens_the_editor_with_its_error() {
    let bench = Bench::new();
    let editor = scripted_editor(
        &bench,
        &[
            "[[promoter]]\n[promoter.resources.r0]\nstart = [\"a.service\"]\non-drbd-demote-failure = \"rebooot\"\n",
            "[[promoter]]\n[promoter.resources.r0]\nstart = [\"a.service\"]\non-drbd-demote-failure = \"reboot\"\n",
        ],
    );
    let out = edit(&bench, &editor, &["-t", "promoter", "ha"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = shown(&bench, 2);
    assert!(
        second.contains("#| Error: ")
            && second.contains("ha.toml:12:")
            && second.contains("on-drbd-demote-failure"),
        "{second}"
    );
    assert!(std::fs::read_to_string(bench.dir().join("ha.toml"))
        .unwrap()
        .contains("\"reboot\""));
}

/// The line an error names (`<path>:<line>:` and the excerpt's gutter) is that line of the
/// file the error is shown in, whose header is four lines plus the error's own.
#[test]
fn error_line_numbers_point_at_the_line_in_the_reopened_file() {
    let bench = Bench::new();
    let editor = scripted_editor(
        &bench,
        &[
            "[[promoter]]\n[promoter.resources.r0]\nstart = [\"a.service\"]\non-drbd-demote-failure = \"rebooot\"\n",
            "[[prometheus]]\naddress = \n",
            "[[prometheus]]\n",
        ],
    );
    let out = edit(&bench, &editor, &["-t", "promoter", "ha"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (round, offending) in [
        (2, "on-drbd-demote-failure = \"rebooot\""),
        (3, "address = "),
    ] {
        let file = shown(&bench, round);
        let lines: Vec<&str> = file.lines().collect();
        let at = file.find("ha.toml:").expect(&file) + "ha.toml:".len();
        let n: usize = file[at..].split(':').next().unwrap().parse().expect(&file);
        assert_eq!(lines[n - 1], offending, "line {n} of:\n{file}");
        assert!(
            file.contains(&format!("#| {n} | {offending}")),
            "the excerpt's gutter says {n} too:\n{file}"
        );
    }
}

#[test]
fn the_original_stays_untouched_while_an_invalid_version_is_being_edited() {
    let bench = Bench::new();
    let target = bench.snippet("p.toml", "[[prometheus]]\n");
    let original_contents = std::fs::read_to_string(&target).unwrap();
    // the editor checks the target at its second call, i.e. after an invalid first save
    let dir = bench.root().join("editor");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("check.sh");
    write_exec(
        &script,
        &format!(
            "#!/bin/sh\nif [ -f {d}/once ]; then cp {t} {d}/target-during; echo '' > \"$1\"; else touch {d}/once; printf '[[prometheus]]\\nbroken = \\n' > \"$1\"; fi\n",
            d = dir.display(),
            t = target.display()
        ),
    );
    let out = edit(&bench, script.to_str().unwrap(), &["p"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("Edit aborted, empty file saved"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("target-during")).unwrap(),
        original_contents
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), original_contents);
    assert!(bench.systemctl_log().is_empty());
}

/// Edits a 0640 prometheus snippet with the editor `make_editor` sets up, which saves
/// `enums = false`; the snippet must have the new text and its old mode.
fn edit_keeps_the_mode(make_editor: impl FnOnce(&Bench) -> String) {
    let bench = Bench::new();
    let target = bench.snippet("p.toml", "[[prometheus]]\n");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let editor = make_editor(&bench);
    let out = edit(&bench, &editor, &["p"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "[[prometheus]]\nenums = false\n"
    );
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn editing_an_existing_snippet_keeps_its_type_and_its_mode() {
    edit_keeps_the_mode(|bench| scripted_editor(bench, &["[[prometheus]]\nenums = false\n"]));
}

#[test]
fn changing_the_plugin_type_of_an_existing_snippet_needs_type() {
    let bench = Bench::new();
    let target = bench.snippet("p.toml", "[[prometheus]]\n");
    let editor = scripted_editor(&bench, &["[[debugger]]\n", ""]);
    let out = edit(&bench, &editor, &["p"]);
    assert!(out.status.success());
    assert!(
        shown(&bench, 2).contains("Expected exactly one prometheus plugin"),
        "{}",
        shown(&bench, 2)
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "[[prometheus]]\n"
    );
}

#[test]
fn saving_without_changes_aborts_and_an_empty_file_aborts() {
    let bench = Bench::new();
    let target = bench.snippet("d.toml", "[[debugger]]\n");
    let unchanged = scripted_editor(&bench, &[]);
    let out = edit(&bench, &unchanged, &["d"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("WARN: Edit aborted, no new changes have been made"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "[[debugger]]\n");
    assert!(bench.systemctl_log().is_empty());
}

#[test]
fn an_unchanged_resave_after_an_error_aborts_and_keeps_the_draft() {
    let bench = Bench::new();
    // round 1 saves an invalid version; round 2 saves it again unchanged
    let editor = scripted_editor(&bench, &["[[promoter]]\nbogus = \n"]);
    let out = edit(&bench, &editor, &["newres"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("your version is kept in '"), "{text}");
    assert!(!bench.dir().join("newres.toml").exists());
}

fn drafts(bench: &Bench) -> Vec<String> {
    std::fs::read_dir(bench.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect()
}

/// An editor that is not installed (or returns before saving): the error was only in the
/// header of a file nobody saw, and every attempt left a draft of the untouched template.
#[test]
fn an_editor_that_fails_at_once_is_named_and_leaves_no_draft() {
    let bench = Bench::new();
    let out = edit(&bench, "/nonexistent/editor", &["newres"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Edit aborted"), "{text}");
    assert!(text.contains("editor failed"), "{text}");
    assert!(drafts(&bench).is_empty(), "{:?}", drafts(&bench));
    assert!(!bench.dir().join("newres.toml").exists());
}

/// vim and emacs save by writing a new file and renaming it over the old one: the mode was
/// set (and the fsync done) through a handle on the discarded file.
#[test]
fn an_editor_that_saves_by_rename_keeps_the_snippets_mode() {
    edit_keeps_the_mode(|bench| {
        let script = bench.root().join("rename-editor.sh");
        write_exec(
            &script,
            "#!/bin/sh\nprintf '[[prometheus]]\\nenums = false\\n' > \"$1.new\"\nchmod 600 \"$1.new\"\nmv \"$1.new\" \"$1\"\n",
        );
        script.display().to_string()
    });
}

#[test]
fn a_topmost_mount_unit_is_refused_unless_forced() {
    let bench = Bench::new();
    let mount = "[[promoter]]\n[promoter.resources.r1]\nstart = [\"a.service\", \"b.mount\"]\n";
    let editor = scripted_editor(&bench, &[mount, ""]);
    edit(&bench, &editor, &["r1"]);
    assert!(shown(&bench, 2).contains("Mount unit should not be the topmost unit"));
    assert!(!bench.dir().join("r1.toml").exists());
    let bench = Bench::new();
    let editor = scripted_editor(&bench, &[mount]);
    let out = edit(&bench, &editor, &["--force", "r1"]);
    assert!(
        stdout(&out).contains("WARN: Mount unit should not be the topmost unit"),
        "{}",
        stdout(&out)
    );
    assert!(bench.dir().join("r1.toml").exists());
}

#[test]
fn edit_disabled_writes_the_disabled_snippet_without_a_reload() {
    let bench = Bench::new();
    let editor = scripted_editor(&bench, &["[[debugger]]\n"]);
    let out = edit(&bench, &editor, &["--disabled", "-t", "debugger", "d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bench.dir().join("d.toml.disabled").exists());
    assert!(bench.systemctl_log().is_empty());
}

/// An explicit suffix wins over `--disabled` (spec §2.2): the enabled snippet is saved, and
/// the daemon reads it, so the reload step runs; the other way round it does not.
#[test]
fn the_reload_follows_the_file_saved_not_the_disabled_flag() {
    let bench = Bench::new();
    bench.snippet("e.toml", "[[debugger]]\n");
    let editor = scripted_editor(&bench, &["[[debugger]]\n# changed\n"]);
    let out = edit(&bench, &editor, &["--disabled", "e.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(bench.dir().join("e.toml")).unwrap(),
        "[[debugger]]\n# changed\n"
    );
    assert!(!bench.dir().join("e.toml.disabled").exists());
    assert_eq!(
        bench.systemctl_log(),
        [
            "is-active -q drbd-reactor-reload.path",
            "reload drbd-reactor.service"
        ]
    );

    let bench = Bench::new();
    bench.snippet("d.toml.disabled", "[[debugger]]\n");
    let editor = scripted_editor(&bench, &["[[debugger]]\n# changed\n"]);
    let out = edit(&bench, &editor, &["d.toml.disabled"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(bench.dir().join("d.toml.disabled")).unwrap(),
        "[[debugger]]\n# changed\n"
    );
    assert!(
        bench.systemctl_log().is_empty(),
        "a disabled snippet needs no reload"
    );
}

/// A save that is not UTF-8 (an editor writing Latin-1) is neither an empty file nor a
/// reason to delete the work: an error naming the file and the place, the bytes kept as a
/// draft, exit 1; the snippet saved before it is still reloaded.
#[test]
fn a_save_that_is_not_utf8_is_an_error_and_keeps_the_operators_bytes() {
    let bench = Bench::new();
    bench.snippet("a.toml", "[[debugger]]\n");
    bench.snippet("b.toml", "[[debugger]]\n");
    let dir = bench.root().join("editor");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("latin1.sh");
    write_exec(
        &script,
        &format!(
            "#!/bin/sh\nif [ -f {d}/once ]; then printf '[[debugger]]\\n# caf\\351\\n' > \"$1\"; else touch {d}/once; printf '[[debugger]]\\n# a\\n' > \"$1\"; fi\n",
            d = dir.display()
        ),
    );
    let out = edit(&bench, script.to_str().unwrap(), &["a", "b"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    let target = bench.dir().join("b.toml");
    assert!(
        err.contains(&format!(
            "'{}' is not valid UTF-8 (line 2",
            target.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "[[debugger]]\n");
    assert_eq!(
        std::fs::read_to_string(bench.dir().join("a.toml")).unwrap(),
        "[[debugger]]\n# a\n"
    );
    let drafts: Vec<_> = std::fs::read_dir(bench.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert_eq!(drafts.len(), 1, "{err}");
    assert!(err.contains(&drafts[0].display().to_string()), "{err}");
    assert_eq!(
        std::fs::read(&drafts[0]).unwrap(),
        b"[[debugger]]\n# caf\xe9\n"
    );
    assert_eq!(
        bench.systemctl_log(),
        [
            "is-active -q drbd-reactor-reload.path",
            "reload drbd-reactor.service"
        ],
        "a.toml was saved: reloaded"
    );
}

#[test]
fn visual_is_preferred_to_editor() {
    let bench = Bench::new();
    let editor = scripted_editor(&bench, &["[[debugger]]\n"]);
    let out = bench
        .cmd()
        .env("VISUAL", &editor)
        .env("EDITOR", "/nonexistent/editor")
        .arg("-c")
        .arg(bench.main())
        .args(["edit", "-t", "debugger", "d"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bench.dir().join("d.toml").exists());
}

#[test]
fn edit_runs_the_editor_on_the_terminal_under_a_real_pty() {
    let bench = Bench::new();
    let dir = bench.root().join("editor");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("tty.sh");
    // the editor only writes a valid snippet when stdin and stdout are a terminal
    write_exec(
        &script,
        &format!(
            "#!/bin/sh\nif [ -t 0 ] && [ -t 1 ]; then tty > {d}/tty; printf '[[debugger]]\\n' > \"$1\"; else : > \"$1\"; fi\n",
            d = dir.display()
        ),
    );
    let line = format!(
        "EDITOR={} {} -c {} edit -t debugger interactive",
        script.display(),
        BIN,
        bench.main().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bench.root().join("bin").display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .env("BENCH", bench.root())
        .env("DRBD_REACTORCTL_INIT", "systemd")
        .env("DRBD_REACTOR_RUN_DIR", bench.root().join("run"))
        .env("XDG_CONFIG_HOME", bench.root().join("xdg"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    let tty = std::fs::read_to_string(dir.join("tty")).unwrap_or_default();
    assert!(
        tty.starts_with("/dev/pts/"),
        "editor saw no terminal: {tty:?}"
    );
    assert_eq!(
        std::fs::read_to_string(bench.dir().join("interactive.toml")).unwrap(),
        "[[debugger]]\n"
    );
}

#[test]
fn sigterm_during_edit_ends_ctl_and_leaves_the_snippet_untouched() {
    let bench = Bench::new();
    let target = bench.snippet("d.toml", "[[debugger]]\n");
    let marker = bench.root().join("editing");
    let script = bench.root().join("slow.sh");
    let stop = bench.root().join("stop");
    write_exec(
        &script,
        &format!(
            // Also ends when the test's directory is gone (the marker with it): the test
            // writes `stop` and removes the directory at once, and an editor that missed the
            // file looped on after the run.
            "#!/bin/sh\ntouch {m}\nprintf '[[umh]]\\n' > \"$1\"\nwhile [ -e {m} ] && [ ! -e {s} ]; do sleep 0.1; done\n",
            m = marker.display(),
            s = stop.display()
        ),
    );
    let mut child = bench
        .cmd()
        .env("EDITOR", &script)
        .arg("-c")
        .arg(bench.main())
        .args(["edit", "d"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(std::time::Duration::from_secs(20), || marker.exists()));
    // SAFETY: signalling our own child
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    std::fs::write(&stop, "").unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "ctl ended by the signal: {status:?}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "[[debugger]]\n");
}
