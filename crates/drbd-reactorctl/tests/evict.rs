//! `evict` with the real binary: against the simulator (drbd-sim, built from this workspace
//! next to this binary), where the stand-in `systemctl stop` demotes this node through the
//! simulator's own `drbdadm` and the test promotes a peer, and with the bench's stand-ins for
//! the option checks, errors and signals.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn shim(dir: &Path, args: &[&str]) -> bool {
    Command::new(dir.join("drbdsetup"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A simulated 3-node cluster (resource r0) with shims for alpha (this node) and beta.
struct Cluster {
    _server: Sim,
    alpha: PathBuf,
    beta: PathBuf,
}

fn cluster(bench: &Bench) -> Cluster {
    let root = bench.root();
    let (alpha, beta) = (root.join("alpha"), root.join("beta"));
    let server = serve_example_cluster(root, &[("alpha", &alpha), ("beta", &beta)]);
    bench.snippet(
        "r0.toml",
        "[[promoter]]\n[promoter.resources.r0]\nstart = [\"app.service\"]\n",
    );
    Cluster {
        _server: server,
        alpha,
        beta,
    }
}

impl Cluster {
    /// ctl on alpha: the simulator's drbdsetup/drbdadm first in PATH, then the stand-ins.
    fn ctl(&self, bench: &Bench, args: &[&str]) -> Command {
        let path = format!(
            "{}:{}:{}",
            self.alpha.display(),
            bench.root().join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let mut cmd = bench.cmd();
        cmd.env("PATH", path).arg("-c").arg(bench.main()).args(args);
        cmd
    }

    /// Runs evict on alpha (Primary) while beta takes over as soon as alpha's stand-in
    /// `systemctl stop` demoted it.
    fn evict_with_takeover(&self, bench: &Bench, args: &[&str]) -> Output {
        assert!(
            wait_for(Duration::from_secs(20), || shim(
                &self.alpha,
                &["primary", "r0"]
            )),
            "alpha cannot become Primary"
        );
        // the stand-in's stop hook runs with ctl's PATH: alpha's drbdadm
        std::fs::write(bench.root().join("on-stop"), "drbdadm secondary r0\n").unwrap();
        let child = self
            .ctl(bench, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let beta = self.beta.clone();
        let promoted = std::thread::spawn(move || {
            wait_for(Duration::from_secs(20), || shim(&beta, &["primary", "r0"]))
        });
        let out = child.wait_with_output().unwrap();
        assert!(promoted.join().unwrap(), "beta never became Primary");
        out
    }
}

fn mask(bench: &Bench) -> PathBuf {
    bench.unit_dir().join("drbd-services@r0.target")
}

fn is_mask(path: &Path) -> bool {
    std::fs::read_link(path).is_ok_and(|to| to == Path::new("/dev/null"))
}

const T: &str = "drbd-services@r0.target";

#[test]
fn evict_masks_stops_and_names_the_peer_that_took_over_in_the_simulator() {
    let bench = Bench::new();
    let cluster = cluster(&bench);
    let out = cluster.evict_with_takeover(&bench, &["evict", "r0"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}{}", text, stderr(&out));
    let header = format!("{}:\nEvicting r0\n", bench.dir().join("r0.toml").display());
    let tail = format!(
        "Node 'beta' took over\nRe-enabling r0\nRemoved {}.\n",
        mask(&bench).display()
    );
    assert!(text.starts_with(&header) && text.ends_with(&tail), "{text}");
    // The countdown (`20..19..` and a newline) only when beta was not Primary yet at ctl's
    // first look: the test promotes beta as soon as alpha let go (ctl.md step 4).
    let countdown = &text[header.len()..text.len() - tail.len()];
    assert!(
        countdown.is_empty()
            || (countdown.starts_with("20..")
                && countdown.ends_with("..\n")
                && countdown[..countdown.len() - 1]
                    .split("..")
                    .all(|n| n.is_empty() || n.parse::<u32>().is_ok())),
        "countdown {countdown:?}"
    );
    assert_eq!(
        bench.systemctl_log(),
        [
            format!("mask --runtime {T}"),
            "daemon-reload".into(),
            format!("show --property=LoadState {T}"),
            format!("stop {T}"),
            "daemon-reload".into(),
            format!("start {T}")
        ]
    );
    assert!(!mask(&bench).exists() && !is_mask(&mask(&bench)));
}

#[test]
fn keep_masked_leaves_the_runtime_mask_and_unmask_removes_it_and_starts_the_target() {
    let bench = Bench::new();
    let cluster = cluster(&bench);
    let out = cluster.evict_with_takeover(&bench, &["evict", "--keep-masked", "r0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("\nNode 'beta' took over\n"),
        "{}",
        stdout(&out)
    );
    assert!(is_mask(&mask(&bench)), "the mask stays");
    assert!(!bench.systemctl_log().contains(&format!("start {T}")));

    let out = cluster
        .ctl(&bench, &["evict", "-u", "r0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with(&format!(
            "r0.toml:\nRe-enabling r0\nRemoved {}.\n",
            mask(&bench).display()
        )),
        "{}",
        stdout(&out)
    );
    assert!(!is_mask(&mask(&bench)));
    assert!(bench
        .systemctl_log()
        .ends_with(&["daemon-reload".to_string(), format!("start {T}")]));
}

#[test]
fn a_resource_primary_on_a_peer_or_nowhere_is_left_alone() {
    let bench = Bench::new();
    let cluster = cluster(&bench);
    assert!(wait_for(Duration::from_secs(20), || shim(
        &cluster.beta,
        &["primary", "r0"]
    )));
    let out = cluster.ctl(&bench, &["evict", "r0"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .ends_with("Evicting r0\nActive on 'beta', nothing to do on this node, ignoring\n"),
        "{}",
        stdout(&out)
    );
    assert!(shim(&cluster.beta, &["secondary", "r0"]));
    let out = cluster.ctl(&bench, &["evict", "r0"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("Evicting r0\nSorry, resource state for 'r0' unknown, ignoring\n"),
        "{}",
        stdout(&out)
    );
    assert!(
        bench.systemctl_log().is_empty(),
        "nothing masked, stopped or started"
    );
}

const LOCAL_PRIMARY: &str = r#"[{"name":"r0","role":"Primary","connections":[]}]"#;

#[test]
fn nobody_taking_over_counts_down_to_zero_and_restarts_the_target_here() {
    let bench = Bench::new();
    bench.snippet("r0.toml", "[[promoter]]\n[promoter.resources.r0]\n");
    bench.drbd("r0", LOCAL_PRIMARY);
    let out = bench.ctl(&["evict", "--delay", "1", "r0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "Evicting r0\n1..0\nLocal node still DRBD Primary, not all services stopped in time locally\nRe-enabling r0\n"
        ),
        "{}",
        stdout(&out)
    );
    assert_eq!(bench.systemctl_log().last().unwrap(), &format!("start {T}"));
    assert!(!is_mask(&mask(&bench)));
}

#[test]
fn sigterm_ends_the_wait_unmasks_and_exits_0() {
    let bench = Bench::new();
    bench.snippet("r0.toml", "[[promoter]]\n[promoter.resources.r0]\n");
    bench.drbd("r0", LOCAL_PRIMARY);
    let mut child = bench
        .cmd()
        .arg("-c")
        .arg(bench.main())
        .args(["evict", "--delay", "600", "r0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(20), || bench
        .systemctl_log()
        .contains(&format!("stop {T}"))));
    assert!(is_mask(&mask(&bench)));
    // SAFETY: kill(2) on our own child's pid
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let mut status = None;
    assert!(
        wait_for(Duration::from_secs(20), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "evict did not end after SIGTERM"
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(status.unwrap().code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("\nInterrupted, not waiting any longer\nLocal node still DRBD Primary"),
        "{text}"
    );
    assert!(text.contains("Re-enabling r0\nRemoved "), "{text}");
    assert!(!is_mask(&mask(&bench)));
    assert_eq!(bench.systemctl_log().last().unwrap(), &format!("start {T}"));
}

#[test]
fn without_force_mixed_snippets_and_several_resources_are_refused_before_any_action() {
    let bench = Bench::new();
    bench.snippet(
        "mixed.toml",
        "[[promoter]]\n[promoter.resources.r0]\n[[debugger]]\n",
    );
    bench.snippet(
        "multi.toml",
        "[[promoter]]\n[promoter.resources.r1]\n[promoter.resources.r2]\n",
    );
    let out = bench.ctl(&["evict", "mixed"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("mixed.toml' contains mixed promoter and other plugins"),
        "{}",
        stderr(&out)
    );
    let out = bench.ctl(&["evict", "--unmask", "multi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("multi.toml' responsible for multiple resources"),
        "{}",
        stderr(&out)
    );
    assert!(bench.systemctl_log().is_empty());
    assert!(bench.log("drbdsetup").is_empty());
    // --force: both resources, nothing was masked, so unmask finds no mask
    let out = bench.ctl(&["evict", "--force", "--unmask", "multi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Re-enabling r2\nNo runtime mask "));
    assert_eq!(
        bench.systemctl_log(),
        [
            "daemon-reload",
            "start drbd-services@r2.target",
            "daemon-reload",
            "start drbd-services@r1.target"
        ]
    );
}

#[test]
fn delay_must_be_a_positive_integer_and_unmask_excludes_keep_masked() {
    let bench = Bench::new();
    bench.snippet("r0.toml", "[[promoter]]\n[promoter.resources.r0]\n");
    for (args, message) in [
        (
            &["evict", "--delay", "0", "r0"][..],
            "Value has to be a positive integer",
        ),
        (
            &["evict", "-d", "x", "r0"][..],
            "invalid digit found in string",
        ),
        (&["evict", "-d", "-1", "r0"][..], "error:"),
        (&["evict", "-u", "-k", "r0"][..], "cannot be used with"),
    ] {
        let out = bench.ctl(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    assert!(bench.systemctl_log().is_empty());
}

#[test]
fn a_failing_drbdsetup_is_an_error_and_nothing_is_masked() {
    let bench = Bench::new();
    bench.snippet("r0.toml", "[[promoter]]\n[promoter.resources.r0]\n");
    let out = bench.ctl(&["evict", "r0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("'drbdsetup status --json r0' not executed successfully"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("r0: No such resource"),
        "{}",
        stderr(&out)
    );
    assert!(bench.systemctl_log().is_empty());
}
