//! The DRBD versions for the metrics and the MIB: `drbdadm --version`, run now and then
//! every minute by a plugin that shows them.
//!
//! Must never: block a plugin (it runs in its own task with a timeout), or turn a failure
//! into a silent 0.0.0 (the last good versions stay, and the failure is flagged and logged).

use drbd_reactor_prometheus::render::DrbdVersions;
use drbd_reactor_prometheus::version::parse_versions;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const REFRESH: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `drbdadm --version` once.
pub async fn probe() -> Result<(String, String), String> {
    let run = tokio::process::Command::new("drbdadm")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TIMEOUT, run)
        .await
        .map_err(|_| "drbdadm --version did not answer within 10 s".to_string())?
        .map_err(|e| format!("cannot run drbdadm --version: {e}"))?;
    if !out.status.success() {
        return Err(format!("drbdadm --version failed: {}", out.status));
    }
    parse_versions(&String::from_utf8_lossy(&out.stdout))
}

/// The latest versions, refreshed by a task until `shutdown` turns true.
pub fn refreshed(
    target: &'static str,
    mut shutdown: watch::Receiver<bool>,
) -> Arc<Mutex<DrbdVersions>> {
    let shared = Arc::new(Mutex::new(DrbdVersions::default()));
    let out = Arc::clone(&shared);
    tokio::spawn(async move {
        loop {
            let result = probe().await;
            {
                let mut v = shared.lock().expect("never poisoned");
                match result {
                    Ok((kmod, utils)) => {
                        *v = DrbdVersions {
                            kmod: Some(kmod),
                            utils: Some(utils),
                            last_refresh_ok: true,
                        };
                    }
                    Err(e) => {
                        if v.last_refresh_ok || v.kmod.is_none() {
                            log::warn!(target: target, "{e}; keeping the last known DRBD versions");
                        }
                        v.last_refresh_ok = false;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(REFRESH) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
    out
}
