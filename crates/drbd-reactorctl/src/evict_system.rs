//! The real world of `evict` ([`crate::evict::Node`]): systemctl and `drbdsetup status --json`
//! through PATH, the runtime mask link under the promoter's unit directory
//! (`$DRBD_REACTOR_UNIT_DIR`, default `/run/systemd/system`), the monotonic clock, and a flag
//! that SIGINT/SIGTERM set while evict runs (spec ctl.md §9).
//!
//! Must never: remove anything but a link to /dev/null, or let a signal end ctl while a
//! target is masked (the handlers are installed before the first mask).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::evict::{Node, Output, Unmasked};
use crate::system::{self, PrimaryOn};

pub struct System {
    start: Instant,
    interrupted: Arc<AtomicBool>,
}

impl System {
    /// Catches SIGINT and SIGTERM from now on: they only set the flag.
    pub fn new() -> anyhow::Result<System> {
        let interrupted = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&interrupted))
                .context("Could not install the SIGINT/SIGTERM handlers")?;
        }
        Ok(System {
            start: Instant::now(),
            interrupted,
        })
    }
}

const DEV_NULL: &str = "/dev/null";

fn is_mask(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && std::fs::read_link(path).is_ok_and(|to| to == Path::new(DEV_NULL))
}

impl Node for System {
    fn primary(&mut self, res: &str) -> anyhow::Result<PrimaryOn> {
        system::primary_checked(res)
    }

    fn systemctl(&mut self, args: &[&str], output: Output) -> anyhow::Result<bool> {
        let mut cmd = Command::new("systemctl");
        cmd.args(args).stdin(Stdio::null());
        match output {
            Output::Inherit => {}
            Output::NoStderr => {
                cmd.stderr(Stdio::null());
            }
            Output::Discard => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let _ = std::io::stdout().flush();
        let status = cmd.status().context("Could not execute 'systemctl'")?;
        Ok(status.success())
    }

    fn remove_mask(&mut self, path: &Path) -> anyhow::Result<Unmasked> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Unmasked::Absent),
            Err(e) => {
                return Err(e).with_context(|| format!("Could not inspect '{}'", path.display()))
            }
            Ok(_) if !is_mask(path) => return Ok(Unmasked::NotAMask),
            Ok(_) => {}
        }
        match std::fs::remove_file(path) {
            Ok(()) => Ok(Unmasked::Removed),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Unmasked::Absent),
            Err(e) => Err(e).with_context(|| format!("Could not remove '{}'", path.display())),
        }
    }

    fn is_masked(&self, path: &Path) -> bool {
        is_mask(path)
    }

    fn load_state(&mut self, unit: &str) -> anyhow::Result<String> {
        system::show("LoadState", unit)
            .with_context(|| format!("'systemctl show --property=LoadState {unit}' failed"))
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn reset_interrupt(&mut self) {
        self.interrupted.store(false, Ordering::SeqCst);
    }

    fn print(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_link_to_dev_null_is_removed_as_a_mask() {
        let dir = tempfile::tempdir().unwrap();
        let mut node = System {
            start: Instant::now(),
            interrupted: Arc::new(AtomicBool::new(false)),
        };
        let mask = dir.path().join("drbd-services@r0.target");
        assert_eq!(node.remove_mask(&mask).unwrap(), Unmasked::Absent);
        std::os::unix::fs::symlink(DEV_NULL, &mask).unwrap();
        assert!(node.is_masked(&mask));
        assert_eq!(node.remove_mask(&mask).unwrap(), Unmasked::Removed);
        assert!(!mask.exists() && !node.is_masked(&mask));
        std::fs::write(&mask, "[Unit]\n").unwrap();
        assert_eq!(node.remove_mask(&mask).unwrap(), Unmasked::NotAMask);
        assert!(mask.exists());
        let other = dir.path().join("other.target");
        std::os::unix::fs::symlink("/etc/hostname", &other).unwrap();
        assert_eq!(node.remove_mask(&other).unwrap(), Unmasked::NotAMask);
    }
}
