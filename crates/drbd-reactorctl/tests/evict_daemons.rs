//! `evict` end to end: two real drbd-reactor daemons (alpha, beta) with `[[promoter]]` on the
//! simulator, each with a stand-in `systemctl` that starts the target by promoting through its
//! node's `drbdadm` shim, stops it by demoting, and refuses to start a masked target (as
//! systemd does). ctl on alpha masks and stops; alpha's promoter cannot start it again, beta's
//! promoter takes over, and ctl names beta.
mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sibling(name: &str) -> PathBuf {
    let path = PathBuf::from(BIN).with_file_name(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo build -p {name}` first",
        path.display()
    );
    path
}

/// systemd as far as the promoter and ctl use it, for one node (its directory is the one this
/// script is in; units there: `active` marks the target running).
const SYSTEMCTL: &str = r#"#!/bin/sh
d=$(dirname "$0")
echo "$*" >> "$d/systemctl.log"
case "$1" in
  mask) [ "$2" = --runtime ] && ln -sf /dev/null "$DRBD_REACTOR_UNIT_DIR/$3"; exit 0 ;;
  start)
    if [ -L "$DRBD_REACTOR_UNIT_DIR/$2" ]; then echo "Failed to start $2: Unit $2 is masked." >&2; exit 1; fi
    case "$2" in drbd-services@*) drbdadm primary r0 || exit 1; touch "$d/active" ;; esac
    exit 0 ;;
  stop) case "$2" in drbd-services@*) rm -f "$d/active"; drbdadm secondary r0 ;; esac; exit 0 ;;
  show)
    case "$2" in
      --property=LoadState) if [ -L "$DRBD_REACTOR_UNIT_DIR/$3" ]; then echo LoadState=masked; else echo LoadState=loaded; fi ;;
      --property=ActiveState) if [ -f "$d/active" ]; then echo ActiveState=active; else echo ActiveState=inactive; fi ;;
    esac
    exit 0 ;;
  *) exit 0 ;;
esac
"#;

struct NodeDirs {
    shims: PathBuf,
    sys: PathBuf,
    units: PathBuf,
    run: PathBuf,
    main: PathBuf,
}

fn node_dirs(root: &Path, node: &str, socket: &Path) -> NodeDirs {
    let base = root.join(node);
    let dirs = NodeDirs {
        shims: base.join("shims"),
        sys: base.join("sys"),
        units: base.join("units"),
        run: base.join("run"),
        main: base.join("main.toml"),
    };
    for d in [&dirs.sys, &dirs.units, &dirs.run, &base.join("snippets")] {
        std::fs::create_dir_all(d).unwrap();
    }
    assert!(Command::new(sibling("drbd-sim"))
        .arg("install-shims")
        .arg(&dirs.shims)
        .args(["--node", node, "--socket"])
        .arg(socket)
        .status()
        .unwrap()
        .success());
    write_exec(&dirs.sys.join("systemctl"), SYSTEMCTL);
    write_exec(&dirs.sys.join("journalctl"), "#!/bin/sh\nexit 0\n");
    std::fs::write(
        &dirs.main,
        format!(
            "snippets = \"{}\"\n[[log]]\nlevel = \"debug\"\nfile = \"{}\"\n",
            base.join("snippets").display(),
            base.join("daemon.log").display()
        ),
    )
    .unwrap();
    std::fs::write(
        base.join("snippets/r0.toml"),
        "[[promoter]]\n[promoter.resources.r0]\nstart = [\"app.service\"]\nadjust-resource-on-start = false\n",
    )
    .unwrap();
    dirs
}

impl NodeDirs {
    fn path(&self) -> String {
        format!(
            "{}:{}:{}",
            self.shims.display(),
            self.sys.display(),
            std::env::var("PATH").unwrap()
        )
    }
    fn env(&self, cmd: &mut Command) {
        cmd.env("PATH", self.path())
            .env("DRBD_REACTOR_UNIT_DIR", &self.units)
            .env("DRBD_REACTOR_RUN_DIR", &self.run)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("DRBD_SIM_NODE")
            .env_remove("DRBD_SIM_SOCKET");
    }
    fn daemon(&self) -> Killed {
        let mut cmd = Command::new(sibling("drbd-reactor"));
        self.env(&mut cmd);
        cmd.args(["--allow-tty", "-c"])
            .arg(&self.main)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Killed(cmd.spawn().unwrap())
    }
    fn primary(&self) -> bool {
        Command::new(self.shims.join("drbdadm"))
            .args(["role", "r0"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "Primary")
    }
    fn systemctl_log(&self) -> String {
        std::fs::read_to_string(self.sys.join("systemctl.log")).unwrap_or_default()
    }
    fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.main.with_file_name("daemon.log")).unwrap_or_default()
    }
}

#[test]
fn evict_hands_the_resource_to_the_peers_promoter_and_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let sim = sibling("drbd-sim");
    let example = Command::new(&sim)
        .arg("example-cluster")
        .output()
        .unwrap()
        .stdout;
    std::fs::write(root.join("cluster.toml"), example).unwrap();
    let socket = root.join("sim.sock");
    let _server = Killed(
        Command::new(&sim)
            .args(["serve", "--cluster"])
            .arg(root.join("cluster.toml"))
            .arg("--socket")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for(Duration::from_secs(20), || socket.exists()));
    let alpha = node_dirs(root, "alpha", &socket);
    let beta = node_dirs(root, "beta", &socket);

    let _alpha_daemon = alpha.daemon();
    assert!(
        wait_for(Duration::from_secs(60), || alpha.primary()),
        "alpha's promoter never promoted:\n{}\n{}",
        alpha.systemctl_log(),
        alpha.daemon_log()
    );
    let _beta_daemon = beta.daemon();
    assert!(
        wait_for(Duration::from_secs(20), || beta.daemon_log().contains("r0")),
        "beta's promoter does not run:\n{}",
        beta.daemon_log()
    );

    let mut cmd = Command::new(BIN);
    alpha.env(&mut cmd);
    let out = cmd
        .env("DRBD_REACTORCTL_INIT", "systemd")
        .arg("-c")
        .arg(&alpha.main)
        .args(["evict", "--delay", "60", "r0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}\nalpha:\n{}\n{}\nbeta:\n{}\n{}",
        stderr(&out),
        alpha.systemctl_log(),
        alpha.daemon_log(),
        beta.systemctl_log(),
        beta.daemon_log()
    );
    assert!(
        text.contains("\nNode 'beta' took over\nRe-enabling r0\nRemoved "),
        "{text}\nalpha:\n{}\nbeta:\n{}\n{}",
        alpha.systemctl_log(),
        beta.systemctl_log(),
        beta.daemon_log()
    );
    let alpha_log = alpha.systemctl_log();
    let masked = alpha_log
        .find("mask --runtime drbd-services@r0.target")
        .unwrap();
    let stopped = alpha_log.find("stop drbd-services@r0.target").unwrap();
    assert!(masked < stopped, "{alpha_log}");
    assert!(beta.primary() && !alpha.primary());
    assert!(beta
        .systemctl_log()
        .contains("start drbd-services@r0.target"));
    assert!(!alpha.units.join("drbd-services@r0.target").exists());
}
