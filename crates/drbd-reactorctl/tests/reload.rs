//! The reload step waits until the daemon runs a configuration read after the change: with
//! systemd (after `systemctl reload`, or after the path unit's own reload) and without it
//! (SIGHUP to the pid of the generation file). A stand-in daemon implements the generation
//! file protocol of src/reload.rs; it takes its time before each pass, so a ctl that did
//! not wait would return before the pass.
mod common;
use common::*;
use std::process::{Child, Command};
use std::time::Duration;

/// A stand-in daemon: publishes generation 1, then on SIGHUP sleeps a little, records the
/// snippet names it read as `seen.<generation>` and publishes the next generation (failed
/// when a snippet contains BROKEN).
const DAEMON: &str = r#"#!/bin/bash
gen=1; f="$RUN/config-generation"
publish() {
  printf 'pid=%s\ngeneration=%s\nread-at=%s\nresult=%s\nerror=%s\n' $$ $gen "$2" "$1" "$3" > "$f.tmp"; mv "$f.tmp" "$f"
}
pass() {
  gen=$((gen+1)); t=$(date +%s%N); sleep 0.3
  ls "$SNIPPETS" > "$RUN/seen.$gen"
  if grep -qs BROKEN "$SNIPPETS"/*.toml; then publish failed "$t" "$SNIPPETS/x.toml:1: broken"; else publish ok "$t" ""; fi
}
trap pass HUP
publish ok "$(date +%s%N)" ""
while true; do sleep 0.05 & wait $!; done
"#;

struct StandIn(Child);
impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(bench: &Bench) -> StandIn {
    // named as the daemon: ctl signals only a process whose name says it is drbd-reactor
    std::fs::create_dir_all(bench.root().join("stand-in")).unwrap();
    let script = bench.root().join("stand-in/drbd-reactor");
    write_exec(&script, DAEMON);
    let mut cmd = Command::new(&script);
    cmd.env("RUN", bench.root().join("run"))
        .env("SNIPPETS", bench.dir());
    // bash cannot trap a signal that was ignored when it started: under `nohup` (or any
    // parent ignoring SIGHUP) the stand-in would never run its pass.
    use std::os::unix::process::CommandExt;
    // SAFETY: signal(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    let file = bench.root().join("run/config-generation");
    assert!(
        wait_for(Duration::from_secs(10), || file.exists()),
        "stand-in daemon did not start"
    );
    StandIn(child)
}

#[test]
fn without_systemd_ctl_signals_the_daemon_and_returns_after_the_new_configuration_is_read() {
    let bench = Bench::new();
    let _daemon = start_daemon(&bench);
    bench.snippet("a.toml.disabled", "[[debugger]]\n");
    let out = bench
        .cmd()
        .env("DRBD_REACTORCTL_INIT", "none")
        .arg("-c")
        .arg(bench.main())
        .args(["enable", "a"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // no waiting here: ctl must only have returned after the pass that saw a.toml
    let seen = std::fs::read_to_string(bench.root().join("run/seen.2"))
        .expect("the pass finished before ctl returned");
    assert_eq!(seen, "a.toml\n");
    assert!(
        bench.systemctl_log().is_empty(),
        "no systemctl without systemd"
    );
}

#[test]
fn without_systemd_a_rejected_configuration_is_an_error_with_the_daemons_message() {
    let bench = Bench::new();
    let _daemon = start_daemon(&bench);
    bench.snippet("a.toml.disabled", "[[debugger]]\n# BROKEN\n");
    let out = bench
        .cmd()
        .env("DRBD_REACTORCTL_INIT", "none")
        .arg("-c")
        .arg(bench.main())
        .args(["enable", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("rejected the new configuration"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("x.toml:1: broken"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_systemd_and_without_a_running_daemon_the_error_says_so() {
    let bench = Bench::new();
    bench.snippet("a.toml.disabled", "[[debugger]]\n");
    let out = bench
        .cmd()
        .env("DRBD_REACTORCTL_INIT", "none")
        .arg("-c")
        .arg(bench.main())
        .args(["enable", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is the daemon running?"),
        "{}",
        stderr(&out)
    );
}

/// A generation file naming `pid` (with `extra` lines), a disabled snippet `a`, and `enable a`
/// without systemd, giving up after 1 s.
fn enable_without_systemd_naming(bench: &Bench, pid: u32, extra: &str) -> std::process::Output {
    std::fs::write(
        bench.root().join("run/config-generation"),
        format!("pid={pid}\ngeneration=1\nread-at=0\nresult=ok\nerror=\n{extra}"),
    )
    .unwrap();
    bench.snippet("a.toml.disabled", "[[debugger]]\n");
    bench
        .cmd()
        .env("DRBD_REACTORCTL_INIT", "none")
        .env("DRBD_REACTORCTL_RELOAD_TIMEOUT", "1")
        .arg("-c")
        .arg(bench.main())
        .args(["enable", "a"])
        .output()
        .unwrap()
}

#[test]
fn a_daemon_that_never_finishes_the_pass_makes_ctl_give_up_after_its_timeout() {
    let bench = Bench::new();
    // a generation file whose pid, named as the daemon, ignores SIGHUP
    let script = bench.root().join("drbd-reactor");
    write_exec(
        &script,
        "#!/bin/sh\ntrap '' HUP\nwhile true; do sleep 0.1; done\n",
    );
    let mut sleeper = Command::new(&script).spawn().unwrap();
    let out = enable_without_systemd_naming(&bench, sleeper.id(), "");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did not finish reloading its configuration within 1 s"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn with_systemd_ctl_waits_for_the_pass_after_systemctl_reload() {
    let bench = Bench::new();
    let daemon = start_daemon(&bench);
    // the stand-in systemctl's reload signals the daemon and returns at once, as
    // ExecReload=kill -HUP does
    std::fs::write(
        bench.root().join("on-reload"),
        format!("kill -HUP {}\n", daemon.0.id()),
    )
    .unwrap();
    bench.snippet("a.toml", "[[debugger]]\n");
    let out = bench.ctl(&["disable", "a"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = std::fs::read_to_string(bench.root().join("run/seen.2"))
        .expect("the pass finished before ctl returned");
    assert_eq!(seen, "a.toml.disabled\n");
}

#[test]
fn with_the_path_unit_ctl_waits_for_the_reload_it_triggers() {
    let bench = Bench::new();
    let daemon = start_daemon(&bench);
    bench.auto_reload(true);
    // the path unit's reload happens behind ctl's back, a little later
    let pid = daemon.0.id();
    let dir = bench.dir();
    let watcher = std::thread::spawn(move || {
        assert!(wait_for(Duration::from_secs(20), || dir
            .join("a.toml.disabled")
            .exists()));
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
    });
    bench.snippet("a.toml", "[[debugger]]\n");
    let out = bench.ctl(&["disable", "a"]);
    watcher.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        bench.systemctl_log(),
        ["is-active -q drbd-reactor-reload.path"]
    );
    let seen = std::fs::read_to_string(bench.root().join("run/seen.2"))
        .expect("the pass finished before ctl returned");
    assert_eq!(seen, "a.toml.disabled\n");
}

/// `rm a b` answered y, then n: the path unit reloads on the removal of `a`, and that pass
/// begins (and ends) while ctl still waits for the second answer; no later pass comes. It is
/// the one ctl must wait for, not one that began after its reload step.
#[test]
fn with_the_path_unit_a_pass_begun_before_the_reload_step_but_after_the_change_counts() {
    use std::io::Write;
    let bench = Bench::new();
    let daemon = start_daemon(&bench);
    bench.auto_reload(true);
    bench.snippet("a.toml", "[[debugger]]\n");
    bench.snippet("b.toml", "[[debugger]]\n");
    let mut ctl = bench
        .cmd()
        .env("DRBD_REACTORCTL_RELOAD_TIMEOUT", "2")
        .arg("-c")
        .arg(bench.main())
        .args(["rm", "a", "b"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut answers = ctl.stdin.take().unwrap();
    answers.write_all(b"y\n").unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || !bench
            .dir()
            .join("a.toml")
            .exists()),
        "a.toml was not removed"
    );
    // the path unit's reload, finished before ctl gets its second answer
    Command::new("kill")
        .args(["-HUP", &daemon.0.id().to_string()])
        .status()
        .unwrap();
    let generation = bench.root().join("run/config-generation");
    assert!(
        wait_for(Duration::from_secs(20), || std::fs::read_to_string(
            &generation
        )
        .unwrap_or_default()
        .contains("generation=2\n")),
        "the stand-in daemon's pass did not finish"
    );
    answers.write_all(b"n\n").unwrap();
    drop(answers);
    let out = ctl.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(bench.dir().join("b.toml").exists());
    assert_eq!(
        std::fs::read_to_string(bench.root().join("run/seen.2")).unwrap(),
        "b.toml\n"
    );
    assert_eq!(
        bench.systemctl_log(),
        ["is-active -q drbd-reactor-reload.path"]
    );
}

/// systemd drops a path unit trigger that comes while the reload service it started for an
/// earlier change still runs: no pass begins after ctl's change. ctl asks for the reload
/// itself after its grace period instead of timing out on a reload that never comes.
#[test]
fn with_the_path_unit_a_dropped_trigger_is_made_up_for_by_one_reload() {
    let bench = Bench::new();
    let daemon = start_daemon(&bench);
    bench.auto_reload(true);
    // `systemctl reload` reaches the daemon; the path unit does nothing this time.
    std::fs::write(
        bench.root().join("on-reload"),
        format!("kill -HUP {}\n", daemon.0.id()),
    )
    .unwrap();
    bench.snippet("a.toml", "[[debugger]]\n");
    let out = bench
        .cmd()
        // the grace: 3 s, then 6 s for the pass ctl asked for
        .env("DRBD_REACTORCTL_RELOAD_TIMEOUT", "9")
        .arg("-c")
        .arg(bench.main())
        .args(["disable", "a"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("drbd-reactor-reload.path started no reload of the change"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        bench.systemctl_log(),
        [
            "is-active -q drbd-reactor-reload.path",
            "reload drbd-reactor.service"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(bench.root().join("run/seen.2")).unwrap(),
        "a.toml.disabled\n"
    );
}

/// After a crash the generation file stays, and its pid may belong to an unrelated process by
/// now: it must not get a SIGHUP (which ends it), and ctl says the daemon does not run.
#[test]
fn without_systemd_a_pid_that_is_not_drbd_reactor_is_not_signalled() {
    let bench = Bench::new();
    let mut unrelated = Command::new("sleep").arg("60").spawn().unwrap();
    let out = enable_without_systemd_naming(&bench, unrelated.id(), "");
    let alive = unrelated.try_wait().unwrap().is_none();
    let _ = unrelated.kill();
    let _ = unrelated.wait();
    assert!(alive, "the unrelated process got SIGHUP");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "pid {} in '{}' is not a running drbd-reactor (is the daemon running?)",
            unrelated.id(),
            bench.root().join("run/config-generation").display()
        )),
        "{}",
        stderr(&out)
    );
}

/// A pid reused by a process that is called drbd-reactor too (another instance, a stand-in)
/// is still not the daemon that wrote the file: the start time recorded with the pid tells.
#[test]
fn without_systemd_a_pid_whose_start_time_differs_from_the_files_is_not_signalled() {
    let bench = Bench::new();
    std::fs::create_dir_all(bench.root().join("other")).unwrap();
    let script = bench.root().join("other/drbd-reactor");
    write_exec(&script, "#!/bin/sh\nsleep 60 &\nwait\n");
    // Its own process group, so that the sleep it starts goes with it.
    use std::os::unix::process::CommandExt;
    let mut namesake = Command::new(&script).process_group(0).spawn().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(format!("/proc/{}/comm", namesake.id()))
                .is_ok_and(|c| c == "drbd-reactor\n")
        }),
        "the namesake did not start"
    );
    let out = enable_without_systemd_naming(&bench, namesake.id(), "start=1\n");
    let alive = namesake.try_wait().unwrap().is_none();
    let group = format!("-{}", namesake.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = namesake.wait();
    assert!(alive, "the namesake got SIGHUP");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}
