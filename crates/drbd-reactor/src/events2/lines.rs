//! From bytes read off drbdsetup to parsed lines in recycled batches: assembling lines across
//! reads (with a cap on their length), parsing, and reporting what cannot be used — rejected
//! lines (each at debug, a rate-limited warning), unknown verbs and kinds (a warning once per
//! kind of line), lost kernel notifications (`- skipped`, always a warning) — and counting it.
//!
//! Must never: hold more than [`MAX_LINE`] bytes of one line, let a bad line stop the stream,
//! or flood the log (one warning per [`WARN_PERIOD`] for rejected lines, the rest counted).

use crate::metrics::DaemonMetrics;
use drbd::{Event, Line};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::TARGET;

/// Lines per batch handed to the core at most (about 200 KiB of a dump; a whole read of a
/// dump fits): a burst costs the core one wake-up and the plugins one queue entry per read
/// (batches of 256 split every 64 KiB read in two: the 10k-resource dump took 47 ms instead
/// of 40).
pub const BATCH: usize = 1024;
/// Batches in flight between the reader and the core: with the one being filled and the one
/// being applied, at most 4k lines exist at once. Four in flight were no faster with full
/// batches from wide reads and kept 0.5-1 MB more resident (a 10k dump, 14 alternated runs:
/// 32 vs 36 ms, 25.4 vs 25.9 MB; one in flight: 36 ms).
pub const IN_FLIGHT: usize = 2;
/// The longest line kept: far above any real line (a resource with 32 peers and volumes is a
/// few KiB); longer ones are discarded up to their newline and counted.
pub const MAX_LINE: usize = 1 << 20;
/// At most one warning about rejected lines per period; the others are counted in it.
pub const WARN_PERIOD: Duration = Duration::from_secs(10);
/// Kinds of unknown lines remembered for warn-once (then: counted only).
const SEEN_MAX: usize = 64;

/// What the reader keeps across drbdsetup children, for the daemon's life: the batches and
/// what has been reported.
///
/// Batches are handed back by the core once applied, with what the state did not take from
/// their lines. The reader parses into those lines again (reusing their name buffers) and
/// drops the rest itself, so lines are allocated rarely and freed on the thread that
/// allocated them (freeing on another thread was the reader's largest cost after parsing,
/// even with mimalloc).
///
/// The reports ([`Reported`]) live here, not with a child's [`Lines`]: kept per child, every
/// restart of drbdsetup (a dump each time) repeated the warnings about the same unknown
/// kernel values and kinds of lines, and started a new rejected-line period.
#[derive(Debug, Default)]
pub struct BatchPool {
    batches: Mutex<Vec<Vec<Line>>>,
    reported: Mutex<Reported>,
}

impl BatchPool {
    const KEEP: usize = 8;

    /// A batch for the reader to parse into: its lines are old ones, to be overwritten.
    pub fn take(&self) -> Vec<Line> {
        let mut pool = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        pool.pop().unwrap_or_else(|| Vec::with_capacity(BATCH))
    }

    /// Returns an applied batch.
    pub fn give(&self, batch: Vec<Line>) {
        let mut pool = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < Self::KEEP {
            pool.push(batch);
        }
    }

    /// What has been reported so far (taken only for a line that is reported on: rare).
    fn reported(&self) -> std::sync::MutexGuard<'_, Reported> {
        self.reported.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the reader has warned about, across children: one warning per [`WARN_PERIOD`] for
/// rejected lines, one per kind of unknown line and one per unknown key and value.
#[derive(Debug)]
pub(super) struct Reported {
    rejected_warnings: RateLimit,
    /// (verb, kind) of unknown lines already warned about.
    seen_unknown: BTreeSet<(String, String)>,
    /// (key, value) pairs of values this version does not know, already warned about.
    seen_values: drbd::SeenUnknowns,
}

impl Default for Reported {
    fn default() -> Self {
        Reported {
            rejected_warnings: RateLimit::new(WARN_PERIOD),
            seen_unknown: BTreeSet::new(),
            seen_values: drbd::SeenUnknowns::default(),
        }
    }
}

/// The lines parsed so far into a batch from the pool.
pub(super) struct Filling {
    batch: Vec<Line>,
    filled: usize,
}

impl Filling {
    pub(super) fn new(pool: &BatchPool) -> Self {
        Filling {
            batch: pool.take(),
            filled: 0,
        }
    }

    /// Parses `text` into the next line of the batch.
    fn parse(&mut self, text: &str) -> Result<&Line, drbd::ParseError> {
        if let Some(line) = self.batch.get_mut(self.filled) {
            drbd::parse_line_into(text, line)?;
        } else {
            self.batch.push(drbd::parse_line(text)?);
        }
        self.filled += 1;
        Ok(&self.batch[self.filled - 1])
    }

    /// Takes the last parsed line back out of the batch (it is not for the core).
    fn unparse(&mut self) {
        self.filled -= 1;
    }

    pub(super) fn len(&self) -> usize {
        self.filled
    }

    /// The parsed lines, and a new batch to fill.
    pub(super) fn take(&mut self, pool: &BatchPool) -> Vec<Line> {
        let mut full = std::mem::replace(&mut self.batch, pool.take());
        full.truncate(self.filled);
        self.filled = 0;
        full
    }
}

/// At most one event per period; how many were held back since the last one. Pure.
#[derive(Debug)]
pub struct RateLimit {
    period: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl RateLimit {
    pub fn new(period: Duration) -> Self {
        RateLimit {
            period,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(n)`: report now, `n` earlier events were held back; `None`: hold this one back.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.period)
        {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// Assembles lines from reads: a line cut by a read is carried over, a line longer than the
/// cap is dropped up to its newline. Pure.
#[derive(Debug, Default)]
pub struct Assembler {
    carry: Vec<u8>,
    /// Inside a line that was too long: drop until its newline.
    discarding: bool,
    /// The carried line was handed out and must be cleared.
    handed_out: bool,
}

/// What one newline (or the end of the stream) completes.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A whole line; `true` if it is known to hold only ASCII.
    Line(&'a [u8], bool),
    /// The end of a line that was too long (already reported).
    Dropped,
}

impl Assembler {
    fn clear_handed_out(&mut self) {
        if self.handed_out {
            self.carry.clear();
            self.handed_out = false;
        }
    }

    /// `part` ends at a newline.
    pub fn line_end<'a>(&'a mut self, part: &'a [u8], ascii: bool) -> Result<Piece<'a>, usize> {
        self.clear_handed_out();
        if std::mem::take(&mut self.discarding) {
            return Ok(Piece::Dropped);
        }
        if self.carry.len() + part.len() > MAX_LINE {
            let n = self.carry.len() + part.len();
            self.carry.clear();
            return Err(n);
        }
        if self.carry.is_empty() {
            return Ok(Piece::Line(part, ascii));
        }
        self.carry.extend_from_slice(part);
        self.handed_out = true;
        Ok(Piece::Line(&self.carry, false))
    }

    /// `part` is the start of a line the read cut off. `Err(n)`: the line just became too
    /// long (n bytes so far); the rest of it will be dropped.
    pub fn cut(&mut self, part: &[u8]) -> Result<(), usize> {
        self.clear_handed_out();
        if self.discarding || part.is_empty() {
            return Ok(());
        }
        if self.carry.len() + part.len() > MAX_LINE {
            let n = self.carry.len() + part.len();
            self.carry = Vec::new();
            self.discarding = true;
            return Err(n);
        }
        self.carry.extend_from_slice(part);
        Ok(())
    }

    /// The stream ended: a last line without newline still counts.
    pub fn finish(&mut self) -> Option<&[u8]> {
        self.clear_handed_out();
        (!self.carry.is_empty() && !self.discarding).then_some(&self.carry[..])
    }
}

/// Turns the lines of one child into parsed lines, counting them; what is not for the core is
/// reported (once for the daemon, see [`Reported`]) and left out of the batch.
pub(super) struct Lines<'a> {
    pub(super) batch: Filling,
    pub(super) line_no: u64,
    pub(super) dump_complete: bool,
    metrics: &'a DaemonMetrics,
    /// The daemon's pool: it holds what has been reported.
    pool: &'a BatchPool,
}

impl<'a> Lines<'a> {
    pub(super) fn new(pool: &'a BatchPool, metrics: &'a DaemonMetrics) -> Self {
        Lines {
            batch: Filling::new(pool),
            line_no: 0,
            dump_complete: false,
            metrics,
            pool,
        }
    }

    fn reject(&mut self, why: std::fmt::Arguments<'_>, text: &str) {
        self.metrics.lines_rejected.fetch_add(1, Ordering::Relaxed);
        let line_no = self.line_no;
        log::debug!(target: TARGET, "drbdsetup events2 line {line_no}: {why}, skipped: {}", printable(text));
        let mut reported = self.pool.reported();
        if let Some(held_back) = reported.rejected_warnings.allow(Instant::now()) {
            let more = if held_back > 0 {
                format!(" ({held_back} more rejected since the last warning)")
            } else {
                String::new()
            };
            log::warn!(target: TARGET, "drbdsetup events2 line {line_no}: {why}, skipped{more}; every rejected line is logged at debug level and counted in drbdreactor_events_rejected_total");
        }
    }

    /// A line that went past [`MAX_LINE`] (n bytes when noticed); the rest is dropped.
    pub(super) fn too_long(&mut self, n: usize) {
        self.line_no += 1;
        self.reject(
            format_args!("longer than {MAX_LINE} bytes ({n} so far), discarded up to its newline"),
            "(not shown)",
        );
    }

    /// One line; `ascii` if it is known to hold only ASCII bytes.
    pub(super) fn line(&mut self, bytes: &[u8], ascii: bool) {
        self.line_no += 1;
        let text = if ascii {
            debug_assert!(bytes.is_ascii());
            // SAFETY: ASCII bytes are valid UTF-8.
            Ok(trim_ascii_line(unsafe {
                std::str::from_utf8_unchecked(bytes)
            }))
        } else {
            std::str::from_utf8(bytes).map(str::trim)
        };
        let text = match text {
            Err(err) => {
                let lossy = String::from_utf8_lossy(bytes);
                return self.reject(format_args!("not UTF-8 ({err})"), lossy.trim());
            }
            Ok(text) => text,
        };
        if text.is_empty() {
            return;
        }
        let line = match self.batch.parse(text) {
            Ok(line) => line,
            Err(err) => return self.reject(format_args!("{err}"), text),
        };
        if !line.unknown_values.is_empty() {
            // The line and its object are kept; the value is stored as unknown.
            let n = line.unknown_values.len() as u64;
            self.metrics.unknown_values.fetch_add(n, Ordering::Relaxed);
            let mut reported = self.pool.reported();
            for (key, value) in reported.seen_values.news(&line.unknown_values) {
                log::warn!(target: TARGET, "drbdsetup events2 line {}: '{key}:{value}' is not a value this version knows; kept as unknown (counted in drbdreactor_events_unknown_values_total, warned once per key and value)", self.line_no);
            }
        }
        let event = &line.event;
        match event {
            Event::EndOfDump => self.dump_complete = true,
            Event::Skipped(n) => {
                let n = *n;
                self.batch.unparse();
                // Saturating: a wrapped counter would read as a reset to Prometheus.
                let _ = self.metrics.notifications_skipped.fetch_update(
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                    |total| Some(total.saturating_add(n)),
                );
                log::warn!(target: TARGET, "drbdsetup events2 line {}: the kernel lost {n} notifications (- skipped); the state may be stale until the objects change again", self.line_no);
            }
            Event::Unknown { verb, kind } => {
                let key = (verb.clone(), kind.clone());
                self.batch.unparse();
                self.metrics.lines_unknown.fetch_add(1, Ordering::Relaxed);
                log::debug!(target: TARGET, "drbdsetup events2 line {}: unknown line, ignored: {}", self.line_no, printable(text));
                let mut reported = self.pool.reported();
                if reported.seen_unknown.len() < SEEN_MAX && !reported.seen_unknown.contains(&key) {
                    log::warn!(target: TARGET, "drbdsetup events2 line {}: lines '{} {}' are not known to this version and are ignored (counted in drbdreactor_events_unknown_total)", self.line_no, key.0, key.1);
                    reported.seen_unknown.insert(key);
                }
            }
            _ => {}
        }
    }
}

/// An ASCII line without the white space `str::trim` removes around it (in ASCII: tab, line
/// feed, vertical tab, form feed, carriage return and space), byte by byte: `str::trim`
/// decodes characters, and cost a sixth of the reader's work outside parsing.
fn trim_ascii_line(text: &str) -> &str {
    let white = |b: &u8| matches!(b, b'\t'..=b'\r' | b' ');
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| !white(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !white(b))
        .map_or(start, |i| i + 1);
    &text[start..end]
}

/// A line as it may be logged: control characters escaped (a rejected line may hold them,
/// and a log record must not carry them raw), any other line unchanged.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        std::borrow::Cow::Owned(text.escape_debug().to_string())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
#[path = "lines_tests.rs"]
mod tests;
