//! sd_notify: one datagram per message to `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
//! namespace), the message followed by a newline as the original sends it.
//!
//! Edge module. It must never hand the socket to an agent: the address is read once at start-up
//! and agent calls get an environment without it (see `ocf::call_environment`).

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where notifications go; a fake in tests.
pub trait Notifier {
    fn notify(&mut self, message: &str) -> io::Result<()>;
}

/// The real thing; without `NOTIFY_SOCKET` every message is dropped (run by hand).
#[derive(Clone)]
pub struct SdNotify {
    target: Option<SocketAddr>,
}

impl SdNotify {
    pub fn new(notify_socket: Option<&str>) -> io::Result<Self> {
        let target = match notify_socket {
            None | Some("") => None,
            Some(name) => Some(match name.strip_prefix('@') {
                Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes())?,
                None => SocketAddr::from_pathname(name)?,
            }),
        };
        Ok(SdNotify { target })
    }
}

impl Notifier for SdNotify {
    fn notify(&mut self, message: &str) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let socket = UnixDatagram::unbound()?;
        let datagram = format!("{message}\n");
        let sent = socket.send_to_addr(datagram.as_bytes(), target)?;
        if sent != datagram.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "short write to NOTIFY_SOCKET: {sent} of {} bytes",
                    datagram.len()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_arrives_as_one_datagram_with_a_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut n = SdNotify::new(Some(path.to_str().unwrap())).unwrap();
        n.notify("READY=1\nSTATUS=x: monitoring every 30 seconds")
            .unwrap();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..len],
            b"READY=1\nSTATUS=x: monitoring every 30 seconds\n"
        );
    }

    #[test]
    fn an_abstract_socket_name_is_understood() {
        let name = format!("ocf-rs-wrapper-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let mut n = SdNotify::new(Some(&format!("@{name}"))).unwrap();
        n.notify("STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\n");
    }

    #[test]
    fn without_a_socket_messages_are_dropped() {
        let mut n = SdNotify::new(None).unwrap();
        n.notify("READY=1").unwrap();
    }

    #[test]
    fn a_socket_nobody_listens_on_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone");
        let mut n = SdNotify::new(Some(path.to_str().unwrap())).unwrap();
        assert!(n.notify("READY=1").is_err());
    }
}
