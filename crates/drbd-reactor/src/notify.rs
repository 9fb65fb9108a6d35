//! sd_notify(3) on a plain unix datagram socket: READY, RELOADING (with MONOTONIC_USEC),
//! STOPPING and STATUS. `NOTIFY_SOCKET` may be a path or `@name` (abstract namespace).
//! Must never fail the daemon: a send error is logged once and otherwise ignored
//! (the original exited with status 1).

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TARGET: &str = "drbd_reactor";

/// The longest a notification may wait for room in systemd's queue.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Where notifications go; `None` when not started by systemd.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, SocketAddr)>,
    warned: AtomicBool,
}

/// Parses a `NOTIFY_SOCKET` value: `@name` is abstract, anything else a path.
pub fn socket_addr(value: &str) -> std::io::Result<SocketAddr> {
    match value.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(value),
    }
}

/// The socket notifications leave by. A send waits at most [`SEND_TIMEOUT`] for room in
/// systemd's queue (PID 1 busy or stuck): the core sends from its own task and must never
/// stall behind it.
fn sending_socket() -> std::io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.set_write_timeout(Some(SEND_TIMEOUT))?;
    Ok(s)
}

impl Notifier {
    /// A notifier that drops every message.
    pub fn disabled() -> Self {
        Notifier {
            socket: None,
            warned: AtomicBool::new(false),
        }
    }

    /// Reads `NOTIFY_SOCKET` and removes it from the environment so that children do not
    /// inherit it. Call before any thread is started, which is before logging is set up:
    /// so a value that cannot be used is not logged here but returned as the warning to log
    /// once logging is up (logged here, it went nowhere).
    pub fn from_env() -> (Self, Option<String>) {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
            return (Notifier::disabled(), None);
        };
        std::env::remove_var("NOTIFY_SOCKET");
        let value = value.to_string_lossy().into_owned();
        match (socket_addr(&value), sending_socket()) {
            (Ok(addr), Ok(sock)) => (
                Notifier {
                    socket: Some((sock, addr)),
                    warned: AtomicBool::new(false),
                },
                None,
            ),
            (Err(err), _) | (_, Err(err)) => (
                Notifier::disabled(),
                Some(format!(
                    "sd_notify: cannot use NOTIFY_SOCKET={value}: {err}"
                )),
            ),
        }
    }

    /// Sends one datagram of `KEY=value` lines.
    pub fn send(&self, lines: &[String]) {
        let Some((sock, addr)) = &self.socket else {
            return;
        };
        let mut msg = lines.join("\n");
        msg.push('\n');
        if let Err(err) = sock.send_to_addr(msg.as_bytes(), addr) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                log::warn!(target: TARGET, "sd_notify: could not send {:?}: {err}", msg.trim_end());
            }
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(&["READY=1".into(), format!("STATUS={status}")]);
    }

    pub fn reloading(&self) {
        self.send(&[
            "RELOADING=1".into(),
            format!("MONOTONIC_USEC={}", monotonic_usec()),
            "STATUS=Reloading configuration".into(),
        ]);
    }

    pub fn stopping(&self) {
        self.send(&["STOPPING=1".into(), "STATUS=Stopping".into()]);
    }

    /// The plugins stop within `bound`: systemd waits that long plus [`STOP_MARGIN`] before
    /// it kills the daemon, even when the unit's stop timeout is shorter (systemd's default
    /// 90 s would cut a promoter's stop of its services, 180 s or more, and kill a shell
    /// runner's stop list in the middle). It never shortens the timeout.
    pub fn stopping_within(&self, bound: Duration) {
        let usec = bound.saturating_add(STOP_MARGIN).as_micros();
        self.send(&[format!("EXTEND_TIMEOUT_USEC={usec}")]);
    }

    pub fn status(&self, status: &str) {
        self.send(&[format!("STATUS={status}")]);
    }
}

/// Beyond the plugins' latest stop deadline: a cancelled run is reaped, the run files are
/// removed, the process exits.
pub const STOP_MARGIN: Duration = Duration::from_secs(10);

/// CLOCK_MONOTONIC in microseconds, as systemd wants with RELOADING=1.
pub fn monotonic_usec() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier_to(addr: SocketAddr) -> Notifier {
        Notifier {
            socket: Some((sending_socket().unwrap(), addr)),
            warned: AtomicBool::new(false),
        }
    }

    #[test]
    fn a_receiver_that_never_reads_costs_a_send_its_timeout_not_the_core_for_ever() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let _stuck = UnixDatagram::bind(&path).unwrap();
        let n = notifier_to(socket_addr(path.to_str().unwrap()).unwrap());
        // More than net.unix.max_dgram_qlen (512 by default) fills the receiver's queue.
        let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(512);
        for _ in 0..=qlen + 1 {
            n.ready("Running");
        }
        assert!(
            n.warned.load(Ordering::Relaxed),
            "a send to the full queue failed"
        );
    }

    #[test]
    fn abstract_socket_receives_ready_with_status() {
        let name = format!("drbd-reactor-notify-test-{}", std::process::id());
        let addr = socket_addr(&format!("@{name}")).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        notifier_to(addr).ready("Running");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=Running\n");
    }

    #[test]
    fn path_socket_receives_reloading_with_a_monotonic_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let before = monotonic_usec();
        notifier_to(socket_addr(path.to_str().unwrap()).unwrap()).reloading();
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec: u64 = lines.next().unwrap()["MONOTONIC_USEC=".len()..]
            .parse()
            .unwrap();
        assert!(usec >= before);
    }

    #[test]
    fn a_missing_socket_is_not_fatal() {
        let n = notifier_to(socket_addr("/nonexistent/notify").unwrap());
        n.ready("x");
        n.stopping();
        assert!(n.warned.load(Ordering::Relaxed));
    }
}
