//! Running one agent call: `$AGENT <action>` directly (no shell) in its own process group,
//! stdin from /dev/null, stdout and stderr to the journal line by line, killed with its whole
//! group at the call's timeout (counted in awake time: a frozen service keeps its call).
//!
//! Edge module, built on `drbd-reactor-process`. It must never wait for ever: not for the
//! agent (timeout) and not for its output (a daemon the agent started may hold the pipe open;
//! its lines keep being forwarded in the background, the call returns after a short grace).

use crate::awake::{AwakeClock, TICK};
use crate::ocf::{agent_environment, call_environment, Call, Ending};
use drbd_reactor_process::group::Options;
use drbd_reactor_process::{read_lines, spawn_group, LineLimit, Waited};
use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::time::MissedTickBehavior;

/// How long output may trail the agent's exit before the call returns without it.
pub(crate) const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// What is kept of a call's output: lines up to 4 KiB, at most 2000 lines per stream.
const OUTPUT_LIMIT: LineLimit = LineLimit {
    max_line_bytes: 4096,
    max_lines: Some(2000),
};

/// An OCF agent; a scripted fake in tests.
pub trait Agent {
    fn call(&mut self, call: Call, timeout: Duration) -> impl Future<Output = Ending>;
}

/// The agent executable named by `AGENT`.
pub struct ProcessAgent {
    pub path: PathBuf,
    /// `<agent>:<instance>`, the prefix of every forwarded line.
    pub label: String,
    /// The monitor interval, passed to `monitor` calls.
    pub monitor_interval: Duration,
}

impl Agent for ProcessAgent {
    async fn call(&mut self, call: Call, timeout: Duration) -> Ending {
        let changes = call_environment(call, timeout, self.monitor_interval);
        let mut cmd = Command::new(&self.path);
        cmd.arg(call.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_clear()
            .envs(agent_environment(std::env::vars_os(), &changes));
        let options = Options {
            die_with_parent: true,
            kill_group_on_drop: false,
        };
        let mut child = match spawn_group(&mut cmd, options) {
            Ok(child) => child,
            Err(e) => return Ending::NotRun(format!("{}: {e}", self.path.display())),
        };
        let mut readers = Vec::new();
        for (stream, pipe) in [
            ("stdout", child.take_stdout().map(box_reader)),
            ("stderr", child.take_stderr().map(box_reader)),
        ] {
            let Some(pipe) = pipe else { continue };
            let prefix = format!("{} {} {stream}:", self.label, call.as_str());
            readers.push(tokio::spawn(async move {
                let mut forwarded = 0;
                let stats = read_lines(pipe, OUTPUT_LIMIT, |line| {
                    log::info!("{prefix} {line}");
                    forwarded += 1;
                    // A daemon the agent started may hold the pipe for days: say it now.
                    if Some(forwarded) == OUTPUT_LIMIT.max_lines {
                        log::warn!("{prefix} {forwarded} lines forwarded; any further output of this call is dropped");
                    }
                })
                .await;
                if stats.lines_dropped > 0 || stats.lines_truncated > 0 {
                    log::warn!(
                        "{prefix} output capped: {} lines dropped, {} lines cut, {} bytes dropped",
                        stats.lines_dropped,
                        stats.lines_truncated,
                        stats.bytes_dropped
                    );
                }
            }));
        }
        // The timeout counts awake time (a frozen service keeps its call, see `awake`).
        let began = tokio::time::Instant::now();
        let mut clock = AwakeClock::new(timeout, began);
        let mut ticks = tokio::time::interval_at(began + TICK, TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let waited = loop {
            tokio::select! {
                // cancel safe: a wait dropped at a tick loses nothing
                status = child.wait() => break status.map(Waited::Exited),
                // The tick's own instant is when it was due; after a freeze that is long
                // past, and the gap counts from the clock.
                _ = ticks.tick() => {
                    if clock.tick(tokio::time::Instant::now()) {
                        // kills the group, reaps the leader (unless it exited just now)
                        break child.wait_timeout(Some(Duration::ZERO)).await;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(OUTPUT_GRACE, async {
            for reader in readers {
                let _ = reader.await;
            }
        })
        .await;
        match waited {
            Err(e) => Ending::NotRun(format!("waiting for the agent: {e}")),
            Ok(Waited::TimedOut) => Ending::TimedOut(timeout),
            Ok(Waited::Exited(status)) => match (status.code(), status.signal()) {
                (Some(code), _) => Ending::Exited(code),
                (None, Some(signal)) => Ending::Signalled(signal),
                (None, None) => Ending::NotRun(format!("unexpected wait status {status}")),
            },
        }
    }
}

fn box_reader<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    r: R,
) -> Box<dyn tokio::io::AsyncRead + Unpin + Send> {
    Box::new(r)
}
