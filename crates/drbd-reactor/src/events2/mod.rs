//! The `drbdsetup events2 --full --poll` child: spawned through PATH in its own process
//! group with PR_SET_PDEATHSIG, read as bytes line by line, parsed here (not on the core
//! task), handed to the core in batches. `n\n` on its stdin every statistics-poll-interval
//! (0 = never). When it ends or cannot be started the reason (exit status, last stderr
//! lines) goes to the core and it is started again after a capped exponential backoff,
//! reset once a child delivered a complete initial dump and kept its output open for
//! [`HEALTHY_RUN`].
//!
//! Must never: restart because of a bad line (invalid UTF-8 or unparsable lines are logged
//! with their line number and skipped, quirk Q9), busy-loop, or leave the child behind.

mod lines;

pub use lines::{Assembler, BatchPool, Piece, RateLimit, BATCH, IN_FLIGHT, MAX_LINE, WARN_PERIOD};

use crate::metrics::DaemonMetrics;
use drbd::Line;
use drbd_reactor_process::{read_lines, spawn_group, Backoff, GroupChild, LineLimit, Waited};
use lines::Lines;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

pub const TARGET: &str = "drbd_reactor::events";
const STDERR_TAIL: usize = 5;
/// The size asked for the pipe drbdsetup writes into (the kernel's default is 64 KiB, and
/// 1 MiB is what `fs.pipe-max-size` allows an unprivileged process by default). With 64 KiB,
/// drbdsetup blocked and the reader woke up every 330 lines of a dump: a 10k-resource dump
/// with every plugin on cost the daemon about 1,050 context switches instead of 400, 68
/// instead of 60 ms of CPU, and was applied in 42 instead of 38 ms (medians of 20 alternated
/// runs). Lines are still read as soon as they are written: a wider pipe delays nothing.
const PIPE_BYTES: usize = 1 << 20;
/// The most read at once: about 650 lines of a dump, one batch per read. 14 alternated runs of
/// a 10k dump: 256 KiB reads were no faster (full batches of 1,024 lines) and kept 0.6 MB
/// more resident, 96 KiB reads cost a third more context switches; a 1 MiB buffer stays
/// resident in full once a dump filled it.
const READ_BYTES: usize = 128 << 10;

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
    /// How long (from its start to the end of its output) a child that delivered its whole
    /// initial dump must have run to reset the backoff.
    pub healthy_run: Duration,
}

/// A child that dumps and dies within this keeps the backoff growing: a drbdsetup that fails
/// right after each dump is started again at most every 10 s (the cap), not every 100 ms with
/// a full dump and a warning each time; one that lived longer than the original's fixed 2 s
/// retry starts the next one after 100 ms again.
pub const HEALTHY_RUN: Duration = Duration::from_secs(2);

impl ReaderConfig {
    pub fn new(statistics_poll_interval: u64) -> Self {
        ReaderConfig {
            program: "drbdsetup".into(),
            args: ["events2", "--full", "--poll"].map(OsString::from).to_vec(),
            poll_interval: (statistics_poll_interval > 0)
                .then(|| Duration::from_secs(statistics_poll_interval)),
            first_retry: Duration::from_millis(100),
            max_retry: Duration::from_secs(10),
            healthy_run: HEALTHY_RUN,
        }
    }
}

fn spawn(config: &ReaderConfig) -> std::io::Result<GroupChild> {
    let mut cmd = Command::new(&config.program);
    cmd.args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let options = drbd_reactor_process::group::Options {
        die_with_parent: true,
        kill_group_on_drop: true,
    };
    spawn_group(&mut cmd, options)
}

/// Runs children forever; ends only when the core is gone. Abort the task to stop: the
/// child's process group is killed.
pub async fn run(
    config: ReaderConfig,
    tx: mpsc::Sender<ReaderEvent>,
    metrics: Arc<DaemonMetrics>,
    pool: Arc<BatchPool>,
) {
    // Only a child that delivered its whole initial dump and then kept running counts as
    // healthy.
    let mut backoff = Backoff::new(config.first_retry, config.max_retry, Duration::MAX);
    let mut restart = false;
    loop {
        if restart {
            metrics.drbdsetup_restarts.fetch_add(1, Ordering::Relaxed);
        }
        let why = match spawn(&config) {
            Err(err) => format!(
                "cannot start {} {}: {err}",
                config.program.to_string_lossy(),
                args_text(&config)
            ),
            Ok(child) => {
                let started = tokio::time::Instant::now();
                let pid = child.pid();
                if tx
                    .send(ReaderEvent::Started { pid, restart })
                    .await
                    .is_err()
                {
                    return;
                }
                let Some(Followed {
                    why,
                    dump_complete,
                    output_ended,
                }) = follow(child, &config, &tx, &metrics, &pool).await
                else {
                    return;
                };
                // Until its output ended: not the waits for its exit and its stderr after that
                // (a child that closes its output and hangs is not healthy for those 2.5 s).
                if dump_complete && output_ended.duration_since(started) >= config.healthy_run {
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

/// How a child's run ended.
struct Followed {
    why: String,
    dump_complete: bool,
    /// When its stdout ended (before waiting for its exit).
    output_ended: tokio::time::Instant,
}

/// Reads one child until it ends. None if the core is gone.
async fn follow(
    mut child: GroupChild,
    config: &ReaderConfig,
    tx: &mpsc::Sender<ReaderEvent>,
    metrics: &DaemonMetrics,
    pool: &BatchPool,
) -> Option<Followed> {
    let pid = child.pid();
    let stdout = child.take_stdout().expect("stdout is piped");
    let stdin = child.take_stdin().expect("stdin is piped");
    let stderr = child.take_stderr().expect("stderr is piped");

    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_task = tokio::spawn(collect_stderr(stderr, Arc::clone(&tail)));
    let poll_task = tokio::spawn(poll_statistics(stdin, config.poll_interval));

    widen_pipe(&stdout, PIPE_BYTES);
    let mut reader = BufReader::with_capacity(READ_BYTES, stdout);
    let mut lines = Lines::new(pool, metrics);
    // Lines across reads, capped at MAX_LINE.
    let mut assembler = Assembler::default();
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
            match assembler.line_end(&chunk[start..end], ascii) {
                Ok(Piece::Line(bytes, ascii)) => lines.line(bytes, ascii),
                Ok(Piece::Dropped) => {}
                Err(n) => lines.too_long(n),
            }
            start = end + 1;
            if lines.batch.len() >= BATCH {
                send(&mut lines, tx, pool).await?;
            }
        }
        if let Err(n) = assembler.cut(&chunk[start..]) {
            lines.too_long(n);
        }
        let read = chunk.len();
        reader.consume(read);
        send(&mut lines, tx, pool).await?;
    };
    let output_ended = tokio::time::Instant::now();
    // A last line without a newline still counts.
    if let Some(last) = assembler.finish() {
        lines.line(last, false);
    }
    send(&mut lines, tx, pool).await?;
    let (line_no, dump_complete) = (lines.line_no, lines.dump_complete);
    poll_task.abort();
    // stdout is closed; the child is normally gone. Do not wait for ever.
    let status = match child.wait_timeout(Some(Duration::from_secs(2))).await {
        Ok(Waited::Exited(status)) => status.to_string(),
        Ok(Waited::TimedOut) => "it closed its output but did not exit; killed".to_string(),
        Err(err) => format!("cannot wait for it: {err}"),
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
    Some(Followed {
        why,
        dump_complete,
        output_ended,
    })
}

/// Asks for a pipe of `bytes` (see [`PIPE_BYTES`]). A refusal (`fs.pipe-user-pages-soft`
/// reached by an unprivileged user) keeps the pipe as it is: the daemon is slower with it,
/// not wrong.
fn widen_pipe(pipe: &impl std::os::fd::AsFd, bytes: usize) {
    if let Err(err) = rustix::pipe::fcntl_setpipe_size(pipe.as_fd(), bytes) {
        log::debug!(target: TARGET, "keeping the size of drbdsetup's pipe: {err}");
    }
}

/// Logs drbdsetup's stderr at debug level and keeps its last lines for the exit report.
async fn collect_stderr(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let limit = LineLimit {
        max_line_bytes: 4096,
        max_lines: None,
    };
    read_lines(stderr, limit, |line| {
        let line = line.trim();
        log::debug!(target: TARGET, "drbdsetup stderr: {line}");
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    })
    .await;
}

/// Hands the lines parsed so far to the core (nothing if there are none); None if the core
/// is gone.
async fn send(
    lines: &mut Lines<'_>,
    tx: &mpsc::Sender<ReaderEvent>,
    pool: &BatchPool,
) -> Option<()> {
    if lines.batch.len() == 0 {
        return Some(());
    }
    tx.send(ReaderEvent::Lines(lines.batch.take(pool)))
        .await
        .ok()
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
    use drbd::Event;

    #[test]
    fn a_zero_poll_interval_means_no_polling() {
        assert_eq!(ReaderConfig::new(0).poll_interval, None);
        assert_eq!(
            ReaderConfig::new(60).poll_interval,
            Some(Duration::from_secs(60))
        );
    }

    fn script(body: &str) -> (tempfile::TempDir, ReaderConfig) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drbdsetup");
        drbd_reactor_process::write_script(&path, &format!("#!/bin/sh\n{body}\n")).unwrap();
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

    #[test]
    fn the_pipe_from_drbdsetup_is_widened_to_a_mebibyte() {
        let (read, _write) = rustix::pipe::pipe().unwrap();
        widen_pipe(&read, PIPE_BYTES);
        assert_eq!(
            rustix::pipe::fcntl_getpipe_size(&read).ok(),
            Some(PIPE_BYTES)
        );
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
    async fn a_3_mib_line_is_dropped_counted_and_the_next_line_still_parsed() {
        let (_dir, config) = script(
            r"printf 'exists resource name:r0 role:Secondary\n'
head -c 3145728 /dev/zero | tr '\0' x
printf '\nexists resource name:r1 role:Secondary\nexists -\n'",
        );
        let (tx, mut rx) = mpsc::channel(16);
        let metrics = Arc::new(DaemonMetrics::detached());
        let task = tokio::spawn(run(config, tx, Arc::clone(&metrics), Arc::default()));
        let mut lines = Vec::new();
        loop {
            match rx.recv().await.unwrap() {
                ReaderEvent::Lines(l) => lines.extend(l),
                ReaderEvent::Ended { .. } => break,
                ReaderEvent::Started { .. } => {}
            }
        }
        task.abort();
        let names: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            names,
            [
                "exists resource name:r0 role:Secondary",
                "exists resource name:r1 role:Secondary",
                "exists -"
            ]
        );
        assert_eq!(metrics.lines_rejected.load(Ordering::Relaxed), 1);
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

    /// Delays of the next `n` ends of children of `config`.
    async fn retry_delays(config: ReaderConfig, n: usize) -> Vec<Duration> {
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(run(config, tx, Arc::default(), Arc::default()));
        let mut delays = Vec::new();
        while delays.len() < n {
            if let ReaderEvent::Ended { retry_in, .. } = rx.recv().await.unwrap() {
                delays.push(retry_in);
            }
        }
        task.abort();
        delays
    }

    #[tokio::test]
    async fn a_child_that_dies_right_after_each_dump_keeps_the_backoff_growing() {
        let (_dir, mut config) = script("echo 'exists -'");
        config.first_retry = Duration::from_millis(1);
        let ms = Duration::from_millis;
        assert_eq!(
            retry_delays(config, 4).await,
            [ms(1), ms(2), ms(4), ms(8)],
            "a complete dump alone reset the backoff"
        );
    }

    #[tokio::test]
    async fn a_child_that_ran_healthy_after_its_dump_resets_the_backoff() {
        let (_dir, mut config) = script("echo 'exists -'; sleep 0.3");
        config.first_retry = Duration::from_millis(1);
        config.healthy_run = Duration::from_millis(200);
        let ms = Duration::from_millis;
        assert_eq!(retry_delays(config, 3).await, [ms(1), ms(1), ms(1)]);
    }

    #[tokio::test]
    async fn a_child_that_runs_long_without_completing_its_dump_is_not_healthy() {
        let (_dir, mut config) = script("echo 'exists resource name:r0 role:Secondary'; sleep 0.3");
        config.first_retry = Duration::from_millis(1);
        config.healthy_run = Duration::from_millis(200);
        let ms = Duration::from_millis;
        assert_eq!(retry_delays(config, 3).await, [ms(1), ms(2), ms(4)]);
    }

    #[tokio::test]
    async fn a_child_that_closes_its_output_after_the_dump_and_hangs_is_not_healthy() {
        // Lives 1.3 s after closing stdout and stderr (the reader waits up to 2 s for its
        // exit): counted from its start to its exit it would pass for healthy.
        let (_dir, mut config) = script("echo 'exists -'; exec >&- 2>&-; sleep 1.3");
        config.first_retry = Duration::from_millis(1);
        config.healthy_run = Duration::from_secs(1);
        let ms = Duration::from_millis;
        assert_eq!(retry_delays(config, 2).await, [ms(1), ms(2)]);
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
