//! events2 text → [`Line`]: the grammar of events2 spec §2, tolerant as §2.12 asks.
//!
//! Accepts every format drbdsetup prints: plain, `--timestamps` prefixes, `--color` escape
//! sequences and `--diff` `old->new` values. Must never: panic on any input, allocate per
//! token on the hot path beyond the owned names, or reject a line for an unknown key.

use crate::event::*;
use crate::fields::*;
use std::fmt;

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
pub(crate) struct Scanner<'a> {
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
                let (end, last_gt) = value_end(bytes, i);
                gt = last_gt.map(|g| g - start);
                i = end;
                break;
            }
        }
        self.pos = i;
        Some((&self.line[start..i], colon, gt))
    }

    fn token(&mut self) -> Option<&'a str> {
        self.scan().map(|(t, _, _)| t)
    }

    /// The next `key:value` pair like [`Iterator::next`], checking first whether its key is
    /// `expected` (drbdsetup prints keys in a fixed order); true in the result if it was.
    #[inline]
    pub(crate) fn pair(
        &mut self,
        expected: Option<&'static str>,
    ) -> Option<Result<(&'a str, &'a str, bool), ParseError>> {
        let bytes = self.line.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        self.pos = i;
        if let Some(key) = expected {
            let colon = i + key.len();
            if colon < bytes.len() && bytes[colon] == b':' && same(&bytes[i..colon], key.as_bytes())
            {
                let (end, gt) = value_end(bytes, colon + 1);
                self.pos = end;
                let value = diff_new_side(self.line, colon + 1, end, gt);
                return Some(Ok((&self.line[i..colon], value, true)));
            }
        }
        self.next().map(|pair| pair.map(|(k, v)| (k, v, false)))
    }
}

/// `a == b` for short slices of equal length, eight bytes at a time without a `memcmp` call
/// (keys are 2 to 17 bytes long).
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("eight bytes"));
    let (mut a, mut b) = (a, b);
    while a.len() >= 8 {
        if word(&a[..8]) != word(&b[..8]) {
            return false;
        }
        (a, b) = (&a[8..], &b[8..]);
    }
    let mut diff = 0;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// The end of a value starting at `i` (the next white space or the end of the line) and the
/// offset of its last '>'.
#[inline(always)]
fn value_end(bytes: &[u8], mut i: usize) -> (usize, Option<usize>) {
    let mut gt = None;
    loop {
        i = find(bytes, i, b'>');
        if i == bytes.len() || is_space(bytes[i]) {
            return (i, gt);
        }
        if bytes[i] == b'>' {
            gt = Some(i);
        }
        i += 1;
    }
}

/// The value `line[start..end]`, or for a `--diff` value `old->new` its new side.
#[inline(always)]
fn diff_new_side(line: &str, start: usize, end: usize, gt: Option<usize>) -> &str {
    match gt {
        Some(g) if g > start && line.as_bytes()[g - 1] == b'-' => &line[g + 1..end],
        _ => &line[start..end],
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
        Some(Ok((
            &token[..c],
            diff_new_side(token, c + 1, token.len(), gt),
        )))
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
        "resource" => ObjectLine::Resource(parse_resource(tokens)?),
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
