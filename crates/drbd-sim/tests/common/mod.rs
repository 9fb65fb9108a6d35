//! Helpers for the tests that run the real drbd-reactor daemon against the simulator.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The daemon binary: DRBD_REACTOR_BIN, or target/debug/drbd-reactor next to the test's
/// deps directory. Fails (never skips) when it is missing.
pub fn reactor() -> PathBuf {
    if let Ok(p) = std::env::var("DRBD_REACTOR_BIN") {
        return p.into();
    }
    // target/debug/deps/<test> -> target/debug/drbd-reactor
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("drbd-reactor");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p drbd-reactor` first (or set DRBD_REACTOR_BIN)",
        bin.display()
    );
    bin
}

/// A child process killed and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the daemon with `config`, finding drbdsetup/drbdadm in `shims` (the simulator's
/// shims for one node, which know their node from the file beside them).
pub fn start_daemon(config: &Path, shims: &Path) -> Killed {
    Killed(
        Command::new(reactor())
            .args(["--allow-tty", "-c"])
            .arg(config)
            .env(
                "PATH",
                format!("{}:{}", shims.display(), std::env::var("PATH").unwrap()),
            )
            .env_remove("DRBD_SIM_NODE")
            .env_remove("DRBD_SIM_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}
