//! The keys of each kind of line (events2 spec §2.5) and how each value is stored. Keys are
//! listed in the order drbdsetup prints them, so the scanner can check for the expected key
//! instead of scanning and looking it up (the hot path of the daemon).
//!
//! Must never: depend on key order for correctness (a key out of order is looked up), reject
//! a line for an unknown key (kept aside), or panic on any value.

use crate::event::*;
use crate::parse::{ParseError, Problem, Scanner};
use crate::values::{Address, AddressFamily, Eta};
use crate::vocab::{parse_bool, Lenient, Tristate, WriteOrdering};

/// A line's fields: the keys of its kind and how to store each.
pub(crate) trait Fields {
    /// The known keys, in drbdsetup's printed order.
    const KEYS: &'static [&'static str];
    /// Stores the value of key `KEYS[i]`; the error says what the value should have been.
    /// Values this version does not know go to `u` as (key, value).
    fn set_at(&mut self, i: usize, value: &str, u: &mut UnknownValues) -> Result<(), &'static str>;
    /// Reads the tokens that stand in printed order, asking for each known key in turn (a key
    /// a line does not carry costs one failed comparison). Returns the keys seen, as bits of
    /// their indices, and stops at the first token out of order or unknown.
    fn fill_in_order(
        &mut self,
        tokens: &mut Scanner,
        u: &mut UnknownValues,
    ) -> Result<u64, ParseError>;
    fn unknown(&mut self) -> &mut UnknownKeys;
}

/// Implements [`Fields`] from a list of `key => store` arms in printed order; `$s` names the
/// fields and `$v` the value inside the arms.
macro_rules! keys {
    ($ty:ty, |$s:ident, $v:ident, $u:ident| unknown: $unknown:expr, { $($key:literal => $store:expr),+ $(,)? }) => {
        impl Fields for $ty {
            const KEYS: &'static [&'static str] = &[$($key),+];

            #[allow(unused_assignments)]
            #[inline(always)]
            fn set_at(&mut self, i: usize, $v: &str, $u: &mut UnknownValues) -> Result<(), &'static str> {
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

            #[allow(unused_assignments)]
            #[inline(always)]
            fn fill_in_order(&mut self, tokens: &mut Scanner, u: &mut UnknownValues) -> Result<u64, ParseError> {
                let mut seen = 0u64;
                let mut n = 0usize;
                $(
                    if let Some(value) = tokens.take(concat!($key, ":")) {
                        self.set_at(n, value, u).map_err(|what| bad_value($key, value, what))?;
                        seen |= 1 << n;
                    }
                    n += 1;
                )+
                Ok(seen)
            }

            fn unknown(&mut self) -> &mut UnknownKeys {
                let $s = self;
                &mut $unknown
            }
        }
    };
}

fn bad_value(key: &str, value: &str, expected: &'static str) -> ParseError {
    let problem = if expected == CONTROL {
        Problem::ControlCharacter {
            key: key.to_string(),
        }
    } else {
        Problem::BadValue {
            key: key.to_string(),
            expected,
        }
    };
    ParseError {
        token: format!("{key}:{value}"),
        problem,
    }
}

/// What a name with a control character is told it should have been.
const CONTROL: &str = "free of control characters";

/// True if `v` has a DEL or C1 control character. (C0 control characters, NUL included, are
/// found by the scanner in every value: see `Scanner::check_control`.) Such a byte in a
/// resource name, a connection name or an address would make a phantom object and reach
/// metric labels and logs raw; drbdsetup never prints one (DRBD refuses such names).
///
/// Names are on every line: eight bytes at a time, looking for any byte from 0x7f up (DEL
/// and every non-ASCII byte); only a hit is checked exactly.
#[inline(always)]
fn has_control(v: &str) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let bytes = v.as_bytes();
    // Adding one to a byte sets its high bit exactly when it is 0x7f or more (no carries
    // into the next byte: UTF-8 has no 0xff). Short names are read as two overlapping
    // halves, longer ones a word at a time with an overlapping last word.
    let suspect = if let Some(last) = bytes.last_chunk::<8>() {
        let mut hits = u64::from_le_bytes(*last).wrapping_add(LOW);
        for word in bytes.chunks_exact(8) {
            hits |= u64::from_le_bytes(word.try_into().expect("eight bytes")).wrapping_add(LOW);
        }
        hits & HIGH != 0
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        let word =
            u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << 32;
        word.wrapping_add(LOW) & HIGH != 0
    } else {
        bytes.iter().fold(0u8, |m, &b| m | b.wrapping_add(1)) & 0x80 != 0
    };
    suspect && has_control_exact(bytes)
}

#[cold]
fn has_control_exact(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| {
        // C1 controls are U+0080..U+009F: 0xC2 followed by 0x80..0x9F in UTF-8.
        b < 0x20 || b == 0x7f || (b == 0xc2 && bytes.get(i + 1).is_some_and(|&n| n < 0xa0))
    })
}

/// Fails for a name with a control character.
#[inline(always)]
fn no_control(v: &str) -> Result<&str, &'static str> {
    if has_control(v) {
        Err(CONTROL)
    } else {
        Ok(v)
    }
}

/// A vocabulary value that never fails: an unknown spelling is stored as the vocabulary's
/// unknown value and recorded with its key in `unknown`.
#[inline(always)]
fn lenient<T: Lenient>(v: &str, key: &str, unknown: &mut UnknownValues) -> Option<T> {
    let (value, known) = T::lenient(v);
    if !known {
        note_unknown(key, v, unknown);
    }
    Some(value)
}

/// Records an unknown value: out of line, so the parser's hot loop stays small.
#[cold]
#[inline(never)]
fn note_unknown(key: &str, v: &str, unknown: &mut UnknownValues) {
    unknown.push((key.to_string(), v.to_string()));
}

/// A vocabulary value without an out-of-range value (`yes`/`no`/`unknown`, write ordering):
/// an unknown spelling is recorded in `unknown` and the key counts as not reported.
#[inline(always)]
fn known_or_none<T>(
    v: &str,
    from_text: fn(&str) -> Option<T>,
    key: &str,
    unknown: &mut UnknownValues,
) -> Option<T> {
    let value = from_text(v);
    if value.is_none() {
        note_unknown(key, v, unknown);
    }
    value
}

/// An address (`local`, `peer`) without control characters.
fn address(v: &str) -> Result<Address, &'static str> {
    no_control(v)?.parse().map_err(|_| "an address")
}

/// Reads the `key:value` pairs of a line into `fields`: first those in printed order, then
/// any others (out of order, repeated or unknown) one by one. Returns the keys seen, as bits
/// of their indices in `F::KEYS`.
pub(crate) fn fill<F: Fields>(
    fields: &mut F,
    mut tokens: Scanner,
    u: &mut UnknownValues,
) -> Result<u64, ParseError> {
    tokens.skip_space();
    let mut seen = fields.fill_in_order(&mut tokens, u)?;
    if tokens.at_end() {
        tokens.check_control()?;
        return Ok(seen);
    }
    for pair in tokens.by_ref() {
        let (key, value) = pair?;
        match F::KEYS.iter().position(|k| *k == key) {
            Some(i) => {
                // A repeated key: the last value wins, also over an unknown one before it.
                if !u.is_empty() {
                    u.retain(|(k, _)| k != key);
                }
                fields
                    .set_at(i, value, u)
                    .map_err(|what| bad_value(key, value, what))?;
                seen |= 1 << i;
            }
            None => fields.unknown().push((key.to_string(), value.to_string())),
        }
    }
    tokens.check_control()?;
    if u.len() > 1 {
        // Keys out of order: keep the unknown values in printed order, as the printer
        // prints them and an in-order line records them.
        u.sort_by_key(|(k, _)| F::KEYS.iter().position(|known| known == k));
    }
    Ok(seen)
}

/// Fails with [`Problem::MissingKey`] unless `seen` has the bit of `key`.
fn require<F: Fields>(seen: u64, kind: &str, key: &'static str) -> Result<(), ParseError> {
    match F::KEYS.iter().position(|k| *k == key) {
        Some(i) if seen & (1 << i) != 0 => Ok(()),
        _ => Err(ParseError {
            token: kind.to_string(),
            problem: Problem::MissingKey(key),
        }),
    }
}

/// An unsigned decimal: digits only (no sign, no blank), in range of `T`.
#[inline(always)]
fn num<T: TryFrom<u64>>(v: &str) -> Result<Option<T>, &'static str> {
    let digits = v.as_bytes();
    if digits.is_empty() {
        return Err("an unsigned integer");
    }
    let mut n: u64 = 0;
    if digits.len() <= 19 {
        // Nineteen digits cannot overflow a u64: no checked arithmetic per digit.
        for &b in digits {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return Err("an unsigned integer");
            }
            n = n * 10 + u64::from(digit);
        }
    } else {
        for &b in digits {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return Err("an unsigned integer");
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit)))
                .ok_or("an unsigned integer in range")?;
        }
    }
    T::try_from(n)
        .map(Some)
        .map_err(|_| "an unsigned integer in range")
}

fn boolean(v: &str) -> Result<Option<bool>, &'static str> {
    parse_bool(v).map(Some).ok_or("yes or no")
}

/// A resync or verify statistic (`done`, `want`, `dbdt*`, `eta`): best effort. drbdsetup
/// prints a rate that went backwards as negative (`dbdt1:-0.12`, from a signed difference)
/// and a wrapped unsigned counter as a number beyond 64 bits; such a value is not known
/// (`None`: the line neither stores it nor gains a progress it did not have), and the line
/// keeps its states (replication, peer disk) instead of being rejected.
fn statistic<T: std::str::FromStr>(v: &str) -> Option<T> {
    v.parse().ok()
}

/// Stores a name in a buffer that may come from an earlier line (capacity reused); a name
/// with a control character fails.
#[inline(always)]
fn set(buffer: &mut String, v: &str) -> Result<(), &'static str> {
    buffer.clear();
    buffer.push_str(no_control(v)?);
    Ok(())
}

/// A required number (identity keys are not optional on the lines that carry them).
fn id(v: &str) -> Result<u32, &'static str> {
    num(v).map(|n| n.unwrap_or_default())
}

keys!(ResourceLine, |l, v, u| unknown: l.unknown, {
    "name" => set(&mut l.name, v)?,
    "role" => l.role = lenient(v, "role", u),
    "suspended" => l.suspended = lenient(v, "suspended", u),
    "force-io-failures" => l.force_io_failures = boolean(v)?,
    "write-ordering" => l.write_ordering = known_or_none(v, WriteOrdering::from_text, "write-ordering", u),
    "may_promote" => l.may_promote = boolean(v)?,
    "promotion_score" => l.promotion_score = num(v)?,
});

/// Reads a resource line into `line` (a fresh default).
pub(crate) fn fill_resource(
    line: &mut ResourceLine,
    tokens: Scanner,
    u: &mut UnknownValues,
) -> Result<(), ParseError> {
    fill(line, tokens, u).map(drop)
}

keys!(DeviceLine, |l, v, u| unknown: l.unknown, {
    "name" => set(&mut l.name, v)?,
    "volume" => l.volume = id(v)?,
    "minor" => l.minor = num(v)?,
    "backing_dev" => {
        l.backing_dev = Some(match v {
            "none" => BackingDev::None,
            // Empty values are accepted (events2 spec §2.12 rule 5); the original keeps
            // any text but `none` as the path, so does this.
            p => BackingDev::Path(no_control(p)?.to_string()),
        })
    },
    "disk" => l.disk = lenient(v, "disk", u),
    "client" => l.client = known_or_none(v, Tristate::from_text, "client", u),
    "open" => l.open = known_or_none(v, Tristate::from_text, "open", u),
    "quorum" => l.quorum = boolean(v)?,
    "size" => l.size = num(v)?,
    "read" => l.read = num(v)?,
    "written" => l.written = num(v)?,
    "al-writes" => l.al_writes = num(v)?,
    "bm-writes" => l.bm_writes = num(v)?,
    "upper-pending" => l.upper_pending = num(v)?,
    "lower-pending" => l.lower_pending = num(v)?,
    "al-suspended" => l.al_suspended = boolean(v)?,
    "blocked" => l.blocked = lenient(v, "blocked", u),
});

/// Reads a device line into `line` (a fresh default).
pub(crate) fn fill_device(
    line: &mut DeviceLine,
    tokens: Scanner,
    u: &mut UnknownValues,
) -> Result<(), ParseError> {
    let seen = fill(line, tokens, u)?;
    require::<DeviceLine>(seen, "device", "volume")
}

keys!(ConnectionLine, |l, v, u| unknown: l.unknown, {
    "name" => set(&mut l.name, v)?,
    "peer-node-id" => l.peer_node_id = id(v)?,
    "conn-name" => set(&mut l.conn_name, v)?,
    "connection" => l.connection = lenient(v, "connection", u),
    "role" => l.role = lenient(v, "role", u),
    "congested" => l.congested = boolean(v)?,
    "ap-in-flight" => l.ap_in_flight = num(v)?,
    "rs-in-flight" => l.rs_in_flight = num(v)?,
});

/// Reads a connection line into `line` (a fresh default).
pub(crate) fn fill_connection(
    line: &mut ConnectionLine,
    tokens: Scanner,
    u: &mut UnknownValues,
) -> Result<(), ParseError> {
    let seen = fill(line, tokens, u)?;
    require::<ConnectionLine>(seen, "connection", "peer-node-id")?;
    require::<ConnectionLine>(seen, "connection", "conn-name")
}

/// The progress block of a line, created by the first progress key.
fn progress(l: &mut PeerDeviceLine) -> &mut ResyncProgress {
    l.progress.get_or_insert_with(Box::default)
}

keys!(PeerDeviceLine, |l, v, u| unknown: l.unknown, {
    "name" => set(&mut l.name, v)?,
    "peer-node-id" => l.peer_node_id = id(v)?,
    "conn-name" => set(&mut l.conn_name, v)?,
    "volume" => l.volume = id(v)?,
    "replication" => l.replication = lenient(v, "replication", u),
    "peer-disk" => l.peer_disk = lenient(v, "peer-disk", u),
    "peer-client" => l.peer_client = known_or_none(v, Tristate::from_text, "peer-client", u),
    "resync-suspended" => l.resync_suspended = lenient(v, "resync-suspended", u),
    "done" => if let Some(x) = statistic(v) { progress(l).done = Some(x) },
    "received" => l.received = num(v)?,
    "sent" => l.sent = num(v)?,
    "out-of-sync" => l.out_of_sync = num(v)?,
    "pending" => l.pending = num(v)?,
    "unacked" => l.unacked = num(v)?,
    "rs-total" => progress(l).rs_total = num(v)?,
    "rs-dt-start-ms" => progress(l).rs_dt_start_ms = num(v)?,
    "rs-paused-ms" => progress(l).rs_paused_ms = num(v)?,
    "rs-dt0-ms" => progress(l).rs_dt0_ms = num(v)?,
    "rs-db0-sectors" => progress(l).rs_db0_sectors = num(v)?,
    "rs-dt1-ms" => progress(l).rs_dt1_ms = num(v)?,
    "rs-db1-sectors" => progress(l).rs_db1_sectors = num(v)?,
    "ov-start-sector" => progress(l).ov_start_sector = num(v)?,
    "ov-stop-sector" => progress(l).ov_stop_sector = num(v)?,
    "ov-position" => progress(l).ov_position = num(v)?,
    "ov-left" => progress(l).ov_left = num(v)?,
    "ov-skipped" => progress(l).ov_skipped = num(v)?,
    "rs-failed" => progress(l).rs_failed = num(v)?,
    "rs-same-csum" => progress(l).rs_same_csum = num(v)?,
    "want" => if let Some(x) = statistic(v) { progress(l).want = Some(x) },
    "dbdt" => if let Some(x) = statistic(v) { progress(l).dbdt = Some(x) },
    "dbdt0" => if let Some(x) = statistic(v) { progress(l).dbdt0 = Some(x) },
    "dbdt1" => if let Some(x) = statistic(v) { progress(l).dbdt1 = Some(x) },
    "eta" => if let Some(x) = statistic::<Eta>(v) { progress(l).eta = Some(x) },
});

/// Reads a peer-device line into `line` (a fresh default).
pub(crate) fn fill_peer_device(
    line: &mut PeerDeviceLine,
    tokens: Scanner,
    u: &mut UnknownValues,
) -> Result<(), ParseError> {
    let seen = fill(line, tokens, u)?;
    require::<PeerDeviceLine>(seen, "peer-device", "peer-node-id")?;
    require::<PeerDeviceLine>(seen, "peer-device", "conn-name")?;
    require::<PeerDeviceLine>(seen, "peer-device", "volume")
}

keys!(PathLine, |l, v, _u| unknown: l.unknown, {
    "name" => set(&mut l.name, v)?,
    "peer-node-id" => l.peer_node_id = id(v)?,
    "conn-name" => set(&mut l.conn_name, v)?,
    "local" => l.local = address(v)?,
    "peer" => l.peer = address(v)?,
    "established" => l.established = boolean(v)?,
});

/// A path line before its keys are read: the endpoints are placeholders until `local` and
/// `peer` (both required) are.
pub(crate) fn empty_path() -> PathLine {
    let nowhere = || Address {
        family: AddressFamily::Ipv4,
        host: String::new(),
        port: 0,
    };
    PathLine {
        name: String::new(),
        peer_node_id: 0,
        conn_name: String::new(),
        local: nowhere(),
        peer: nowhere(),
        established: None,
        unknown: Vec::new(),
    }
}

/// Reads a path line into `line` (from [`empty_path`]).
pub(crate) fn fill_path(
    line: &mut PathLine,
    tokens: Scanner,
    u: &mut UnknownValues,
) -> Result<(), ParseError> {
    let seen = fill(line, tokens, u)?;
    for key in ["peer-node-id", "conn-name", "local", "peer"] {
        require::<PathLine>(seen, "path", key)?;
    }
    Ok(())
}

keys!(HelperLine, |l, v, _u| unknown: l.unknown, {
    "name" => set(&mut l.name, v)?,
    "peer-node-id" => l.peer_node_id = num(v)?,
    "conn-name" => l.conn_name = Some(no_control(v)?.to_string()),
    "local" => l.local = Some(address(v)?),
    "peer" => l.peer = Some(address(v)?),
    "volume" => l.volume = num(v)?,
    "minor" => l.minor = num(v)?,
    "helper" => l.helper = no_control(v)?.to_string(),
    "status" => l.status = num(v)?,
});

pub(crate) fn parse_helper(phase: HelperPhase, tokens: Scanner) -> Result<HelperLine, ParseError> {
    let mut line = HelperLine {
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
    };
    fill(&mut line, tokens, &mut Vec::new())?;
    if line.name.is_empty() {
        return Err(missing("helper", "name"));
    }
    if line.helper.is_empty() {
        return Err(missing("helper", "helper"));
    }
    Ok(line)
}

fn missing(kind: &str, key: &'static str) -> ParseError {
    ParseError {
        token: kind.to_string(),
        problem: Problem::MissingKey(key),
    }
}

struct RenameFields {
    name: String,
    new_name: String,
    unknown: UnknownKeys,
}

keys!(RenameFields, |f, v, _u| unknown: f.unknown, {
    "name" => set(&mut f.name, v)?,
    "new_name" => set(&mut f.new_name, v)?,
});

pub(crate) fn parse_rename(tokens: Scanner) -> Result<Event, ParseError> {
    let mut f = RenameFields {
        name: String::new(),
        new_name: String::new(),
        unknown: Vec::new(),
    };
    fill(&mut f, tokens, &mut Vec::new())?;
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
        assert!(unique(DeviceLine::KEYS));
        assert!(unique(ConnectionLine::KEYS));
        assert!(unique(PeerDeviceLine::KEYS));
        assert!(unique(PathLine::KEYS));
        assert!(unique(HelperLine::KEYS));
        assert!(unique(RenameFields::KEYS));
    }
}
