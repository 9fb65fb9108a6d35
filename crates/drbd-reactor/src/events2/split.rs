//! Parsing one read on two threads. Parsing is two thirds of the daemon's work under a flood
//! of lines (every plugin on), and one reader thread doing all of it bound the whole process
//! to the speed of one core while the second idled. So the reader cuts the whole lines of a
//! big read in two at a newline, gives the second part to a helper thread, parses the first
//! part itself, hands its own lines to the core, then the helper's: the core sees every line
//! in stream order, numbered as a one-thread parse numbers them.
//!
//! Must never: reorder lines, number them differently from a one-thread parse, lose a line
//! when the helper is gone (the reader then parses the part itself), or block the reader's
//! runtime thread (the reader awaits the helper's answer).

use super::lines::{BatchPool, Lines, Reporting, BATCH};
use drbd::Line;
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Reads with fewer bytes of whole lines than this are parsed by the reader alone (handing a
/// few lines over costs more than parsing them).
pub const SPLIT_MIN_BYTES: usize = 8 * 1024;

/// The lines of one part, parsed.
pub struct Parsed {
    /// Batches of at most [`BATCH`] lines, in order.
    pub batches: Vec<Vec<Line>>,
    /// The number of the last line of the part.
    pub line_no: u64,
    pub dump_complete: bool,
    /// The part's bytes, for the next part to reuse.
    text: Vec<u8>,
}

struct Job {
    text: Vec<u8>,
    ascii: bool,
    /// The number of the line before the part's first line.
    after: u64,
    answer: oneshot::Sender<Parsed>,
}

/// The helper thread of one child's reader; it ends when this is dropped.
pub struct SplitParser {
    jobs: mpsc::Sender<Job>,
    spare: Vec<u8>,
}

impl SplitParser {
    /// Starts the helper; None if no thread can be started (the reader then parses alone).
    pub fn start(pool: Arc<BatchPool>, reporting: Arc<Reporting>) -> Option<SplitParser> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("events2-parse".into())
            .spawn(move || {
                for job in rx {
                    let parsed = parse_part(&pool, &reporting, job.text, job.ascii, job.after);
                    // The reader may be gone (stopped); nothing to do then.
                    let _ = job.answer.send(parsed);
                }
            });
        match spawned {
            Ok(_) => Some(SplitParser {
                jobs,
                spare: Vec::new(),
            }),
            Err(err) => {
                log::warn!(target: super::TARGET, "cannot start the second parser thread ({err}); parsing on one thread");
                None
            }
        }
    }

    /// Hands `part` (whole lines, each ending with a newline) to the helper; its first line
    /// is line `after + 1`. The answer is None if the helper is gone: parse `part` yourself.
    pub fn submit(&mut self, part: &[u8], ascii: bool, after: u64) -> oneshot::Receiver<Parsed> {
        let mut text = std::mem::take(&mut self.spare);
        text.clear();
        text.extend_from_slice(part);
        let (answer, receiver) = oneshot::channel();
        // A failed send drops `answer`: the receiver then reports the helper gone.
        let _ = self.jobs.send(Job {
            text,
            ascii,
            after,
            answer,
        });
        receiver
    }

    /// Keeps a finished part's buffer for the next part.
    pub fn recycle(&mut self, parsed: &mut Parsed) {
        self.spare = std::mem::take(&mut parsed.text);
    }
}

/// Parses `text` (whole lines) as the reader would, numbering from `after + 1`.
pub fn parse_part(
    pool: &BatchPool,
    reporting: &Reporting,
    text: Vec<u8>,
    ascii: bool,
    after: u64,
) -> Parsed {
    let mut lines = Lines::numbered_after(pool, reporting, after);
    let mut batches = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', &text) {
        lines.line(&text[start..end], ascii);
        start = end + 1;
        if lines.batch.len() >= BATCH {
            batches.push(lines.batch.take(pool));
        }
    }
    if lines.batch.len() > 0 {
        batches.push(lines.batch.take(pool));
    }
    Parsed {
        batches,
        line_no: lines.line_no,
        dump_complete: lines.dump_complete,
        text,
    }
}

/// Where to cut `whole` (whole lines, each ending with a newline) in two parts of about equal
/// size: just after the first newline at or past the middle. The second part may be empty.
pub fn cut_point(whole: &[u8]) -> usize {
    let mid = whole.len() / 2;
    memchr::memchr(b'\n', &whole[mid..]).map_or(whole.len(), |i| mid + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::DaemonMetrics;

    #[test]
    fn the_cut_falls_just_after_a_newline_near_the_middle() {
        let whole = b"aaaa\nbb\ncccccc\n";
        let cut = cut_point(whole);
        assert_eq!(&whole[..cut], b"aaaa\nbb\n");
        assert_eq!(
            cut_point(b"x\n"),
            2,
            "one line: all of it in the first part"
        );
    }

    #[tokio::test]
    async fn the_helper_numbers_its_lines_after_the_readers_and_reports_in_order() {
        let pool = Arc::new(BatchPool::default());
        let metrics = Arc::new(DaemonMetrics::detached());
        let reporting = Arc::new(Reporting::new(Arc::clone(&metrics)));
        let mut split = SplitParser::start(Arc::clone(&pool), reporting).unwrap();
        let mut text = String::new();
        for i in 0..600 {
            text.push_str(&format!("exists resource name:r{i} role:Secondary\n"));
        }
        text.push_str("exists resource role:Secondary\nexists -\n");
        let mut parsed = split.submit(text.as_bytes(), true, 41).await.unwrap();
        assert_eq!(parsed.line_no, 41 + 602);
        assert!(parsed.dump_complete);
        let sizes: Vec<usize> = parsed.batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [256, 256, 89], "batches of at most BATCH lines");
        let names: Vec<String> = parsed
            .batches
            .iter()
            .flatten()
            .filter_map(|l| match &l.event {
                drbd::Event::Object { object, .. } => Some(object.resource_name().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(names.len(), 600);
        assert!(
            names.iter().enumerate().all(|(i, n)| *n == format!("r{i}")),
            "in order"
        );
        assert_eq!(
            metrics
                .lines_rejected
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        split.recycle(&mut parsed);
        assert!(
            split.spare.capacity() >= text.len(),
            "the buffer is kept for the next part"
        );
    }
}
