//! The `drbdsetup events2 --full --poll` child: spawned through PATH in its own process
//! group with PR_SET_PDEATHSIG, read as bytes line by line, parsed here (not on the core
//! task), handed to the core in batches. `n\n` on its stdin every statistics-poll-interval
//! (0 = never). When it ends or cannot be started the reason (exit status, last stderr
//! lines) goes to the core and it is started again after a capped exponential backoff,
//! reset once a child delivered a complete initial dump.
//!
//! Must never: restart because of a bad line (invalid UTF-8 or unparsable lines are logged
//! with their line number and skipped, quirk Q9), busy-loop, or leave the child behind.

use crate::metrics::DaemonMetrics;
use drbd::{Event, Line};
use std::collections::VecDeque;
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub const TARGET: &str = "drbd_reactor::events";
/// Lines per batch handed to the core at most.
pub const BATCH: usize = 256;
const STDERR_TAIL: usize = 5;

/// Batches handed back by the core once applied, with what the state did not take from
/// their lines. The reader parses into those lines again (reusing their name buffers) and
/// drops the rest itself, so lines are allocated rarely and freed on the thread that
/// allocated them (freeing on another thread was the reader's largest cost after parsing,
/// even with mimalloc).
#[derive(Debug, Default)]
pub struct BatchPool(Mutex<Vec<Vec<Line>>>);

impl BatchPool {
    const KEEP: usize = 32;

    /// A batch for the reader to parse into: its lines are old ones, to be overwritten.
    pub fn take(&self) -> Vec<Line> {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pool.pop().unwrap_or_else(|| Vec::with_capacity(BATCH))
    }

    /// Returns an applied batch.
    pub fn give(&self, batch: Vec<Line>) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < Self::KEEP {
            pool.push(batch);
        }
    }
}

/// The lines parsed so far into a batch from the pool.
struct Filling {
    batch: Vec<Line>,
    filled: usize,
}

impl Filling {
    fn new(pool: &BatchPool) -> Self {
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

    fn len(&self) -> usize {
        self.filled
    }

    /// The parsed lines, and a new batch to fill.
    fn take(&mut self, pool: &BatchPool) -> Vec<Line> {
        let mut full = std::mem::replace(&mut self.batch, pool.take());
        full.truncate(self.filled);
        self.filled = 0;
        full
    }
}

/// Turns the lines of one child into parsed lines, counting them; bad ones are logged with
/// their number and skipped.
struct Lines<'a> {
    batch: Filling,
    line_no: u64,
    dump_complete: bool,
    metrics: &'a DaemonMetrics,
}

impl Lines<'_> {
    /// Hands the lines parsed so far to the core (nothing if there are none); None if the
    /// core is gone.
    async fn send(&mut self, tx: &mpsc::Sender<ReaderEvent>, pool: &BatchPool) -> Option<()> {
        if self.batch.len() == 0 {
            return Some(());
        }
        tx.send(ReaderEvent::Lines(self.batch.take(pool)))
            .await
            .ok()
    }

    /// One line; `ascii` if it is known to hold only ASCII bytes.
    fn line(&mut self, bytes: &[u8], ascii: bool) {
        self.line_no += 1;
        let line_no = self.line_no;
        let text = if ascii {
            debug_assert!(bytes.is_ascii());
            // SAFETY: ASCII bytes are valid UTF-8.
            Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
        } else {
            std::str::from_utf8(bytes)
        };
        match text {
            Err(err) => {
                DaemonMetrics::inc(&self.metrics.lines_rejected);
                log::warn!(target: TARGET, "drbdsetup events2 line {line_no}: not UTF-8 ({err}), skipped: {}", String::from_utf8_lossy(bytes).trim());
            }
            Ok(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return;
                }
                match self.batch.parse(text) {
                    Ok(line) => self.dump_complete |= matches!(line.event, Event::EndOfDump),
                    Err(err) => {
                        DaemonMetrics::inc(&self.metrics.lines_rejected);
                        log::warn!(target: TARGET, "drbdsetup events2 line {line_no}: {err}, skipped: {text}");
                    }
                }
            }
        }
    }
}

/// What the reader tells the core, in order.
#[derive(Debug)]
pub enum ReaderEvent {
    /// A child is running; `restart` is false only for the very first one.
    Started { pid: u32, restart: bool },
    /// Parsed lines, in order.
    Lines(Vec<Line>),
    /// The child ended (or could not be started); `why` says how, `retry_in` when the next
    /// attempt is.
    Ended { why: String, retry_in: Duration },
}

#[derive(Debug, Clone)]
pub struct ReaderConfig {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// None = never ask for statistics.
    pub poll_interval: Option<Duration>,
    pub first_retry: Duration,
    pub max_retry: Duration,
}

impl ReaderConfig {
    pub fn new(statistics_poll_interval: u64) -> Self {
        ReaderConfig {
            program: "drbdsetup".into(),
            args: ["events2", "--full", "--poll"].map(OsString::from).to_vec(),
            poll_interval: (statistics_poll_interval > 0)
                .then(|| Duration::from_secs(statistics_poll_interval)),
            first_retry: Duration::from_millis(100),
            max_retry: Duration::from_secs(10),
        }
    }
}

/// Capped exponential backoff.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            next: first,
        }
    }
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Kills the child's whole process group when dropped (daemon shutdown, task abort).
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created for the child.
        unsafe { libc::kill(-self.0, libc::SIGKILL) };
    }
}

fn spawn(config: &ReaderConfig) -> std::io::Result<Child> {
    let mut cmd = Command::new(&config.program);
    cmd.args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Runs children forever; ends only when the core is gone. Abort the task to stop: the
/// child's process group is killed.
pub async fn run(
    config: ReaderConfig,
    tx: mpsc::Sender<ReaderEvent>,
    metrics: Arc<DaemonMetrics>,
    pool: Arc<BatchPool>,
) {
    let mut backoff = Backoff::new(config.first_retry, config.max_retry);
    let mut restart = false;
    loop {
        if restart {
            DaemonMetrics::inc(&metrics.drbdsetup_restarts);
        }
        let why = match spawn(&config) {
            Err(err) => format!(
                "cannot start {} {}: {err}",
                config.program.to_string_lossy(),
                args_text(&config)
            ),
            Ok(child) => {
                let pid = child.id().unwrap_or(0);
                if tx
                    .send(ReaderEvent::Started { pid, restart })
                    .await
                    .is_err()
                {
                    return;
                }
                let Some((why, dump_complete)) = follow(child, &config, &tx, &metrics, &pool).await
                else {
                    return;
                };
                if dump_complete {
                    backoff.reset();
                }
                why
            }
        };
        restart = true;
        let retry_in = backoff.next_delay();
        if tx.send(ReaderEvent::Ended { why, retry_in }).await.is_err() {
            return;
        }
        tokio::time::sleep(retry_in).await;
    }
}

fn args_text(config: &ReaderConfig) -> String {
    config
        .args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads one child until it ends. Returns why it ended and whether it completed its
/// initial dump; None if the core is gone.
async fn follow(
    mut child: Child,
    config: &ReaderConfig,
    tx: &mpsc::Sender<ReaderEvent>,
    metrics: &DaemonMetrics,
    pool: &BatchPool,
) -> Option<(String, bool)> {
    let pid = child.id().unwrap_or(0);
    let _group = GroupGuard(pid as i32);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stdin = child.stdin.take().expect("stdin is piped");
    let stderr = child.stderr.take().expect("stderr is piped");

    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_task = tokio::spawn(collect_stderr(stderr, Arc::clone(&tail)));
    let poll_task = tokio::spawn(poll_statistics(stdin, config.poll_interval));

    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut lines = Lines {
        batch: Filling::new(pool),
        line_no: 0,
        dump_complete: false,
        metrics,
    };
    // The part of a line that a read ended in the middle of.
    let mut carry: Vec<u8> = Vec::new();
    // Whole reads are split into lines in place (no copy, no wait per line); a batch goes to
    // the core when it is full and when everything read so far is parsed.
    let read_error = loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) => break None,
            Ok(chunk) => chunk,
            Err(err) => break Some(err),
        };
        // drbdsetup prints ASCII: one check per read instead of a UTF-8 validation per line.
        let ascii = chunk.is_ascii();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if carry.is_empty() {
                lines.line(&chunk[start..end], ascii);
            } else {
                carry.extend_from_slice(&chunk[start..end]);
                lines.line(&carry, false);
                carry.clear();
            }
            start = end + 1;
            if lines.batch.len() >= BATCH {
                lines.send(tx, pool).await?;
            }
        }
        carry.extend_from_slice(&chunk[start..]);
        let read = chunk.len();
        reader.consume(read);
        lines.send(tx, pool).await?;
    };
    // A last line without a newline still counts.
    if !carry.is_empty() {
        lines.line(&carry, false);
    }
    lines.send(tx, pool).await?;
    let (line_no, dump_complete) = (lines.line_no, lines.dump_complete);
    poll_task.abort();
    // stdout is closed; the child is normally gone. Do not wait for ever.
    let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => status.to_string(),
        Ok(Err(err)) => format!("cannot wait for it: {err}"),
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            "it closed its output but did not exit; killed".to_string()
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), stderr_task).await;
    let mut why = format!("drbdsetup events2 (pid {pid}) ended after {line_no} lines: {status}");
    if let Some(err) = read_error {
        why.push_str(&format!(" (read error: {err})"));
    }
    let tail = tail.lock().unwrap_or_else(|e| e.into_inner());
    if !tail.is_empty() {
        why.push_str("; last stderr lines: ");
        why.push_str(&tail.iter().cloned().collect::<Vec<_>>().join(" | "));
    }
    Some((why, dump_complete))
}

async fn collect_stderr(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match lines.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).trim().to_string();
                log::debug!(target: TARGET, "drbdsetup stderr: {line}");
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    }
}

/// Writes `n\n` every `interval`; keeps stdin open (EOF would end drbdsetup) until aborted.
async fn poll_statistics(mut stdin: tokio::process::ChildStdin, interval: Option<Duration>) {
    let Some(interval) = interval else {
        std::future::pending::<()>().await;
        return;
    };
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(err) = stdin.write_all(b"n\n").await {
            log::debug!(target: TARGET, "could not ask drbdsetup for statistics: {err}");
            std::future::pending::<()>().await;
        }
        let _ = stdin.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let d: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn a_zero_poll_interval_means_no_polling() {
        assert_eq!(ReaderConfig::new(0).poll_interval, None);
        assert_eq!(
            ReaderConfig::new(60).poll_interval,
            Some(Duration::from_secs(60))
        );
    }

    fn script(body: &str) -> (tempfile::TempDir, ReaderConfig) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drbdsetup");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut config = ReaderConfig::new(0);
        config.program = path.into_os_string();
        config.first_retry = Duration::from_millis(10);
        (dir, config)
    }

    async fn collect_until_ended(config: ReaderConfig) -> (Vec<Line>, String) {
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(run(config, tx, Arc::default(), Arc::default()));
        let mut lines = Vec::new();
        loop {
            match rx.recv().await.unwrap() {
                ReaderEvent::Started { restart, .. } => assert!(!restart),
                ReaderEvent::Lines(l) => lines.extend(l),
                ReaderEvent::Ended { why, .. } => {
                    task.abort();
                    return (lines, why);
                }
            }
        }
    }

    #[tokio::test]
    async fn invalid_utf8_and_bad_lines_are_skipped_not_fatal() {
        let (_dir, config) = script(
            r"printf 'exists resource name:r0 role:Secondary\nexists device name:\377\376 volume:0\nexists device name:r0 volume:-1\nexists -\n'
echo oops >&2
exit 3",
        );
        let (lines, why) = collect_until_ended(config).await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(matches!(lines[1].event, Event::EndOfDump));
        assert!(why.contains("ended after 4 lines"), "{why}");
        assert!(why.contains("exit status: 3"), "{why}");
        assert!(why.contains("last stderr lines: oops"), "{why}");
    }

    #[tokio::test]
    async fn a_line_split_across_reads_and_a_last_line_without_newline_are_parsed() {
        let (_dir, config) = script(
            r"printf 'exists resource name:r0 ro'
sleep 0.2
printf 'le:Secondary\nexists device name:r0 volume:0 minor:7\nexists -'",
        );
        let (lines, why) = collect_until_ended(config).await;
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            lines[0].to_string(),
            "exists resource name:r0 role:Secondary"
        );
        assert!(matches!(lines[2].event, Event::EndOfDump));
        assert!(why.contains("ended after 3 lines"), "{why}");
    }

    #[tokio::test]
    async fn a_missing_program_is_reported_and_retried() {
        let mut config = ReaderConfig::new(0);
        config.program = "/nonexistent/drbdsetup".into();
        config.first_retry = Duration::from_millis(1);
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(run(config, tx, Arc::default(), Arc::default()));
        for expected_ms in [1, 2, 4] {
            match rx.recv().await.unwrap() {
                ReaderEvent::Ended { why, retry_in } => {
                    assert!(
                        why.contains("cannot start /nonexistent/drbdsetup events2 --full --poll"),
                        "{why}"
                    );
                    assert_eq!(retry_in, Duration::from_millis(expected_ms));
                }
                other => panic!("{other:?}"),
            }
        }
        task.abort();
    }

    #[tokio::test]
    async fn polling_writes_n_to_stdin() {
        let (dir, mut config) = script("read -r x; echo \"$x\" > \"$(dirname \"$0\")/got\"");
        config.poll_interval = Some(Duration::from_millis(10));
        let (_, why) = collect_until_ended(config).await;
        assert!(why.contains("exit status: 0"), "{why}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("got")).unwrap(),
            "n\n"
        );
    }
}
