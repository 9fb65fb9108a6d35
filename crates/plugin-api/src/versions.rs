//! The DRBD kernel module and drbd-utils versions for the metrics and the MIB: `drbdadm
//! --version` parsed (prometheus spec §7), run by one shared task now and then every minute
//! while the daemon runs, whoever asks first.
//!
//! Must never: block a plugin (the probe runs in its own task with a deadline), or turn a
//! failure into a silent 0.0.0 (the last good versions stay, and the failure is flagged and
//! logged).

use drbd_reactor_process::{spawn_group, Waited};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

const TARGET: &str = "drbd_reactor::versions";
const REFRESH: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(10);

/// The versions reported by `drbdadm --version`, and whether the last attempt worked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DrbdVersions {
    /// `major.minor.patch` of the kernel module; `None` before the first success.
    pub kmod: Option<String>,
    pub utils: Option<String>,
    /// True if the most recent `drbdadm --version` succeeded.
    pub last_refresh_ok: bool,
    /// True once the first `drbdadm --version` has ended, whether it worked or not: before,
    /// `None` versions mean "not asked yet", not "failed".
    pub probed: bool,
}

/// Hands out the shared versions; the refresh task starts with the first subscriber.
#[derive(Clone, Default)]
pub struct VersionsService {
    started: Arc<Mutex<Option<watch::Receiver<DrbdVersions>>>>,
}

impl VersionsService {
    /// The latest versions, refreshed every minute from now on.
    pub fn subscribe(&self) -> watch::Receiver<DrbdVersions> {
        let mut started = self.started.lock().expect("never poisoned");
        if let Some(rx) = &*started {
            return rx.clone();
        }
        let (tx, rx) = watch::channel(DrbdVersions::default());
        tokio::spawn(refresh_with(tx, "drbdadm".into()));
        *started = Some(rx.clone());
        rx
    }
}

/// Waits until the first `drbdadm --version` has ended, for at most `within`: what a plugin
/// serving the versions does before it starts, as the original probes before it binds, so
/// that its first answer does not carry `0.0.0` for versions that are a few milliseconds
/// away. A probe slower than that is logged, and the plugin serves without it.
pub async fn first_probe(versions: &mut watch::Receiver<DrbdVersions>, within: Duration) {
    if tokio::time::timeout(within, versions.wait_for(|v| v.probed))
        .await
        .is_err()
    {
        log::warn!(
            target: TARGET,
            "drbdadm --version has not answered within {} ms: serving 0.0.0 until it does",
            within.as_millis()
        );
    }
}

async fn refresh_with(tx: watch::Sender<DrbdVersions>, program: std::ffi::OsString) {
    loop {
        let result = probe_with(&program, TIMEOUT).await;
        tx.send_modify(|v| match result {
            Ok((kmod, utils)) => {
                *v = DrbdVersions {
                    kmod: Some(kmod),
                    utils: Some(utils),
                    last_refresh_ok: true,
                    probed: true,
                }
            }
            Err(e) => {
                if v.last_refresh_ok || v.kmod.is_none() {
                    log::warn!(target: TARGET, "{e}; keeping the last known DRBD versions");
                }
                v.last_refresh_ok = false;
                v.probed = true;
            }
        });
        tokio::time::sleep(REFRESH).await;
    }
}

/// Runs `drbdadm --version` once.
pub async fn probe() -> Result<(String, String), String> {
    probe_with("drbdadm".as_ref(), TIMEOUT).await
}

async fn probe_with(
    program: &std::ffi::OsStr,
    timeout: Duration,
) -> Result<(String, String), String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = spawn_group(&mut cmd, Default::default())
        .map_err(|e| format!("cannot run drbdadm --version: {e}"))?;
    let mut stdout = child.take_stdout().expect("piped");
    let mut text = Vec::new();
    // drbdadm --version prints a few hundred bytes; more is not its output.
    let mut limited = (&mut stdout).take(64 * 1024);
    let answered = tokio::time::timeout(timeout, limited.read_to_end(&mut text))
        .await
        .is_ok();
    // Output still open after the timeout (drbdadm or something it started holds it): the
    // whole group goes, before the leader is reaped (its pid still names the group), so
    // nothing is left for the next probe to pile on.
    if !answered {
        child.kill_group();
    }
    let status = match child.wait_timeout(Some(timeout)).await {
        Ok(Waited::Exited(status)) if answered => status,
        Ok(_) => return Err("drbdadm --version did not answer within 10 s".to_string()),
        Err(e) => return Err(format!("drbdadm --version: {e}")),
    };
    if !status.success() {
        return Err(format!("drbdadm --version failed: {status}"));
    }
    parse_versions(&String::from_utf8_lossy(&text))
}

/// `DRBDADM_VERSION_CODE=0x091c00` → "9.28.0".
fn code(stdout: &str, key: &str) -> Option<String> {
    let hex = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix("=0x"))?;
    let v = u32::from_str_radix(hex, 16).ok()?;
    Some(format!(
        "{}.{}.{}",
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff
    ))
}

/// (kernel module, utils) versions, or why not.
pub fn parse_versions(stdout: &str) -> Result<(String, String), String> {
    let utils = code(stdout, "DRBDADM_VERSION_CODE").ok_or("no DRBDADM_VERSION_CODE line")?;
    let kmod =
        code(stdout, "DRBD_KERNEL_VERSION_CODE").ok_or("no DRBD_KERNEL_VERSION_CODE line")?;
    Ok((kmod, utils))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_probe_whose_output_stays_open_is_ended_with_everything_it_started() {
        let dir = std::env::temp_dir().join(format!("versions-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("drbdadm");
        let pid_file = dir.join("pid");
        // A grandchild holds stdout open after drbdadm itself has exited.
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nsleep 300 &\necho $! > {}\nexit 0\n",
                pid_file.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let result = probe_with(script.as_os_str(), Duration::from_millis(500)).await;
        assert!(result.unwrap_err().contains("did not answer"));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let alive = || {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .is_ok_and(|s| !s.contains(") Z "))
        };
        while alive() {
            assert!(
                std::time::Instant::now() < deadline,
                "the grandchild survived the probe"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn first_probe_returns_when_the_probe_ends_not_before() {
        let (tx, mut rx) = watch::channel(DrbdVersions::default());
        let waiter = tokio::spawn(async move {
            first_probe(&mut rx, Duration::from_secs(2)).await;
            rx.borrow().clone()
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "returned before the probe ended");
        tx.send_modify(|v| {
            v.kmod = Some("9.2.8".into());
            v.utils = Some("9.28.0".into());
            v.last_refresh_ok = true;
            v.probed = true;
        });
        let seen = waiter.await.unwrap();
        assert_eq!(seen.kmod.as_deref(), Some("9.2.8"));
    }

    #[tokio::test(start_paused = true)]
    async fn first_probe_gives_up_at_its_deadline() {
        let (_tx, mut rx) = watch::channel(DrbdVersions::default());
        let start = tokio::time::Instant::now();
        first_probe(&mut rx, Duration::from_secs(2)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert!(!rx.borrow().probed);
    }

    #[tokio::test]
    async fn a_failed_first_probe_counts_as_probed_without_versions() {
        let (tx, mut rx) = watch::channel(DrbdVersions::default());
        tokio::spawn(refresh_with(tx, "/nonexistent/drbdadm".into()));
        first_probe(&mut rx, Duration::from_secs(10)).await;
        let seen = rx.borrow().clone();
        assert!(seen.probed, "the failed probe did not count");
        assert!(!seen.last_refresh_ok);
        assert_eq!(seen.kmod, None);
    }

    #[test]
    fn version_codes_split_into_major_minor_patch() {
        let out = "DRBDADM_BUILDTAG=GIT-hash\nDRBDADM_API_VERSION=2\nDRBD_KERNEL_VERSION_CODE=0x090208\nDRBDADM_VERSION_CODE=0x091c00\nDRBDADM_VERSION=9.28.0\n";
        assert_eq!(
            parse_versions(out).unwrap(),
            ("9.2.8".to_string(), "9.28.0".to_string())
        );
    }

    #[test]
    fn missing_lines_are_errors() {
        assert!(parse_versions("DRBDADM_VERSION_CODE=0x091c00\n").is_err());
        assert!(parse_versions("").is_err());
        assert!(
            parse_versions("DRBDADM_VERSION_CODE=0xzz\nDRBD_KERNEL_VERSION_CODE=0x0\n").is_err()
        );
    }
}
