//! Loopback TCP ports for the listeners of tests and demos that start real daemons.
//!
//! Why: a port the kernel handed out for `bind(":0")` is in the ephemeral range, and between
//! the pick and the daemon's own bind (or its restart, seconds later) any outgoing connection
//! of the machine may take it as its local end: the daemon's endpoint then fails with "Address
//! already in use" (the HA campaign's gamma, once in 200 schedules). Ports below the range are
//! never handed out that way.
//!
//! Must never: hand out the same port twice in one process, or a port something listens on.

use std::sync::atomic::{AtomicU32, Ordering};

/// Where the kernel's ephemeral range starts (`ip_local_port_range`), 32768 if unreadable.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A loopback port nobody uses now (TCP or UDP), below the ephemeral range: the next of a walk
/// over the 12,000 ports under it (fewer if the range starts lower), from a start that
/// depends on the process id, so concurrent processes walk from different places.
pub fn listen_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let top = u32::from(ephemeral_start());
    let bottom = top.saturating_sub(12_000).max(1024);
    let span = top.saturating_sub(bottom).max(1);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let port = (bottom + NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
        // Free for TCP and for UDP (snmpd's port in the agentx tests is UDP).
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free loopback port in {bottom}..{top}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_distinct_and_bindable() {
        let top = ephemeral_start();
        let ports: Vec<u16> = (0..50).map(|_| listen_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for p in ports {
            assert!(p < top && p >= 1024, "{p}");
            std::net::TcpListener::bind(("127.0.0.1", p)).expect("free");
        }
    }
}
