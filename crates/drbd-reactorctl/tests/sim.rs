//! `status` reads the Primary from the simulator's real `drbdsetup status --json` (drbd-sim,
//! built from this workspace next to this binary): a Primary peer by its connection name, the
//! local node as "this node".
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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

#[test]
fn status_names_the_primary_peer_and_then_this_node_from_the_simulator() {
    let bench = Bench::new();
    let root = bench.root();
    let alpha = root.join("alpha");
    let beta = root.join("beta");
    let _server = serve_example_cluster(root, &[("alpha", &alpha), ("beta", &beta)]);
    bench.snippet(
        "r0.toml",
        "[[promoter]]\n[promoter.resources.r0]\nstart = [\"app.service\"]\n",
    );
    let status = |args: &[&str]| {
        let path = format!(
            "{}:{}:{}",
            alpha.display(),
            root.join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let out = bench
            .cmd()
            .env("PATH", path)
            .arg("-c")
            .arg(bench.main())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(
        wait_for(Duration::from_secs(20), || shim(&beta, &["primary", "r0"])),
        "beta cannot become Primary"
    );
    assert!(status(&["status"]).contains("Promoter: Resource r0 currently active on node 'beta'\n"));
    let json: serde_json::Value = serde_json::from_str(&status(&["status", "--json"])).unwrap();
    assert_eq!(json["promoter"][0]["primary_on"], "beta");

    assert!(shim(&beta, &["secondary", "r0"]));
    assert!(shim(&alpha, &["primary", "r0"]));
    assert!(status(&["status"]).contains("Promoter: Resource r0 currently active on this node\n"));
    let me = String::from_utf8(Command::new("uname").arg("-n").output().unwrap().stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(&status(&["status", "--json"])).unwrap();
    assert_eq!(json["promoter"][0]["primary_on"], me.trim());
}

#[test]
fn status_shows_why_the_running_daemon_runs_the_services_here() {
    let bench = Bench::new();
    let root = bench.root();
    let reactor = PathBuf::from(BIN).with_file_name("drbd-reactor");
    assert!(
        reactor.exists(),
        "{} missing: run `cargo build -p drbd-reactor` first",
        reactor.display()
    );
    let alpha = root.join("alpha");
    let _server = serve_example_cluster(root, &[("alpha", &alpha)]);
    bench.snippet(
        "r0.toml",
        "[[promoter]]\n[promoter.resources.r0]\nrunner = \"shell\"\nstart = [\"drbdadm primary r0\"]\nstop = [\"drbdadm secondary r0\"]\nadjust-resource-on-start = false\n",
    );
    let path = format!(
        "{}:{}:{}",
        alpha.display(),
        root.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    // The real daemon on alpha, publishing into the run directory ctl reads.
    let _daemon = Sim(Command::new(&reactor)
        .args(["--allow-tty", "-c"])
        .arg(bench.main())
        .env("PATH", &path)
        .env("DRBD_REACTOR_RUN_DIR", root.join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let status = |args: &[&str]| {
        let out = bench
            .cmd()
            .env("PATH", &path)
            .arg("-c")
            .arg(bench.main())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let want = "drbd-reactor: runs the services here (running); starts 1, stops 0, failures 0, lost races 0\n  last decision: started the services of 'r0': this node runs them\n";
    assert!(
        wait_for(Duration::from_secs(30), || status(&["status"])
            .contains(want)),
        "{}",
        status(&["status"])
    );
    assert!(status(&["status"]).contains("Promoter: Resource r0 currently active on this node\n"));
    let json: serde_json::Value = serde_json::from_str(&status(&["status", "--json"])).unwrap();
    assert_eq!(json["promoter"][0]["reactor"]["runs-services"], true);
    assert_eq!(json["promoter"][0]["reactor"]["starts"], 1);
}
