//! Helpers for the tests that run the real drbd-reactor daemon against the simulator.
#![allow(dead_code)]

use drbd_sim::server::Sim;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The daemon binary: DRBD_REACTOR_BIN, or `drbd-reactor` built by [`build_reactor`] into
/// this test's target directory (no manifest can declare a dependency on another package's
/// binary, so the test builds it itself).
pub fn reactor() -> PathBuf {
    if let Ok(p) = std::env::var("DRBD_REACTOR_BIN") {
        return p.into();
    }
    build_reactor().clone()
}

/// Runs `cargo build -p drbd-reactor --bin drbd-reactor` once per test process, with the
/// cargo that runs the tests (`CARGO`), into the target directory and profile of this test
/// binary (target/<profile>/deps/<test>), and returns the binary's path. Fails loudly (never
/// skips) when the build fails.
pub fn build_reactor() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_string(),
            Some(p) => p.to_string(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = Command::new(&cargo)
            .current_dir(&workspace)
            .args([
                "build",
                "--quiet",
                "-p",
                "drbd-reactor",
                "--bin",
                "drbd-reactor",
            ])
            .args(["--profile", &profile, "--target-dir"])
            .arg(target_dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
        assert!(
            out.status.success(),
            "`cargo build -p drbd-reactor --bin drbd-reactor` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = profile_dir.join("drbd-reactor");
        assert!(
            bin.is_file(),
            "{} is missing after the build",
            bin.display()
        );
        bin
    })
}

/// A child process killed and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port for a daemon's listener (below the ephemeral range: see drbd_sim::ports).
pub fn free_port() -> u16 {
    drbd_sim::ports::listen_port()
}

/// The daemon's command line with `config`, finding drbdsetup/drbdadm in `shims` (the
/// simulator's shims for one node, which know their node from the file beside them).
fn daemon_command(config: &Path, shims: &Path) -> Command {
    let mut cmd = Command::new(reactor());
    cmd.args(["--allow-tty", "-c"])
        .arg(config)
        .env(
            "PATH",
            format!("{}:{}", shims.display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("DRBD_SIM_NODE")
        .env_remove("DRBD_SIM_SOCKET")
        // Each daemon its own run directory (health, config generation, promoter manifests).
        .env("DRBD_REACTOR_RUN_DIR", shims.join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Starts the daemon with `config` and the shims in `shims`.
pub fn start_daemon(config: &Path, shims: &Path) -> Killed {
    Killed(daemon_command(config, shims).spawn().unwrap())
}

/// Starts the daemon as the leader of its own process group and registers it with the
/// simulator as running on `node`: `ctl crash NODE` kills it and what it started.
pub fn start_daemon_on(sim: &Sim, node: &str, config: &Path, shims: &Path) -> Killed {
    use std::os::unix::process::CommandExt;
    let child = daemon_command(config, shims)
        .process_group(0)
        .spawn()
        .unwrap();
    sim.register(node, child.id());
    Killed(child)
}
