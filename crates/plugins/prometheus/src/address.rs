//! The `address` forms of `[[prometheus]]` (prometheus spec §1): `:PORT` (any address:
//! dual-stack `[::]`, falling back to `0.0.0.0` where IPv6 is off), `IP:PORT`, `[IPv6]:PORT`.
//!
//! Must never: accept a form the original rejects (host names, a bare IP, `::9942`), so a
//! config that works here works there too.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenAddress {
    AnyAddress(u16),
    Exact(SocketAddr),
}

impl std::str::FromStr for ListenAddress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(port) = s.strip_prefix(':') {
            return port
                .parse()
                .map(ListenAddress::AnyAddress)
                .map_err(|_| format!("'{s}': ':PORT' needs a port from 0 to 65535"));
        }
        s.parse::<SocketAddr>().map(ListenAddress::Exact).map_err(|_| {
            format!("'{s}' is not ':PORT', 'IPv4:PORT' or '[IPv6]:PORT' (e.g. \":9942\", \"127.0.0.1:9942\", \"[::1]:9942\")")
        })
    }
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddress::AnyAddress(p) => write!(f, ":{p}"),
            ListenAddress::Exact(a) => write!(f, "{a}"),
        }
    }
}

impl ListenAddress {
    /// The socket addresses to try, in order.
    pub fn candidates(self) -> Vec<SocketAddr> {
        match self {
            ListenAddress::AnyAddress(p) => vec![
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, p)),
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, p)),
            ],
            ListenAddress::Exact(a) => vec![a],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_originals_forms() {
        assert_eq!(
            ":9942".parse::<ListenAddress>().unwrap(),
            ListenAddress::AnyAddress(9942)
        );
        assert!(matches!(
            "127.0.0.1:9942".parse::<ListenAddress>().unwrap(),
            ListenAddress::Exact(_)
        ));
        assert!(matches!(
            "[::1]:9942".parse::<ListenAddress>().unwrap(),
            ListenAddress::Exact(_)
        ));
        assert!(matches!(
            "0.0.0.0:9942".parse::<ListenAddress>().unwrap(),
            ListenAddress::Exact(_)
        ));
    }

    #[test]
    fn rejects_what_the_original_rejects() {
        for bad in [
            "localhost:9942",
            "127.0.0.1",
            "9942",
            ":99999",
            "::9942",
            "",
        ] {
            assert!(bad.parse::<ListenAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn any_address_tries_dual_stack_first() {
        let c = ListenAddress::AnyAddress(9942).candidates();
        assert!(c[0].is_ipv6() && c[1].is_ipv4());
    }
}
