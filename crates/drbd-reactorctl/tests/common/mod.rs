//! Shared test bench: a temporary main config and snippets directory, stand-in `systemctl`
//! and `drbdsetup` scripts on PATH that record their arguments, and the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_drbd-reactorctl");

const SYSTEMCTL: &str = r#"#!/bin/sh
echo "$*" >> "$BENCH/systemctl.log"
case "$1" in
  is-active) exit "$(cat "$BENCH/is-active-rc" 2>/dev/null || echo 3)" ;;
  show)
    prop=${2#--property=}
    f="$BENCH/units/$3.$prop"
    if [ -f "$f" ]; then echo "$prop=$(cat "$f")"; elif [ "$prop" = ActiveState ]; then echo "ActiveState=inactive";
    elif [ "$prop" = LoadState ]; then
      if [ -L "$DRBD_REACTOR_UNIT_DIR/$3" ]; then echo LoadState=masked; else echo LoadState=loaded; fi
    fi
    exit 0 ;;
  *) if [ -f "$BENCH/fail-$1" ]; then echo "stand-in: $1 fails" >&2; exit 1; fi
     if [ -f "$BENCH/on-$1" ]; then . "$BENCH/on-$1"; fi
     # as systemd does: a runtime mask is a link to /dev/null in the runtime unit directory
     if [ "$1" = mask ] && [ "$2" = --runtime ]; then ln -sf /dev/null "$DRBD_REACTOR_UNIT_DIR/$3"; fi
     exit 0 ;;
esac
"#;

const DRBDADM: &str = r#"#!/bin/sh
echo "$*" >> "$BENCH/drbdadm.log"
if [ -f "$BENCH/fail-drbdadm-$1" ]; then echo "stand-in: drbdadm $1 fails" >&2; exit 10; fi
case "$1" in
  sh-ll-dev) cat "$BENCH/drbd/$2.disks" 2>/dev/null || echo none ;;
esac
exit 0
"#;

const DRBDSETUP: &str = r#"#!/bin/sh
echo "$*" >> "$BENCH/drbdsetup.log"
f="$BENCH/drbd/$3.json"
[ -f "$f" ] || { echo "$3: No such resource" >&2; exit 10; }
cat "$f"
"#;

pub struct Bench {
    pub tmp: tempfile::TempDir,
}

/// An executable script, written so that running it at once cannot fail with "Text file busy"
/// while other tests of this binary spawn children.
pub fn write_exec(path: &Path, text: &str) {
    drbd_reactor_process::write_script(path, text).unwrap();
}

impl Bench {
    pub fn new() -> Bench {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for d in ["snippets", "bin", "units", "drbd", "run", "xdg", "unitdir"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(
            root.join("main.toml"),
            format!("snippets = \"{}\"\n", root.join("snippets").display()),
        )
        .unwrap();
        write_exec(&root.join("bin/systemctl"), SYSTEMCTL);
        write_exec(&root.join("bin/drbdsetup"), DRBDSETUP);
        write_exec(&root.join("bin/drbdadm"), DRBDADM);
        Bench { tmp }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }
    pub fn dir(&self) -> PathBuf {
        self.root().join("snippets")
    }
    pub fn main(&self) -> PathBuf {
        self.root().join("main.toml")
    }
    pub fn snippet(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
    pub fn unit(&self, unit: &str, active: &str, freezer: &str) {
        std::fs::write(
            self.root().join(format!("units/{unit}.ActiveState")),
            active,
        )
        .unwrap();
        std::fs::write(
            self.root().join(format!("units/{unit}.FreezerState")),
            freezer,
        )
        .unwrap();
    }
    pub fn drbd(&self, res: &str, json: &str) {
        std::fs::write(self.root().join(format!("drbd/{res}.json")), json).unwrap();
    }
    pub fn auto_reload(&self, active: bool) {
        std::fs::write(
            self.root().join("is-active-rc"),
            if active { "0" } else { "3" },
        )
        .unwrap();
    }
    /// Every systemctl call so far, one per line.
    pub fn systemctl_log(&self) -> Vec<String> {
        self.log("systemctl")
    }
    /// Every call of the stand-in `program` so far, one per line.
    pub fn log(&self, program: &str) -> Vec<String> {
        std::fs::read_to_string(self.root().join(format!("{program}.log")))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    /// The runtime unit directory ctl and the promoter crate use (`DRBD_REACTOR_UNIT_DIR`).
    pub fn unit_dir(&self) -> PathBuf {
        self.root().join("unitdir")
    }

    /// The binary with the bench's environment (systemd mode, no colours, no contexts).
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(BIN);
        let path = format!(
            "{}:{}",
            self.root().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path)
            .env("BENCH", self.root())
            .env("DRBD_REACTORCTL_INIT", "systemd")
            .env("DRBD_REACTOR_RUN_DIR", self.root().join("run"))
            .env("DRBD_REACTOR_UNIT_DIR", self.unit_dir())
            .env("XDG_CONFIG_HOME", self.root().join("xdg"))
            .env_remove("CLICOLOR_FORCE")
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `-c <main> <args>`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.cmd()
            .arg("-c")
            .arg(self.main())
            .args(args)
            .output()
            .unwrap()
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The snippet set of spec ctl.md §4.2.
pub fn spec_set(bench: &Bench) {
    bench.snippet(
        "linstor_db.toml",
        "[[promoter]]\n[promoter.resources.linstor_db]\nstart = [\"var-lib-linstor.mount\", \"linstor-controller.service\"]\n",
    );
    bench.snippet("prom.toml", "[[prometheus]]\nenums = true\n");
    bench.snippet("umh.toml", "[[umh]]\n");
    bench.snippet("dbg.toml.disabled", "[[debugger]]\n");
    bench.snippet("ax.toml", "[[agentx]]\n");
}

/// A child killed and reaped when dropped (the simulator server, a daemon).
pub struct Sim(pub std::process::Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The simulator binary, built from this workspace next to ctl's.
pub fn sim_binary() -> PathBuf {
    let path = PathBuf::from(BIN).with_file_name("drbd-sim");
    assert!(
        path.exists(),
        "{} missing: run `cargo build -p drbd-sim` first",
        path.display()
    );
    path
}

/// `drbd-sim serve` on the example cluster (alpha, beta, gamma; resource r0) with its socket
/// under `root`, and the shims of each `(node, directory)`.
pub fn serve_example_cluster(root: &Path, shims: &[(&str, &Path)]) -> Sim {
    let sim = sim_binary();
    let cluster = Command::new(&sim)
        .arg("example-cluster")
        .output()
        .unwrap()
        .stdout;
    std::fs::write(root.join("cluster.toml"), cluster).unwrap();
    let socket = root.join("sim.sock");
    let server = Sim(Command::new(&sim)
        .args(["serve", "--cluster"])
        .arg(root.join("cluster.toml"))
        .arg("--socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    assert!(
        wait_for(Duration::from_secs(20), || socket.exists()),
        "simulator did not start"
    );
    for (node, dir) in shims {
        let ok = Command::new(&sim)
            .arg("install-shims")
            .arg(dir)
            .args(["--node", node, "--socket"])
            .arg(&socket)
            .status()
            .unwrap()
            .success();
        assert!(ok, "install-shims for {node}");
    }
    server
}
