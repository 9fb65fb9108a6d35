//! events2 text → [`Line`]: the grammar of events2 spec §2, tolerant as §2.12 asks.
//!
//! Accepts every format drbdsetup prints: plain, `--timestamps` prefixes, `--color` escape
//! sequences and `--diff` `old->new` values. Must never: panic on any input, allocate per
//! token on the hot path beyond the owned names, or reject a line for an unknown key.

use crate::event::*;
use crate::fields::*;
use crate::fresh::{fresh_in_place, fresh_object};
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
    /// A name (resource, connection, address, device path, helper) has a control character.
    ControlCharacter { key: String },
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
            // Escaped: the token holds the control character, which must not reach a log raw.
            Problem::ControlCharacter { key } => write!(
                f,
                "token {:?}: value of '{}' has a control character",
                self.token, key
            ),
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
    while i + 8 <= bytes.len() {
        let w = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("eight bytes"));
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
    /// A value read so far has a C0 control character (not white space): found for free
    /// where the scan stops at bytes below 0x21 anyway; the line is then rejected.
    control: bool,
}

impl<'a> Scanner<'a> {
    fn new(line: &'a str) -> Self {
        Scanner::at(line, 0)
    }

    fn at(line: &'a str, pos: usize) -> Self {
        Scanner {
            line,
            pos,
            control: false,
        }
    }

    /// Fails if a value read had a control character, naming the first such token.
    #[inline(always)]
    pub(crate) fn check_control(&self) -> Result<(), ParseError> {
        if self.control {
            Err(control_error(self.line))
        } else {
            Ok(())
        }
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
                let (end, last_gt, control) = value_end(bytes, i);
                self.control |= control;
                gt = last_gt.map(|g| g - start);
                i = end;
                break;
            }
        }
        self.pos = i;
        Some((&self.line[start..i], colon, gt))
    }

    /// The next token as a whole (the verb and the kind).
    fn token(&mut self) -> Option<&'a str> {
        self.skip_space();
        let bytes = self.line.as_bytes();
        let start = self.pos;
        if start == bytes.len() {
            return None;
        }
        let mut i = start;
        loop {
            i = find(bytes, i, b' ');
            if i == bytes.len() || is_space(bytes[i]) {
                break;
            }
            i += 1;
        }
        self.pos = i;
        Some(&self.line[start..i])
    }

    /// Skips white space up to the next token (or the end of the line).
    #[inline(always)]
    pub(crate) fn skip_space(&mut self) {
        let bytes = self.line.as_bytes();
        while self.pos < bytes.len() && is_space(bytes[self.pos]) {
            self.pos += 1;
        }
    }

    /// The value of the next token if it is `key_colon` (a key with its colon) followed by a
    /// value, and moves past it and the white space after it; otherwise leaves the scanner
    /// where it is. Expects to stand on a token (after [`Scanner::skip_space`]).
    ///
    /// drbdsetup prints keys in a fixed order, so the parser asks for each known key in that
    /// order instead of scanning a token and looking its key up (the daemon's hot path).
    #[inline(always)]
    pub(crate) fn take(&mut self, key_colon: &'static str) -> Option<&'a str> {
        let bytes = self.line.as_bytes();
        let start = self.pos + key_colon.len();
        if start > bytes.len() || bytes[self.pos..start] != *key_colon.as_bytes() {
            return None;
        }
        let (end, gt, control) = value_end(bytes, start);
        self.control |= control;
        self.pos = end;
        self.skip_space();
        Some(diff_new_side(self.line, start, end, gt))
    }

    /// True when every token was read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.line.len()
    }
}

/// The end of a value starting at `i` (the next white space or the end of the line) and the
/// offset of its last '>', and whether it has a control character (below 0x21, not white
/// space: where the scan stops anyway, so ordinary values pay nothing for this).
#[inline(always)]
fn value_end(bytes: &[u8], mut i: usize) -> (usize, Option<usize>, bool) {
    let mut gt = None;
    let mut control = false;
    loop {
        i = find(bytes, i, b'>');
        if i == bytes.len() || is_space(bytes[i]) {
            return (i, gt, control);
        }
        if bytes[i] == b'>' {
            gt = Some(i);
        } else {
            control = true;
        }
        i += 1;
    }
}

/// The error for a line with a control character in a value: names the first such token.
#[cold]
fn control_error(line: &str) -> ParseError {
    let token = line
        .split(|c: char| c.is_ascii_whitespace())
        .find(|t| t.chars().any(|c| c.is_control()))
        .unwrap_or(line);
    let key = token.split_once(':').map_or("", |(k, _)| k);
    ParseError {
        token: token.to_string(),
        problem: Problem::ControlCharacter {
            key: key.to_string(),
        },
    }
}

/// The value `line[start..end]`, or for a `--diff` value `old->new` its new side.
///
/// `start` must follow an ASCII byte (the key's ':'), `end` must be at an ASCII byte (white
/// space) or the end of the line, and `start <= end`; a '>' at `gt` lies between them.
#[inline(always)]
fn diff_new_side(line: &str, start: usize, end: usize, gt: Option<usize>) -> &str {
    let start = match gt {
        Some(g) if g > start && line.as_bytes()[g - 1] == b'-' => g + 1,
        _ => start,
    };
    ascii_bounded(line, start, end)
}

/// `line[start..end]` without the char-boundary checks of indexing (a tenth of the work per
/// value): both ends sit next to ASCII bytes, found by the scanner, so they are boundaries.
#[inline(always)]
fn ascii_bounded(line: &str, start: usize, end: usize) -> &str {
    debug_assert!(start <= end && end <= line.len());
    debug_assert!(line.is_char_boundary(start) && line.is_char_boundary(end));
    // SAFETY: `start <= end <= line.len()` and both are char boundaries: every caller
    // passes a position right after an ASCII byte (':' or '>') and a position at an ASCII
    // byte (below 0x21) or at the end; in valid UTF-8 (a `&str`) a byte below 0x80 is never
    // part of a multi-byte sequence, so the positions next to it are boundaries.
    unsafe { line.get_unchecked(start..end) }
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
    let mut line = Line::new(None, Event::EndOfDump);
    parse_line_into(input, &mut line)?;
    Ok(line)
}

/// Parses one line into `line`, reusing the name buffers of the line it held before (of any
/// kind), so that a reader parsing into the same lines over and over does not allocate a
/// name per line. On an error, `line` holds some unspecified line.
pub fn parse_line_into(input: &str, line: &mut Line) -> Result<(), ParseError> {
    let parsed = parse_clean(input, line);
    // `--color` wraps state values in escape sequences, which only vocabulary values can
    // carry; look for them only when a line does not parse as it is (an escape is a control
    // character) or has a value that is not known (a coloured state is an unknown word until
    // the colour is gone).
    let suspicious = parsed.is_err() || !line.unknown_values.is_empty();
    if suspicious && (input.contains('\x1b') || input.contains("^[[")) {
        return parse_clean(&strip_ansi(input), line);
    }
    parsed
}

/// The verb and kind of a plain object line (`change peer-device ...`) and where its keys
/// start, recognised by their spelling instead of by scanning tokens; None for anything else
/// (timestamps, other verbs and kinds, odd white space), which the general path handles.
#[inline(always)]
fn object_head(input: &str) -> Option<(EventType, &'static str, usize)> {
    let bytes = input.as_bytes();
    let (event_type, verb_end) = match bytes.get(..7)? {
        b"exists " => (EventType::Exists, 7),
        b"change " => (EventType::Change, 7),
        b"create " => (EventType::Create, 7),
        _ if bytes.starts_with(b"destroy ") => (EventType::Destroy, 8),
        _ => return None,
    };
    let rest = &bytes[verb_end..];
    // Each kind with the blank after it, and the kind alone: a static table (no trim, and no
    // array built on the stack per line).
    static KINDS: [(&str, &str); 5] = [
        ("peer-device ", "peer-device"),
        ("device ", "device"),
        ("connection ", "connection"),
        ("path ", "path"),
        ("resource ", "resource"),
    ];
    for &(head, kind) in &KINDS {
        if rest.starts_with(head.as_bytes()) {
            return Some((event_type, kind, verb_end + head.len()));
        }
    }
    None
}

#[inline(always)]
fn parse_clean(input: &str, line: &mut Line) -> Result<(), ParseError> {
    line.unknown_values.clear();
    if let Some((event_type, kind, keys)) = object_head(input) {
        line.timestamp = None;
        let tokens = Scanner::at(input, keys);
        return parse_object(line, event_type, kind, tokens);
    }
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
                let kind = tokens.token().unwrap_or("");
                line.timestamp = None;
                line.event = unknown_event(input, first, kind)?;
                return Ok(());
            }
        }
    };
    line.timestamp = timestamp;
    let kind = tokens.token().ok_or_else(|| ParseError {
        token: verb.to_string(),
        problem: Problem::MissingKind,
    })?;
    let event_type = match verb {
        "exists" if kind == "-" => {
            line.event = Event::EndOfDump;
            return Ok(());
        }
        "exists" => EventType::Exists,
        "create" => EventType::Create,
        "change" => EventType::Change,
        "destroy" => EventType::Destroy,
        _ => {
            line.event = parse_other(verb, kind, tokens)?;
            return Ok(());
        }
    };
    parse_object(line, event_type, kind, tokens)
}

/// Reads the keys of an object line into `line`.
#[inline(always)]
fn parse_object(
    line: &mut Line,
    event_type: EventType,
    kind: &str,
    tokens: Scanner,
) -> Result<(), ParseError> {
    if !fresh_in_place(&mut line.event, event_type, kind) {
        fresh_object(line, event_type, kind);
    }
    let unknown_values = &mut line.unknown_values;
    let Event::Object { object, .. } = &mut line.event else {
        // An unknown kind: `fresh_object` made it an `Event::Unknown`, complete but for the
        // control characters its kind may hold.
        if let Event::Unknown { verb, kind } = &line.event {
            unknown_event(tokens.line, verb, kind)?;
        }
        return Ok(());
    };
    match object {
        ObjectLine::Resource(l) => fill_resource(l, tokens, unknown_values)?,
        ObjectLine::Device(l) => fill_device(l, tokens, unknown_values)?,
        ObjectLine::Connection(l) => fill_connection(l, tokens, unknown_values)?,
        ObjectLine::PeerDevice(l) => fill_peer_device(l, tokens, unknown_values)?,
        ObjectLine::Path(l) => fill_path(l, tokens, unknown_values)?,
    }
    if object.resource_name().is_empty() {
        return Err(ParseError {
            token: kind.to_string(),
            problem: Problem::MissingKey("name"),
        });
    }
    Ok(())
}

/// A line that is not about an object: helper calls and responses, renames, `- skipped`, and
/// verbs or kinds this version does not know.
fn parse_other(verb: &str, kind: &str, tokens: Scanner) -> Result<Event, ParseError> {
    match verb {
        "-" if kind == "skipped" => skipped(tokens).map(Event::Skipped),
        "call" | "response" if kind == "helper" => {
            let phase = if verb == "call" {
                HelperPhase::Call
            } else {
                HelperPhase::Response
            };
            parse_helper(phase, tokens).map(Event::Helper)
        }
        "rename" if kind == "resource" => parse_rename(tokens),
        _ => unknown_event(tokens.line, verb, kind),
    }
}

/// A line of a verb or kind this version does not know; the two are logged, so a control
/// character in them is an error, as in any name.
#[cold]
fn unknown_event(line: &str, verb: &str, kind: &str) -> Result<Event, ParseError> {
    if verb.chars().chain(kind.chars()).any(char::is_control) {
        return Err(control_error(line));
    }
    Ok(Event::Unknown {
        verb: verb.to_string(),
        kind: kind.to_string(),
    })
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
