//! Non-vocabulary value types of events2: path addresses, two-decimal figures (`done`,
//! `dbdt*`, `want`) and the resync ETA.
//!
//! Must never: go through floating point for printed decimals (parse(print(x)) must be exact).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value drbdsetup prints with `%.2f`, kept as hundredths so it prints back exactly.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Hundredths(pub u64);

impl Hundredths {
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl FromStr for Hundredths {
    type Err = ();
    /// Digits, then optionally a '.' and at most two digits (`37.5`, `0.24`, `100`, `5.`).
    /// One pass over the bytes: a sync line carries several of these.
    fn from_str(s: &str) -> Result<Self, ()> {
        let bytes = s.as_bytes();
        let (int, frac) = match bytes.iter().position(|&b| b == b'.') {
            Some(dot) => (&bytes[..dot], &bytes[dot + 1..]),
            None => (bytes, &bytes[..0]),
        };
        if int.is_empty() || frac.len() > 2 {
            return Err(());
        }
        let digit = |b: u8| b.is_ascii_digit().then(|| u64::from(b - b'0'));
        let mut whole: u64 = 0;
        for &b in int {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(digit(b)?))
                .ok_or(())?;
        }
        let mut cents: u64 = 0;
        for (i, &b) in frac.iter().enumerate() {
            cents += digit(b).ok_or(())? * if i == 0 { 10 } else { 1 };
        }
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Hundredths)
            .ok_or(())
    }
}

impl fmt::Display for Hundredths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Estimated seconds until a resync or verify completes; `nan` when there was no recent
/// progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Eta {
    Seconds(u64),
    Unknown,
}

impl FromStr for Eta {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        if s == "nan" || s == "-nan" {
            return Ok(Eta::Unknown);
        }
        s.parse().map(Eta::Seconds).map_err(|_| ())
    }
}

impl fmt::Display for Eta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Eta::Seconds(s) => write!(f, "{s}"),
            Eta::Unknown => f.write_str("nan"),
        }
    }
}

/// Address family of a path endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
    Ssocks,
    Sdp,
}

impl AddressFamily {
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
            AddressFamily::Ssocks => "ssocks",
            AddressFamily::Sdp => "sdp",
        }
    }
}

/// One endpoint of a path, e.g. `ipv4:10.0.0.1:7789` or `ipv6:[fd00::1]:7000`.
/// `host` is kept as printed (brackets and scope included for IPv6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Address {
    pub family: AddressFamily,
    pub host: String,
    pub port: u16,
}

impl FromStr for Address {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        // Every path line has two addresses, so this is on the parser's hot path: the family
        // by prefix, the port found from the end, no searching from the start.
        let (family, rest) = if let Some(rest) = s.strip_prefix("ipv4:") {
            (AddressFamily::Ipv4, rest)
        } else if let Some(rest) = s.strip_prefix("ipv6:") {
            (AddressFamily::Ipv6, rest)
        } else if let Some(rest) = s.strip_prefix("ssocks:") {
            (AddressFamily::Ssocks, rest)
        } else if let Some(rest) = s.strip_prefix("sdp:") {
            (AddressFamily::Sdp, rest)
        } else {
            return Err(());
        };
        let colon = rest.bytes().rposition(|b| b == b':').ok_or(())?;
        let (host, port) = (&rest[..colon], &rest[colon + 1..]);
        if host.is_empty() {
            return Err(());
        }
        if family == AddressFamily::Ipv6 && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(());
        }
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        let port = port.bytes().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
        Ok(Address {
            family,
            host: host.to_string(),
            port: u16::try_from(port).map_err(|_| ())?,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.family.as_str(), self.host, self.port)
    }
}

impl Address {
    /// Appends what `Display` prints, without the formatting machinery (the metrics render
    /// writes two addresses per path label).
    pub fn push_to(&self, out: &mut String) {
        out.push_str(self.family.as_str());
        out.push(':');
        out.push_str(&self.host);
        out.push(':');
        out.push_str(itoa::Buffer::new().format(self.port));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_pushed_to_a_string_reads_as_it_displays() {
        for text in [
            "ipv4:10.0.0.1:7789",
            "ipv6:[fe80::1]:0",
            "sdp:1.2.3.4:65535",
            "ssocks:h:7",
        ] {
            let a: Address = text.parse().unwrap();
            let mut out = String::from("x");
            a.push_to(&mut out);
            assert_eq!(out, format!("x{a}"));
            assert_eq!(&out[1..], text);
        }
    }

    #[test]
    fn hundredths_parse_and_print_exactly() {
        assert_eq!("37.50".parse::<Hundredths>().unwrap(), Hundredths(3750));
        assert_eq!(Hundredths(3750).to_string(), "37.50");
        assert_eq!("0.24".parse::<Hundredths>().unwrap().to_string(), "0.24");
        assert_eq!("100".parse::<Hundredths>().unwrap(), Hundredths(10000));
        assert!("1.234".parse::<Hundredths>().is_err());
        assert!("-1.00".parse::<Hundredths>().is_err());
        assert!(".5".parse::<Hundredths>().is_err());
    }

    /// The one-pass parse against the rule written out plainly, on the edges: empty parts,
    /// a second dot, signs, blanks, overflow of the whole part and of the scaled value.
    #[test]
    fn hundredths_parse_exactly_the_digits_dot_two_digits_form() {
        fn reference(s: &str) -> Option<u64> {
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
            if int.is_empty() || !digits(int) || frac.len() > 2 || !digits(frac) {
                return None;
            }
            let cents = format!("{frac:0<2}").parse::<u64>().ok()?;
            int.parse::<u64>()
                .ok()?
                .checked_mul(100)?
                .checked_add(cents)
        }
        let max = u64::MAX.to_string();
        let over = (u64::MAX / 100 + 1).to_string();
        let edge = (u64::MAX / 100).to_string() + ".99";
        for s in [
            "0",
            "7",
            "5.",
            "5.0",
            "5.05",
            "12.3",
            "00.01",
            "",
            ".",
            ".5",
            "1.2.3",
            "1..2",
            "1.234",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1a",
            "a.1",
            "1.a",
            "99999999999999999999",
            &max,
            &over,
            &edge,
            "184467440737095516.15",
            "184467440737095516.16",
        ] {
            assert_eq!(
                s.parse::<Hundredths>().ok().map(|h| h.0),
                reference(s),
                "{s:?}"
            );
        }
    }

    #[test]
    fn eta_accepts_nan() {
        assert_eq!("nan".parse::<Eta>().unwrap(), Eta::Unknown);
        assert_eq!("10".parse::<Eta>().unwrap(), Eta::Seconds(10));
        assert_eq!(Eta::Unknown.to_string(), "nan");
    }

    #[test]
    fn addresses_keep_everything_after_the_family() {
        let a: Address = "ipv4:10.29.0.11:7293".parse().unwrap();
        assert_eq!(a.host, "10.29.0.11");
        assert_eq!(a.port, 7293);
        assert_eq!(a.to_string(), "ipv4:10.29.0.11:7293");
        let b: Address = "ipv6:[fe80::1%eth0]:7000".parse().unwrap();
        assert_eq!(b.host, "[fe80::1%eth0]");
        assert_eq!(b.to_string(), "ipv6:[fe80::1%eth0]:7000");
        assert!("ipv6:fd00::1:7000".parse::<Address>().is_err());
        assert!("tcp:1.2.3.4:1".parse::<Address>().is_err());
    }
}
