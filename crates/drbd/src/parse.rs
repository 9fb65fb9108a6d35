//! events2 text → [`Line`]: the grammar of events2 spec §2, tolerant as §2.12 asks.
//!
//! Accepts every format drbdsetup prints: plain, `--timestamps` prefixes, `--color` escape
//! sequences and `--diff` `old->new` values. Must never: panic on any input, allocate per
//! token on the hot path beyond the owned names, or reject a line for an unknown key.

use crate::event::*;
use crate::values::{Address, Eta, Hundredths};
use crate::vocab::parse_bool;
use std::fmt;
use std::str::FromStr;

/// Why a line could not be parsed. Names the offending token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The token that could not be understood (or the kind, for a missing key).
    pub token: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The line is empty or only white space.
    Empty,
    /// A verb without a kind.
    MissingKind,
    /// A token that is not `key:value`.
    NotAPair,
    /// An identifying key is missing.
    MissingKey(&'static str),
    /// A value does not fit its key.
    BadValue { key: String, expected: &'static str },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Empty => write!(f, "empty line"),
            Problem::MissingKind => write!(f, "verb '{}' without a kind", self.token),
            Problem::NotAPair => write!(f, "token '{}' is not key:value", self.token),
            Problem::MissingKey(k) => write!(f, "{} line without key '{}'", self.token, k),
            Problem::BadValue { key, expected } => {
                write!(
                    f,
                    "token '{}': value of '{}' is not {}",
                    self.token, key, expected
                )
            }
        }
    }
}

impl std::error::Error for ParseError {}

fn is_verb(t: &str) -> bool {
    matches!(
        t,
        "exists" | "create" | "change" | "destroy" | "call" | "response" | "rename" | "-"
    )
}

/// One pass over a line: tokens separated by ASCII white space, and for `key:value` tokens
/// the split at the first colon and the new side of a `--diff` `old->new`, found while
/// scanning (this is the hot loop of the daemon).
///
/// ASCII white space as drbdsetup and `str::split_ascii_whitespace` know it.
const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Marks (in the high bit of each byte) the bytes of `w` equal to `b`; the lowest mark is exact.
const fn has_byte(w: u64, b: u8) -> u64 {
    let x = w ^ (LOW * b as u64);
    x.wrapping_sub(LOW) & !x & HIGH
}

/// Marks the bytes of `w` below 0x21 (white space and control bytes); the lowest mark is
/// exact for ASCII, and bytes from 0x80 are never marked.
const fn has_less_than_0x21(w: u64) -> u64 {
    w.wrapping_sub(LOW * 0x21) & !w & HIGH
}

/// The first index from `i` whose byte is below 0x21 or equal to `special`, or the length.
/// Eight bytes at a time: tokens are short, but values such as names and paths are not.
#[inline(always)]
fn find(bytes: &[u8], mut i: usize, special: u8) -> usize {
    while let Some(chunk) = bytes.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let m = has_less_than_0x21(w) | has_byte(w, special);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] >= 0x21 && bytes[i] != special {
        i += 1;
    }
    i
}

#[derive(Clone)]
struct Scanner<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(line: &'a str) -> Self {
        Scanner { line, pos: 0 }
    }

    /// The next token, with the offset of its first ':' and of its last '>' (if any).
    fn scan(&mut self) -> Option<(&'a str, Option<usize>, Option<usize>)> {
        let bytes = self.line.as_bytes();
        let len = bytes.len();
        let mut i = self.pos;
        while i < len && is_space(bytes[i]) {
            i += 1;
        }
        if i == len {
            self.pos = i;
            return None;
        }
        let start = i;
        let (mut colon, mut gt) = (None, None);
        // The key: up to the first ':' or the end of the token.
        loop {
            i = find(bytes, i, b':');
            if i == len || is_space(bytes[i]) {
                break;
            }
            i += 1;
            if bytes[i - 1] == b':' {
                colon = Some(i - 1 - start);
                // The value: up to the end of the token, noting the last '>'.
                loop {
                    i = find(bytes, i, b'>');
                    if i == len || is_space(bytes[i]) {
                        break;
                    }
                    if bytes[i] == b'>' {
                        gt = Some(i - start);
                    }
                    i += 1;
                }
                break;
            }
        }
        self.pos = i;
        Some((&self.line[start..i], colon, gt))
    }

    fn token(&mut self) -> Option<&'a str> {
        self.scan().map(|(t, _, _)| t)
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Result<(&'a str, &'a str), ParseError>;

    /// The next `key:value` pair; a `--diff` value yields its new side.
    fn next(&mut self) -> Option<Self::Item> {
        let (token, colon, gt) = self.scan()?;
        let Some(c) = colon else {
            return Some(Err(ParseError {
                token: token.to_string(),
                problem: Problem::NotAPair,
            }));
        };
        let key = &token[..c];
        let value = match gt {
            Some(g) if g > c + 1 && token.as_bytes()[g - 1] == b'-' => &token[g + 1..],
            _ => &token[c + 1..],
        };
        Some(Ok((key, value)))
    }
}

/// Removes ANSI colour sequences (`ESC [ ... m`) that `--color` wraps around state values,
/// also in the caret notation (`^[[1;31m`) of captures that went through `cat -v`, as the
/// drbd-utils test expectations in the corpus did.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        let after = if let Some(r) = rest.strip_prefix("\x1b[") {
            Some(r)
        } else {
            rest.strip_prefix("^[[")
        };
        match after {
            Some(r) => {
                // Skip parameters up to and including the final letter.
                let end = r
                    .find(|c: char| c.is_ascii_alphabetic())
                    .map_or(r.len(), |i| i + 1);
                rest = &r[end..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Parses one line (with or without its trailing newline).
pub fn parse_line(input: &str) -> Result<Line, ParseError> {
    match parse_clean(input) {
        // `--color` wraps state values in escape sequences, which only vocabulary values can
        // carry; look for them only when a line does not parse as it is.
        Err(_) if input.contains('\x1b') || input.contains("^[[") => {
            parse_clean(&strip_ansi(input))
        }
        parsed => parsed,
    }
}

fn parse_clean(input: &str) -> Result<Line, ParseError> {
    let mut tokens = Scanner::new(input);
    let first = tokens.token().ok_or(ParseError {
        token: String::new(),
        problem: Problem::Empty,
    })?;
    let (timestamp, verb) = if is_verb(first) {
        (None, first)
    } else {
        // A `--timestamps` prefix is followed by a verb; anything else is an unknown verb.
        match tokens.clone().token() {
            Some(v) if is_verb(v) => {
                tokens.token();
                (Some(first.to_string()), v)
            }
            _ => {
                let kind = tokens.token().unwrap_or("").to_string();
                return Ok(Line {
                    timestamp: None,
                    event: Event::Unknown {
                        verb: first.to_string(),
                        kind,
                    },
                });
            }
        }
    };
    let kind = tokens.token().ok_or_else(|| ParseError {
        token: verb.to_string(),
        problem: Problem::MissingKind,
    })?;
    let event = parse_event(verb, kind, tokens)?;
    Ok(Line { timestamp, event })
}

fn parse_event(verb: &str, kind: &str, tokens: Scanner) -> Result<Event, ParseError> {
    let event_type = match verb {
        "exists" if kind == "-" => return Ok(Event::EndOfDump),
        "exists" => EventType::Exists,
        "create" => EventType::Create,
        "change" => EventType::Change,
        "destroy" => EventType::Destroy,
        "-" if kind == "skipped" => return skipped(tokens).map(Event::Skipped),
        "call" | "response" if kind == "helper" => {
            let phase = if verb == "call" {
                HelperPhase::Call
            } else {
                HelperPhase::Response
            };
            return parse_helper(phase, tokens).map(Event::Helper);
        }
        "rename" if kind == "resource" => return parse_rename(tokens),
        _ => {
            return Ok(Event::Unknown {
                verb: verb.to_string(),
                kind: kind.to_string(),
            })
        }
    };
    let object = match kind {
        "resource" => ObjectLine::Resource(fill(ResourceLine::default(), tokens)?),
        "device" => ObjectLine::Device(parse_device(tokens)?),
        "connection" => ObjectLine::Connection(parse_connection(tokens)?),
        "peer-device" => ObjectLine::PeerDevice(parse_peer_device(tokens)?),
        "path" => ObjectLine::Path(parse_path(tokens)?),
        _ => {
            return Ok(Event::Unknown {
                verb: verb.to_string(),
                kind: kind.to_string(),
            })
        }
    };
    if object.resource_name().is_empty() {
        return Err(ParseError {
            token: kind.to_string(),
            problem: Problem::MissingKey("name"),
        });
    }
    Ok(Event::Object { event_type, object })
}

fn skipped(mut tokens: Scanner) -> Result<u64, ParseError> {
    let t = tokens.token().unwrap_or("");
    t.parse().map_err(|_| ParseError {
        token: t.to_string(),
        problem: Problem::BadValue {
            key: "skipped".into(),
            expected: "a count",
        },
    })
}

/// A line's fields: each kind knows its keys.
trait Fields {
    /// Stores a known key; returns `Ok(false)` for a key this kind does not know.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, &'static str>;
    fn unknown(&mut self) -> &mut UnknownKeys;
}

fn fill<F: Fields>(mut fields: F, tokens: Scanner) -> Result<F, ParseError> {
    for pair in tokens {
        let (key, value) = pair?;
        match fields.set(key, value) {
            Ok(true) => {}
            Ok(false) => fields.unknown().push((key.to_string(), value.to_string())),
            Err(expected) => {
                return Err(ParseError {
                    token: format!("{key}:{value}"),
                    problem: Problem::BadValue {
                        key: key.to_string(),
                        expected,
                    },
                })
            }
        }
    }
    Ok(fields)
}

fn num<T: FromStr>(v: &str) -> Result<Option<T>, &'static str> {
    // Reject signs and blanks that `parse` would accept or mis-report.
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("an unsigned integer");
    }
    v.parse()
        .map(Some)
        .map_err(|_| "an unsigned integer in range")
}

fn boolean(v: &str) -> Result<Option<bool>, &'static str> {
    parse_bool(v).map(Some).ok_or("yes or no")
}

fn vocab<T: FromStr>(v: &str, what: &'static str) -> Result<Option<T>, &'static str> {
    v.parse().map(Some).map_err(|_| what)
}

impl Fields for ResourceLine {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        match key {
            "name" => self.name = v.to_string(),
            "role" => self.role = vocab(v, "a role")?,
            "suspended" => self.suspended = vocab(v, "a suspension list")?,
            "force-io-failures" => self.force_io_failures = boolean(v)?,
            "write-ordering" => self.write_ordering = vocab(v, "a write ordering")?,
            "may_promote" => self.may_promote = boolean(v)?,
            "promotion_score" => self.promotion_score = num(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.unknown
    }
}

struct DeviceFields {
    line: DeviceLine,
    volume: Option<u32>,
}

impl Fields for DeviceFields {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        let l = &mut self.line;
        match key {
            "name" => l.name = v.to_string(),
            "volume" => self.volume = num(v)?,
            "minor" => l.minor = num(v)?,
            "backing_dev" => {
                l.backing_dev = Some(match v {
                    "none" => BackingDev::None,
                    "" => return Err("a device path or none"),
                    p => BackingDev::Path(p.to_string()),
                })
            }
            "disk" => l.disk = vocab(v, "a disk state")?,
            "client" => l.client = vocab(v, "yes, no or unknown")?,
            "open" => l.open = vocab(v, "yes, no or unknown")?,
            "quorum" => l.quorum = boolean(v)?,
            "size" => l.size = num(v)?,
            "read" => l.read = num(v)?,
            "written" => l.written = num(v)?,
            "al-writes" => l.al_writes = num(v)?,
            "bm-writes" => l.bm_writes = num(v)?,
            "upper-pending" => l.upper_pending = num(v)?,
            "lower-pending" => l.lower_pending = num(v)?,
            "al-suspended" => l.al_suspended = boolean(v)?,
            "blocked" => l.blocked = vocab(v, "a blocked list")?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.line.unknown
    }
}

fn missing(kind: &str, key: &'static str) -> ParseError {
    ParseError {
        token: kind.to_string(),
        problem: Problem::MissingKey(key),
    }
}

fn parse_device(tokens: Scanner) -> Result<DeviceLine, ParseError> {
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

/// Identity shared by connection, peer-device and path lines.
#[derive(Default)]
struct PeerIdentity {
    name: String,
    peer_node_id: Option<u32>,
    conn_name: Option<String>,
}

impl PeerIdentity {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        match key {
            "name" => self.name = v.to_string(),
            "peer-node-id" => self.peer_node_id = num(v)?,
            "conn-name" => self.conn_name = Some(v.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    }

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

impl Fields for ConnectionFields {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        if self.id.set(key, v)? {
            return Ok(true);
        }
        let l = &mut self.line;
        match key {
            "connection" => l.connection = vocab(v, "a connection state")?,
            "role" => l.role = vocab(v, "a role")?,
            "congested" => l.congested = boolean(v)?,
            "ap-in-flight" => l.ap_in_flight = num(v)?,
            "rs-in-flight" => l.rs_in_flight = num(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.line.unknown
    }
}

fn parse_connection(tokens: Scanner) -> Result<ConnectionLine, ParseError> {
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

/// The progress block of a line that has one (created by `set` before a progress key).
fn progress(l: &mut PeerDeviceLine) -> &mut ResyncProgress {
    l.progress.get_or_insert_with(Box::default)
}

struct PeerDeviceFields {
    id: PeerIdentity,
    volume: Option<u32>,
    line: PeerDeviceLine,
}

impl Fields for PeerDeviceFields {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        if self.id.set(key, v)? {
            return Ok(true);
        }
        let l = &mut self.line;
        let hundredths = |v: &str| -> Result<Option<Hundredths>, &'static str> {
            v.parse().map(Some).map_err(|_| "a decimal with two places")
        };
        match key {
            "volume" => self.volume = num(v)?,
            "replication" => l.replication = vocab(v, "a replication state")?,
            "peer-disk" => l.peer_disk = vocab(v, "a disk state")?,
            "peer-client" => l.peer_client = vocab(v, "yes, no or unknown")?,
            "resync-suspended" => l.resync_suspended = vocab(v, "a resync suspension list")?,
            "received" => l.received = num(v)?,
            "sent" => l.sent = num(v)?,
            "out-of-sync" => l.out_of_sync = num(v)?,
            "pending" => l.pending = num(v)?,
            "unacked" => l.unacked = num(v)?,
            "done" => progress(l).done = hundredths(v)?,
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
            "want" => progress(l).want = hundredths(v)?,
            "dbdt" => progress(l).dbdt = hundredths(v)?,
            "dbdt0" => progress(l).dbdt0 = hundredths(v)?,
            "dbdt1" => progress(l).dbdt1 = hundredths(v)?,
            "eta" => progress(l).eta = Some(v.parse::<Eta>().map_err(|_| "seconds or nan")?),
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.line.unknown
    }
}

fn parse_peer_device(tokens: Scanner) -> Result<PeerDeviceLine, ParseError> {
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

impl Fields for PathFields {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        if self.id.set(key, v)? {
            return Ok(true);
        }
        match key {
            "local" => self.local = vocab(v, "an address")?,
            "peer" => self.peer = vocab(v, "an address")?,
            "established" => self.established = boolean(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.unknown
    }
}

fn parse_path(tokens: Scanner) -> Result<PathLine, ParseError> {
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

struct HelperFields {
    line: HelperLine,
}

impl Fields for HelperFields {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        let l = &mut self.line;
        match key {
            "name" => l.name = v.to_string(),
            "peer-node-id" => l.peer_node_id = num(v)?,
            "conn-name" => l.conn_name = Some(v.to_string()),
            "local" => l.local = vocab(v, "an address")?,
            "peer" => l.peer = vocab(v, "an address")?,
            "volume" => l.volume = num(v)?,
            "minor" => l.minor = num(v)?,
            "helper" => l.helper = v.to_string(),
            "status" => l.status = num(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.line.unknown
    }
}

fn parse_helper(phase: HelperPhase, tokens: Scanner) -> Result<HelperLine, ParseError> {
    let f = fill(
        HelperFields {
            line: HelperLine {
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
        },
        tokens,
    )?;
    if f.line.name.is_empty() {
        return Err(missing("helper", "name"));
    }
    if f.line.helper.is_empty() {
        return Err(missing("helper", "helper"));
    }
    Ok(f.line)
}

struct RenameFields {
    name: String,
    new_name: String,
    unknown: UnknownKeys,
}

impl Fields for RenameFields {
    fn set(&mut self, key: &str, v: &str) -> Result<bool, &'static str> {
        match key {
            "name" => self.name = v.to_string(),
            "new_name" => self.new_name = v.to_string(),
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.unknown
    }
}

fn parse_rename(tokens: Scanner) -> Result<Event, ParseError> {
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
