//! The keys of each kind of line (events2 spec §2.5) and how each value is stored. Keys are
//! listed in the order drbdsetup prints them, so the scanner can check for the expected key
//! instead of scanning and looking it up (the hot path of the daemon).
//!
//! Must never: depend on key order for correctness (a key out of order is looked up), reject
//! a line for an unknown key (kept aside), or panic on any value.

use crate::event::*;
use crate::parse::{ParseError, Problem, Scanner};
use crate::values::{Address, Eta, Hundredths};
use crate::vocab::parse_bool;
use std::str::FromStr;

/// A line's fields: the keys of its kind and how to store each.
pub(crate) trait Fields {
    /// The known keys, in drbdsetup's printed order.
    const KEYS: &'static [&'static str];
    /// Stores the value of key `KEYS[i]`; the error says what the value should have been.
    fn set_at(&mut self, i: usize, value: &str) -> Result<(), &'static str>;
    fn unknown(&mut self) -> &mut UnknownKeys;
}

/// Implements [`Fields`] from a list of `key => store` arms in printed order; `$s` names the
/// fields and `$v` the value inside the arms.
macro_rules! keys {
    ($ty:ty, |$s:ident, $v:ident| unknown: $unknown:expr, { $($key:literal => $store:expr),+ $(,)? }) => {
        impl Fields for $ty {
            const KEYS: &'static [&'static str] = &[$($key),+];

            #[allow(unused_assignments)]
            #[inline(always)]
            fn set_at(&mut self, i: usize, $v: &str) -> Result<(), &'static str> {
                let $s = self;
                let mut n = 0usize;
                $(
                    if i == n {
                        $store;
                        return Ok(());
                    }
                    n += 1;
                )+
                Ok(())
            }

            fn unknown(&mut self) -> &mut UnknownKeys {
                let $s = self;
                &mut $unknown
            }
        }
    };
}

/// Reads the `key:value` pairs of a line into `fields`.
pub(crate) fn fill<F: Fields>(mut fields: F, mut tokens: Scanner) -> Result<F, ParseError> {
    let mut expected = 0;
    while let Some(pair) = tokens.pair(F::KEYS.get(expected).copied()) {
        let (key, value, as_expected) = pair?;
        let index = if as_expected {
            Some(expected)
        } else {
            F::KEYS.iter().position(|k| *k == key)
        };
        match index {
            Some(i) => {
                fields.set_at(i, value).map_err(|what| ParseError {
                    token: format!("{key}:{value}"),
                    problem: Problem::BadValue {
                        key: key.to_string(),
                        expected: what,
                    },
                })?;
                expected = i + 1;
            }
            None => fields.unknown().push((key.to_string(), value.to_string())),
        }
    }
    Ok(fields)
}

/// An unsigned decimal: digits only (no sign, no blank), in range of `T`.
fn num<T: TryFrom<u64>>(v: &str) -> Result<Option<T>, &'static str> {
    if v.is_empty() {
        return Err("an unsigned integer");
    }
    let mut n: u64 = 0;
    for &b in v.as_bytes() {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err("an unsigned integer");
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit)))
            .ok_or("an unsigned integer in range")?;
    }
    T::try_from(n)
        .map(Some)
        .map_err(|_| "an unsigned integer in range")
}

fn boolean(v: &str) -> Result<Option<bool>, &'static str> {
    parse_bool(v).map(Some).ok_or("yes or no")
}

fn vocab<T: FromStr>(v: &str, what: &'static str) -> Result<Option<T>, &'static str> {
    v.parse().map(Some).map_err(|_| what)
}

fn hundredths(v: &str) -> Result<Option<Hundredths>, &'static str> {
    v.parse().map(Some).map_err(|_| "a decimal with two places")
}

fn missing(kind: &str, key: &'static str) -> ParseError {
    ParseError {
        token: kind.to_string(),
        problem: Problem::MissingKey(key),
    }
}

keys!(ResourceLine, |l, v| unknown: l.unknown, {
    "name" => l.name = v.to_string(),
    "role" => l.role = vocab(v, "a role")?,
    "suspended" => l.suspended = vocab(v, "a suspension list")?,
    "force-io-failures" => l.force_io_failures = boolean(v)?,
    "write-ordering" => l.write_ordering = vocab(v, "a write ordering")?,
    "may_promote" => l.may_promote = boolean(v)?,
    "promotion_score" => l.promotion_score = num(v)?,
});

pub(crate) fn parse_resource(tokens: Scanner) -> Result<ResourceLine, ParseError> {
    fill(ResourceLine::default(), tokens)
}

struct DeviceFields {
    line: DeviceLine,
    volume: Option<u32>,
}

keys!(DeviceFields, |f, v| unknown: f.line.unknown, {
    "name" => f.line.name = v.to_string(),
    "volume" => f.volume = num(v)?,
    "minor" => f.line.minor = num(v)?,
    "backing_dev" => {
        f.line.backing_dev = Some(match v {
            "none" => BackingDev::None,
            "" => return Err("a device path or none"),
            p => BackingDev::Path(p.to_string()),
        })
    },
    "disk" => f.line.disk = vocab(v, "a disk state")?,
    "client" => f.line.client = vocab(v, "yes, no or unknown")?,
    "open" => f.line.open = vocab(v, "yes, no or unknown")?,
    "quorum" => f.line.quorum = boolean(v)?,
    "size" => f.line.size = num(v)?,
    "read" => f.line.read = num(v)?,
    "written" => f.line.written = num(v)?,
    "al-writes" => f.line.al_writes = num(v)?,
    "bm-writes" => f.line.bm_writes = num(v)?,
    "upper-pending" => f.line.upper_pending = num(v)?,
    "lower-pending" => f.line.lower_pending = num(v)?,
    "al-suspended" => f.line.al_suspended = boolean(v)?,
    "blocked" => f.line.blocked = vocab(v, "a blocked list")?,
});

pub(crate) fn parse_device(tokens: Scanner) -> Result<DeviceLine, ParseError> {
    let f = fill(
        DeviceFields {
            line: DeviceLine::default(),
            volume: None,
        },
        tokens,
    )?;
    let mut line = f.line;
    line.volume = f.volume.ok_or_else(|| missing("device", "volume"))?;
    Ok(line)
}

/// Identity shared by connection, peer-device and path lines (their first three keys).
#[derive(Default)]
struct PeerIdentity {
    name: String,
    peer_node_id: Option<u32>,
    conn_name: Option<String>,
}

impl PeerIdentity {
    fn finish(self, kind: &str) -> Result<(String, u32, String), ParseError> {
        Ok((
            self.name,
            self.peer_node_id
                .ok_or_else(|| missing(kind, "peer-node-id"))?,
            self.conn_name.ok_or_else(|| missing(kind, "conn-name"))?,
        ))
    }
}

struct ConnectionFields {
    id: PeerIdentity,
    line: ConnectionLine,
}

keys!(ConnectionFields, |f, v| unknown: f.line.unknown, {
    "name" => f.id.name = v.to_string(),
    "peer-node-id" => f.id.peer_node_id = num(v)?,
    "conn-name" => f.id.conn_name = Some(v.to_string()),
    "connection" => f.line.connection = vocab(v, "a connection state")?,
    "role" => f.line.role = vocab(v, "a role")?,
    "congested" => f.line.congested = boolean(v)?,
    "ap-in-flight" => f.line.ap_in_flight = num(v)?,
    "rs-in-flight" => f.line.rs_in_flight = num(v)?,
});

pub(crate) fn parse_connection(tokens: Scanner) -> Result<ConnectionLine, ParseError> {
    let f = fill(
        ConnectionFields {
            id: PeerIdentity::default(),
            line: ConnectionLine::default(),
        },
        tokens,
    )?;
    let mut line = f.line;
    (line.name, line.peer_node_id, line.conn_name) = f.id.finish("connection")?;
    Ok(line)
}

/// The progress block of a line, created by the first progress key.
fn progress(l: &mut PeerDeviceLine) -> &mut ResyncProgress {
    l.progress.get_or_insert_with(Box::default)
}

struct PeerDeviceFields {
    id: PeerIdentity,
    volume: Option<u32>,
    line: PeerDeviceLine,
}

keys!(PeerDeviceFields, |f, v| unknown: f.line.unknown, {
    "name" => f.id.name = v.to_string(),
    "peer-node-id" => f.id.peer_node_id = num(v)?,
    "conn-name" => f.id.conn_name = Some(v.to_string()),
    "volume" => f.volume = num(v)?,
    "replication" => f.line.replication = vocab(v, "a replication state")?,
    "peer-disk" => f.line.peer_disk = vocab(v, "a disk state")?,
    "peer-client" => f.line.peer_client = vocab(v, "yes, no or unknown")?,
    "resync-suspended" => f.line.resync_suspended = vocab(v, "a resync suspension list")?,
    "done" => progress(&mut f.line).done = hundredths(v)?,
    "received" => f.line.received = num(v)?,
    "sent" => f.line.sent = num(v)?,
    "out-of-sync" => f.line.out_of_sync = num(v)?,
    "pending" => f.line.pending = num(v)?,
    "unacked" => f.line.unacked = num(v)?,
    "rs-total" => progress(&mut f.line).rs_total = num(v)?,
    "rs-dt-start-ms" => progress(&mut f.line).rs_dt_start_ms = num(v)?,
    "rs-paused-ms" => progress(&mut f.line).rs_paused_ms = num(v)?,
    "rs-dt0-ms" => progress(&mut f.line).rs_dt0_ms = num(v)?,
    "rs-db0-sectors" => progress(&mut f.line).rs_db0_sectors = num(v)?,
    "rs-dt1-ms" => progress(&mut f.line).rs_dt1_ms = num(v)?,
    "rs-db1-sectors" => progress(&mut f.line).rs_db1_sectors = num(v)?,
    "ov-start-sector" => progress(&mut f.line).ov_start_sector = num(v)?,
    "ov-stop-sector" => progress(&mut f.line).ov_stop_sector = num(v)?,
    "ov-position" => progress(&mut f.line).ov_position = num(v)?,
    "ov-left" => progress(&mut f.line).ov_left = num(v)?,
    "ov-skipped" => progress(&mut f.line).ov_skipped = num(v)?,
    "rs-failed" => progress(&mut f.line).rs_failed = num(v)?,
    "rs-same-csum" => progress(&mut f.line).rs_same_csum = num(v)?,
    "want" => progress(&mut f.line).want = hundredths(v)?,
    "dbdt" => progress(&mut f.line).dbdt = hundredths(v)?,
    "dbdt0" => progress(&mut f.line).dbdt0 = hundredths(v)?,
    "dbdt1" => progress(&mut f.line).dbdt1 = hundredths(v)?,
    "eta" => progress(&mut f.line).eta = Some(v.parse::<Eta>().map_err(|_| "seconds or nan")?),
});

pub(crate) fn parse_peer_device(tokens: Scanner) -> Result<PeerDeviceLine, ParseError> {
    let f = fill(
        PeerDeviceFields {
            id: PeerIdentity::default(),
            volume: None,
            line: PeerDeviceLine::default(),
        },
        tokens,
    )?;
    let mut line = f.line;
    (line.name, line.peer_node_id, line.conn_name) = f.id.finish("peer-device")?;
    line.volume = f.volume.ok_or_else(|| missing("peer-device", "volume"))?;
    Ok(line)
}

struct PathFields {
    id: PeerIdentity,
    local: Option<Address>,
    peer: Option<Address>,
    established: Option<bool>,
    unknown: UnknownKeys,
}

keys!(PathFields, |f, v| unknown: f.unknown, {
    "name" => f.id.name = v.to_string(),
    "peer-node-id" => f.id.peer_node_id = num(v)?,
    "conn-name" => f.id.conn_name = Some(v.to_string()),
    "local" => f.local = vocab(v, "an address")?,
    "peer" => f.peer = vocab(v, "an address")?,
    "established" => f.established = boolean(v)?,
});

pub(crate) fn parse_path(tokens: Scanner) -> Result<PathLine, ParseError> {
    let f = fill(
        PathFields {
            id: PeerIdentity::default(),
            local: None,
            peer: None,
            established: None,
            unknown: Vec::new(),
        },
        tokens,
    )?;
    let (name, peer_node_id, conn_name) = f.id.finish("path")?;
    Ok(PathLine {
        name,
        peer_node_id,
        conn_name,
        local: f.local.ok_or_else(|| missing("path", "local"))?,
        peer: f.peer.ok_or_else(|| missing("path", "peer"))?,
        established: f.established,
        unknown: f.unknown,
    })
}

keys!(HelperLine, |l, v| unknown: l.unknown, {
    "name" => l.name = v.to_string(),
    "peer-node-id" => l.peer_node_id = num(v)?,
    "conn-name" => l.conn_name = Some(v.to_string()),
    "local" => l.local = vocab(v, "an address")?,
    "peer" => l.peer = vocab(v, "an address")?,
    "volume" => l.volume = num(v)?,
    "minor" => l.minor = num(v)?,
    "helper" => l.helper = v.to_string(),
    "status" => l.status = num(v)?,
});

pub(crate) fn parse_helper(phase: HelperPhase, tokens: Scanner) -> Result<HelperLine, ParseError> {
    let line = fill(
        HelperLine {
            phase,
            name: String::new(),
            peer_node_id: None,
            conn_name: None,
            local: None,
            peer: None,
            volume: None,
            minor: None,
            helper: String::new(),
            status: None,
            unknown: Vec::new(),
        },
        tokens,
    )?;
    if line.name.is_empty() {
        return Err(missing("helper", "name"));
    }
    if line.helper.is_empty() {
        return Err(missing("helper", "helper"));
    }
    Ok(line)
}

struct RenameFields {
    name: String,
    new_name: String,
    unknown: UnknownKeys,
}

keys!(RenameFields, |f, v| unknown: f.unknown, {
    "name" => f.name = v.to_string(),
    "new_name" => f.new_name = v.to_string(),
});

pub(crate) fn parse_rename(tokens: Scanner) -> Result<Event, ParseError> {
    let f = fill(
        RenameFields {
            name: String::new(),
            new_name: String::new(),
            unknown: Vec::new(),
        },
        tokens,
    )?;
    if f.name.is_empty() {
        return Err(missing("rename", "name"));
    }
    if f.new_name.is_empty() {
        return Err(missing("rename", "new_name"));
    }
    Ok(Event::Rename {
        resource: f.name,
        new_name: f.new_name,
        unknown: f.unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_unsigned_decimals_in_range() {
        assert_eq!(num::<u32>("0"), Ok(Some(0)));
        assert_eq!(num::<u64>("18446744073709551615"), Ok(Some(u64::MAX)));
        assert!(num::<u64>("18446744073709551616").is_err());
        assert!(num::<u32>("4294967296").is_err());
        for bad in ["", "-1", "+1", " 1", "1a", "0x1"] {
            assert!(num::<u64>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_kind_lists_each_key_once() {
        fn unique(keys: &[&str]) -> bool {
            let set: std::collections::BTreeSet<_> = keys.iter().collect();
            set.len() == keys.len()
        }
        assert!(unique(ResourceLine::KEYS));
        assert!(unique(DeviceFields::KEYS));
        assert!(unique(ConnectionFields::KEYS));
        assert!(unique(PeerDeviceFields::KEYS));
        assert!(unique(PathFields::KEYS));
        assert!(unique(HelperLine::KEYS));
        assert!(unique(RenameFields::KEYS));
    }
}
