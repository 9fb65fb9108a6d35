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
                write!(f, "token '{}': value of '{}' is not {}", self.token, key, expected)
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

/// Removes ANSI colour sequences (`ESC [ ... m`) that `--color` wraps around state values.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c2 in chars.by_ref() {
                    if c2.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Parses one line (with or without its trailing newline).
pub fn parse_line(input: &str) -> Result<Line, ParseError> {
    if input.contains('\x1b') {
        return parse_clean(&strip_ansi(input));
    }
    parse_clean(input)
}

fn parse_clean(input: &str) -> Result<Line, ParseError> {
    let mut tokens = input.split_ascii_whitespace();
    let first = tokens.next().ok_or(ParseError {
        token: String::new(),
        problem: Problem::Empty,
    })?;
    let (timestamp, verb) = if is_verb(first) {
        (None, first)
    } else {
        // A `--timestamps` prefix is followed by a verb; anything else is an unknown verb.
        let mut peek = tokens.clone();
        match peek.next() {
            Some(v) if is_verb(v) => {
                tokens.next();
                (Some(first.to_string()), v)
            }
            _ => {
                let kind = tokens.next().unwrap_or("").to_string();
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
    let kind = tokens.next().ok_or_else(|| ParseError {
        token: verb.to_string(),
        problem: Problem::MissingKind,
    })?;
    let event = parse_event(verb, kind, tokens)?;
    Ok(Line { timestamp, event })
}

fn parse_event<'a>(
    verb: &str,
    kind: &str,
    tokens: impl Iterator<Item = &'a str>,
) -> Result<Event, ParseError> {
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

fn skipped<'a>(mut tokens: impl Iterator<Item = &'a str>) -> Result<u64, ParseError> {
    let t = tokens.next().unwrap_or("");
    t.parse().map_err(|_| ParseError {
        token: t.to_string(),
        problem: Problem::BadValue {
            key: "skipped".into(),
            expected: "a count",
        },
    })
}

/// Splits `key:value` at the first colon and takes the new side of a `--diff` `old->new`.
fn split_pair(token: &str) -> Result<(&str, &str), ParseError> {
    let (key, value) = token.split_once(':').ok_or_else(|| ParseError {
        token: token.to_string(),
        problem: Problem::NotAPair,
    })?;
    let value = match value.rfind("->") {
        Some(i) => &value[i + 2..],
        None => value,
    };
    Ok((key, value))
}

/// A line's fields: each kind knows its keys.
trait Fields {
    /// Stores a known key; returns `Ok(false)` for a key this kind does not know.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, &'static str>;
    fn unknown(&mut self) -> &mut UnknownKeys;
}

fn fill<'a, F: Fields>(mut fields: F, tokens: impl Iterator<Item = &'a str>) -> Result<F, ParseError> {
    for token in tokens {
        let (key, value) = split_pair(token)?;
        match fields.set(key, value) {
            Ok(true) => {}
            Ok(false) => fields
                .unknown()
                .push((key.to_string(), value.to_string())),
            Err(expected) => {
                return Err(ParseError {
                    token: token.to_string(),
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
    v.parse().map(Some).map_err(|_| "an unsigned integer in range")
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

fn parse_device<'a>(tokens: impl Iterator<Item = &'a str>) -> Result<DeviceLine, ParseError> {
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

fn parse_connection<'a>(
    tokens: impl Iterator<Item = &'a str>,
) -> Result<ConnectionLine, ParseError> {
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
        let p = &mut l.progress;
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
            "done" => p.done = hundredths(v)?,
            "rs-total" => p.rs_total = num(v)?,
            "rs-dt-start-ms" => p.rs_dt_start_ms = num(v)?,
            "rs-paused-ms" => p.rs_paused_ms = num(v)?,
            "rs-dt0-ms" => p.rs_dt0_ms = num(v)?,
            "rs-db0-sectors" => p.rs_db0_sectors = num(v)?,
            "rs-dt1-ms" => p.rs_dt1_ms = num(v)?,
            "rs-db1-sectors" => p.rs_db1_sectors = num(v)?,
            "ov-start-sector" => p.ov_start_sector = num(v)?,
            "ov-stop-sector" => p.ov_stop_sector = num(v)?,
            "ov-position" => p.ov_position = num(v)?,
            "ov-left" => p.ov_left = num(v)?,
            "ov-skipped" => p.ov_skipped = num(v)?,
            "rs-failed" => p.rs_failed = num(v)?,
            "rs-same-csum" => p.rs_same_csum = num(v)?,
            "want" => p.want = hundredths(v)?,
            "dbdt" => p.dbdt = hundredths(v)?,
            "dbdt0" => p.dbdt0 = hundredths(v)?,
            "dbdt1" => p.dbdt1 = hundredths(v)?,
            "eta" => p.eta = Some(v.parse::<Eta>().map_err(|_| "seconds or nan")?),
            _ => return Ok(false),
        }
        Ok(true)
    }
    fn unknown(&mut self) -> &mut UnknownKeys {
        &mut self.line.unknown
    }
}

fn parse_peer_device<'a>(
    tokens: impl Iterator<Item = &'a str>,
) -> Result<PeerDeviceLine, ParseError> {
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

fn parse_path<'a>(tokens: impl Iterator<Item = &'a str>) -> Result<PathLine, ParseError> {
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

fn parse_helper<'a>(
    phase: HelperPhase,
    tokens: impl Iterator<Item = &'a str>,
) -> Result<HelperLine, ParseError> {
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

fn parse_rename<'a>(tokens: impl Iterator<Item = &'a str>) -> Result<Event, ParseError> {
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
