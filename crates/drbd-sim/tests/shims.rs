//! The shims against a running server: drbdsetup/drbdadm command lines, exit codes, the
//! events2 stream with --poll, and the seed blog post's on-no-quorum-io-error.sh unchanged.

use drbd_sim::config::{ClusterConfig, OnNoQuorum};
use drbd_sim::server::{install_shims, Sim};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Env {
    dir: tempfile::TempDir,
    sim: Sim,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sim.sock");
    let cfg = ClusterConfig::simple(&["alpha", "beta", "gamma"], "r0");
    let sim = Sim::from_config(cfg, &socket, Some(20)).unwrap();
    for n in ["alpha", "beta", "gamma"] {
        install_shims(
            Path::new(env!("CARGO_BIN_EXE_drbd-sim")),
            &dir.path().join(n),
            n,
            &socket,
        )
        .unwrap();
    }
    Env { dir, sim }
}

impl Env {
    fn bin(&self, node: &str) -> PathBuf {
        self.dir.path().join(node)
    }
    fn path_env(&self, node: &str) -> String {
        format!(
            "{}:{}",
            self.bin(node).display(),
            std::env::var("PATH").unwrap()
        )
    }
    fn run(&self, node: &str, program: &str, args: &[&str]) -> Output {
        Command::new(self.bin(node).join(program))
            .args(args)
            .env_remove("DRBD_SIM_NODE")
            .env_remove("DRBD_SIM_SOCKET")
            .output()
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn events2_now_prints_the_dump_and_exists_marker_and_exits_0() {
    let e = env();
    let o = e.run("alpha", "drbdsetup", &["events2", "--now", "r0"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("exists resource name:r0 role:Secondary"),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"exists -"));
    assert!(out.contains("quorum:yes"));
    let o = e.run("alpha", "drbdsetup", &["events2", "--now", "nosuch"]);
    assert_eq!(text(&o.stdout), "exists -\n");
}

#[test]
fn timestamps_prefix_every_line_of_events2() {
    let e = env();
    let o = e.run("beta", "drbdsetup", &["events2", "--now", "--timestamps"]);
    for l in text(&o.stdout).lines() {
        let (ts, _) = l.split_once(' ').unwrap();
        assert!(drbd_sim::clock::is_timestamp(ts), "{l}");
    }
}

#[test]
fn drbdadm_and_drbdsetup_report_roles_versions_and_errors_like_drbd_utils() {
    let e = env();
    assert_eq!(
        text(&e.run("alpha", "drbdadm", &["role", "r0"]).stdout),
        "Secondary\n"
    );
    let o = e.run("alpha", "drbdsetup", &["primary", "r0"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&e.run("alpha", "drbdadm", &["role", "r0"]).stdout),
        "Primary\n"
    );
    let o = e.run("beta", "drbdsetup", &["primary", "r0"]);
    assert_eq!(o.status.code(), Some(11));
    assert!(text(&o.stderr).contains("r0: State change failed: (-1)"));
    let o = e.run("beta", "drbdsetup", &["primary", "nosuch"]);
    assert_eq!(o.status.code(), Some(10));
    let o = e.run("beta", "drbdadm", &["primary", "nosuch"]);
    assert_eq!(o.status.code(), Some(10));
    assert!(text(&o.stderr).contains("'nosuch' not defined in your config"));
    let v = text(&e.run("beta", "drbdadm", &["--version"]).stdout);
    assert!(v.contains("DRBDADM_VERSION_CODE=0x091d00"), "{v}");
    assert!(v.contains("DRBD_KERNEL_VERSION_CODE=0x09020c"), "{v}");
    assert_eq!(
        text(&e.run("beta", "drbdadm", &["sh-ll-dev", "r0"]).stdout),
        "/dev/vg/disk0\n"
    );
    let o = e.run("alpha", "drbdsetup", &["status", "--json", "r0"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j[0]["role"], "Primary");
    assert_eq!(j[0]["connections"][0]["peer-role"], "Secondary");
    let o = e.run(
        "beta",
        "drbdsetup",
        &["show", "--json", "--show-defaults", "r0"],
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j[0]["options"]["quorum"], "majority");
    assert_eq!(
        j[0]["connections"][0]["net"]["rr-conflict"],
        "retry-connect"
    );
    let o = e.run("beta", "drbdsetup", &["events2", "--bogus"]);
    assert_eq!(o.status.code(), Some(20));
    let o = e.run("beta", "drbdadm", &["--bogus", "role", "r0"]);
    assert_eq!(o.status.code(), Some(20), "{o:?}");
    assert!(text(&o.stderr).contains("unrecognized option '--bogus'"));
}

#[test]
fn drbdadm_secondary_force_demotes_a_primary_whose_device_is_open() {
    let e = env();
    assert!(e
        .run("alpha", "drbdadm", &["primary", "r0"])
        .status
        .success());
    e.sim.ctl(&["open", "alpha", "r0"]);
    let o = e.run("alpha", "drbdadm", &["secondary", "r0"]);
    assert_eq!(o.status.code(), Some(11), "{o:?}");
    let o = e.run("alpha", "drbdadm", &["secondary", "--force", "r0"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        text(&e.run("alpha", "drbdadm", &["role", "r0"]).stdout),
        "Secondary\n"
    );
}

#[test]
fn of_two_concurrent_primary_calls_only_one_wins() {
    let e = env();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| e.run("alpha", "drbdsetup", &["primary", "r0"]));
        let b = s.spawn(|| e.run("beta", "drbdsetup", &["primary", "r0"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    codes.sort();
    assert_eq!(codes, [0, 11]);
}

fn read_until(r: &mut impl BufRead, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let mut l = String::new();
        assert!(
            r.read_line(&mut l).unwrap() > 0,
            "EOF before {want}: {seen:?}"
        );
        let done = l.contains(want);
        seen.push(l.trim_end().to_string());
        if done {
            return seen;
        }
    }
}

#[test]
fn events2_full_poll_streams_changes_and_exits_0_on_stdin_eof() {
    let e = env();
    let mut child = Command::new(e.bin("alpha").join("drbdsetup"))
        .args(["events2", "--full", "--poll"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    read_until(&mut out, "exists -");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"n\n").unwrap();
    e.sim.ctl(&["primary", "alpha", "r0"]);
    let lines = read_until(&mut out, "role:Primary");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("change resource name:r0 role:Primary suspended:no"),
        "{lines:?}"
    );
    e.sim.ctl(&["partition", "gamma"]);
    let lines = read_until(&mut out, "conn-name:gamma connection:Connecting");
    assert!(lines.iter().all(|l| l.starts_with("change ")), "{lines:?}");
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn events2_poll_with_stdin_at_eof_prints_the_whole_dump_before_it_ends() {
    // drbdsetup reads stdin only after the dump (events2 spec §1.3).
    let e = env();
    for _ in 0..8 {
        let out = Command::new(e.bin("alpha").join("drbdsetup"))
            .args(["events2", "--now", "--poll", "--full"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let dump = text(&out.stdout);
        assert!(dump.ends_with("exists -\n"), "{dump}");
        assert!(dump.lines().count() > 5, "{dump}");
    }
}

#[test]
fn killing_a_nodes_events2_streams_ends_the_shim() {
    let e = env();
    let mut child = Command::new(e.bin("gamma").join("drbdsetup"))
        .args(["events2", "--full", "--poll"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Keep stdin open: its EOF would end the shim with 0 (`wait` closes it).
    let _stdin = child.stdin.take().unwrap();
    read_until(&mut out, "exists -");
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.sim.streams("gamma") == 0 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    e.sim.ctl(&["kill-events2", "gamma"]);
    assert_eq!(child.wait().unwrap().code(), Some(137));
}

fn seed_script(e: &Env, node: &str, new_quorum: &str) -> Output {
    Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/on-no-quorum-io-error.sh"
        ))
        .env("PATH", e.path_env(node))
        .env("DRBD_RES_NAME", "r0")
        .env("DRBD_NEW_QUORUM", new_quorum)
        .env("TIMEOUT", "0")
        .env_remove("DRBD_SIM_NODE")
        .env_remove("DRBD_SIM_SOCKET")
        .output()
        .unwrap()
}

fn policy(e: &Env, node: &str) -> OnNoQuorum {
    e.sim.with(|c| c.options(node, "r0").unwrap().on_no_quorum)
}

#[test]
fn the_seed_on_no_quorum_io_error_script_runs_unchanged() {
    let e = env();
    // Lost quorum on a node that is not in use: io-error at once.
    let o = seed_script(&e, "gamma", "false");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(policy(&e, "gamma"), OnNoQuorum::IoError);
    // Got quorum: back to suspend-io.
    let o = seed_script(&e, "gamma", "true");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(policy(&e, "gamma"), OnNoQuorum::SuspendIo);
    // In use and quorum is still there after the timeout: keep suspend-io.
    e.sim.ctl(&["primary", "alpha", "r0"]);
    let o = seed_script(&e, "alpha", "false");
    assert!(
        text(&o.stdout).contains("Checking for quorum"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(policy(&e, "alpha"), OnNoQuorum::SuspendIo);
    // In use and quorum really lost: io-error, and the isolated Primary fails its I/O.
    e.sim.ctl(&["partition", "alpha"]);
    let o = seed_script(&e, "alpha", "false");
    assert!(
        text(&o.stdout).contains("Setting io-error"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(policy(&e, "alpha"), OnNoQuorum::IoError);
    let r = e.sim.with(|c| c.view("alpha")["r0"].resource.clone());
    assert_eq!(r.force_io_failures, Some(true));
}

#[test]
fn drbdadm_wait_connect_returns_once_every_peer_is_connected() {
    let e = env();
    e.sim.ctl(&["partition", "alpha"]);
    let mut child = Command::new(e.bin("alpha").join("drbdadm"))
        .args(["wait-connect", "r0"])
        .spawn()
        .unwrap();
    assert!(child.try_wait().unwrap().is_none());
    e.sim.ctl(&["heal"]);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn drbdadm_wait_connect_on_a_resource_that_is_down_fails_instead_of_waiting_for_ever() {
    let e = env();
    assert!(e.run("gamma", "drbdadm", &["down", "r0"]).status.success());
    let o = e.run("gamma", "drbdadm", &["wait-connect", "r0"]);
    assert_eq!(o.status.code(), Some(10), "{o:?}");
    assert!(text(&o.stderr).contains("r0: No such resource"), "{o:?}");
}

#[test]
fn secondary_force_yes_demotes_an_open_primary_and_fails_its_io() {
    let e = env();
    e.sim.ctl(&["primary", "alpha", "r0"]);
    e.sim.ctl(&["open", "alpha", "r0"]);
    let o = e.run("alpha", "drbdsetup", &["secondary", "r0"]);
    assert_eq!(o.status.code(), Some(11));
    assert_eq!(
        text(&o.stderr),
        "r0: State change failed: (-12) Device is held open by someone\n"
    );
    let o = e.run("alpha", "drbdsetup", &["secondary", "--force=yes", "r0"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(
        &e.run("alpha", "drbdsetup", &["events2", "--now", "r0"])
            .stdout,
    );
    assert!(
        out.starts_with("exists resource name:r0 role:Secondary suspended:no force-io-failures:yes may_promote:no promotion_score:0"),
        "{out}"
    );
}

#[test]
fn resource_options_rejects_an_unknown_policy_with_exit_20() {
    let e = env();
    let o = e.run(
        "alpha",
        "drbdsetup",
        &["resource-options", "--on-no-quorum", "panic", "r0"],
    );
    assert_eq!(o.status.code(), Some(20));
    assert!(text(&o.stderr).contains("'panic'"));
}

#[test]
fn a_shim_without_node_or_socket_says_how_to_configure_it() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("drbdsetup");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_drbd-sim"), &link).unwrap();
    let o = Command::new(&link)
        .args(["status"])
        .env_remove("DRBD_SIM_NODE")
        .env_remove("DRBD_SIM_SOCKET")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(20));
    assert!(
        text(&o.stderr).contains("DRBD_SIM_NODE"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn events2_diff_and_color_decorate_the_lines() {
    let e = env();
    let o = e.run(
        "alpha",
        "drbdsetup",
        &["events2", "--now", "--color=always", "r0"],
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("disk:\x1b[1;32mUpToDate\x1b[0m"),
        "{out}{}",
        text(&o.stderr)
    );
    let o = e.run("alpha", "drbdsetup", &["events2", "--now", "r0"]);
    assert!(
        !text(&o.stdout).contains('\x1b'),
        "auto: no colour into a pipe"
    );
    let o = e.run("alpha", "drbdsetup", &["events2", "--now", "--diff", "r0"]);
    assert!(
        text(&o.stdout).starts_with("exists resource name:r0 role:UNKNOWN->Secondary"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn a_crashed_node_ends_its_streams_and_refuses_commands_until_restarted() {
    let e = env();
    let mut child = Command::new(e.bin("beta").join("drbdsetup"))
        .args(["events2", "--full", "--poll"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _stdin = child.stdin.take().unwrap();
    read_until(&mut out, "exists -");
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.sim.streams("beta") == 0 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    e.sim.ctl(&["crash", "beta"]);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    let o = e.run("beta", "drbdsetup", &["events2", "--now"]);
    assert_eq!(o.status.code(), Some(20));
    e.sim.ctl(&["restart", "beta"]);
    let o = e.run("beta", "drbdsetup", &["events2", "--now"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("conn-name:alpha connection:Connected"));
}

/// True once `pid` is gone (or a zombie nobody reaped yet: it runs no more).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn poll_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn crashing_a_node_kills_the_process_groups_registered_for_it_and_nothing_else() {
    use std::os::unix::process::CommandExt;
    let e = env();
    // A "daemon" that started a "service": a shell leading its own process group.
    let start = |node: &str| {
        let pidfile = e.dir.path().join(format!("{node}.child"));
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 300 & echo $! > {}; wait", pidfile.display()))
            .process_group(0)
            .spawn()
            .unwrap();
        poll_until("the service pid", || {
            std::fs::read_to_string(&pidfile).is_ok_and(|t| t.ends_with('\n'))
        });
        let service: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        (child, service)
    };
    let (mut alpha, alpha_service) = start("alpha");
    let (mut beta, beta_service) = start("beta");
    // Through the command line, as a shell harness does.
    let o = Command::new(env!("CARGO_BIN_EXE_drbd-sim"))
        .args(["ctl", "--socket"])
        .arg(e.sim.socket())
        .args(["register", "alpha", &alpha.id().to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    e.sim.register("beta", beta.id());
    let r = e.sim.ctl(&["crash", "alpha"]);
    assert_eq!(r.code, 0, "{r:?}");
    poll_until("alpha's process to end", || {
        alpha.try_wait().unwrap().is_some()
    });
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(alpha.wait().unwrap().signal(), Some(9));
    poll_until("alpha's service to end", || gone(alpha_service));
    assert!(
        beta.try_wait().unwrap().is_none(),
        "beta's process survives"
    );
    assert!(!gone(beta_service), "beta's service survives");
    e.sim.ctl(&["crash", "beta"]);
    poll_until("beta's service to end", || gone(beta_service));
    let _ = beta.wait();
    let r = e.sim.ctl(&["register", "nobody", "1"]);
    assert_eq!(r.code, 20);
}
