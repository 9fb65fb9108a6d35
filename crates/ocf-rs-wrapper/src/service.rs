//! The two service flows: `start-and-monitor` (the unit's main process) and `stop` (its
//! `ExecStopPost=`), written against the [`Agent`] and [`Notifier`] seams and a terminate flag.
//!
//! It must never report a failed or unfinished agent call as success, and never run the agent's
//! `stop` twice for one run: when the main process ran `stop` (on SIGTERM, or before it ends
//! after a failed start or monitor) and its own exit status does not say so, it leaves a note
//! under the run directory keyed by systemd's `INVOCATION_ID`, and `ExecStopPost=` reports
//! that result instead of calling `stop` again.
//!
//! Why the main process stops the agent when it fails: the unit's `KillMode=mixed` makes
//! systemd SIGKILL everything left in the cgroup (the agent's daemons) the moment the main
//! process exits on its own, before `ExecStopPost=` runs; the agent's `stop` must come first.

use crate::agent::{Agent, OUTPUT_GRACE};
use crate::notify::Notifier;
use crate::ocf::{describe_failure, verdict, Call, GENERIC_FAILURE};
use crate::schedule::Schedule;
use crate::settings::Settings;
use drbd_reactor_process::group::REAP_GRACE;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

/// Head room asked of systemd beyond an agent call's own timeout (`EXTEND_TIMEOUT_USEC`), so
/// that the wrapper's timeout, not systemd's, ends a hanging call: after its timeout a call
/// may wait [`REAP_GRACE`] for a killed leader that does not die and [`OUTPUT_GRACE`] for
/// output trailing the exit, and the wrapper needs a moment to report it.
const EXTEND_MARGIN: Duration =
    Duration::from_secs(REAP_GRACE.as_secs() + OUTPUT_GRACE.as_secs() + 3);

/// A stop asked for by SIGTERM or SIGINT, seen two ways: `asked` turns true when the runtime's
/// signal task sees the signal (it wakes the waits); `raised` is set by the signal handler
/// itself. After a freeze the runtime fires an overdue monitor timer before its signal task
/// runs, so only `raised` says in time that the monitor due then must not start.
pub struct StopRequest {
    pub asked: watch::Receiver<bool>,
    pub raised: &'static AtomicBool,
}

impl StopRequest {
    fn is_set(&self) -> bool {
        *self.asked.borrow() || self.raised.load(Ordering::SeqCst)
    }
}

/// `start-and-monitor`. Returns the wrapper's exit status. `terminate` says when a stop was
/// asked for; calls already running finish (each bounded by its timeout), then `stop` runs once.
pub async fn start_and_monitor(
    settings: &Settings,
    agent: &mut impl Agent,
    notifier: &mut impl Notifier,
    mut terminate: StopRequest,
) -> u8 {
    let label = settings.label();
    extend_timeout(notifier, settings.timeouts.start);
    let ending = agent.call(Call::Start, settings.timeouts.start).await;
    if let Err(status) = verdict(&ending) {
        let message = format!("{label},s-a-m,start: {}", describe_failure(&ending));
        log::error!("{message}");
        status_notify(notifier, &format!("STATUS={message}"));
        return stop_before_failing(settings, agent, notifier, status).await;
    }
    if terminate.is_set() {
        log::info!("{label}: asked to stop while starting");
        return stop_in_main(settings, agent, notifier).await;
    }

    let seconds = settings.monitor_interval.as_secs();
    log::info!("{label}: monitoring every {seconds} seconds");
    if let Err(e) = notifier.notify(&format!(
        "READY=1\nSTATUS={label}: monitoring every {seconds} seconds"
    )) {
        log::error!("{label}: could not tell systemd the service is ready: {e}");
        return stop_before_failing(settings, agent, notifier, GENERIC_FAILURE).await;
    }

    let schedule = Schedule {
        interval: settings.monitor_interval,
    };
    let mut next = schedule.first(Instant::now());
    loop {
        // A SIGTERM due at the same instant as the monitor wins: the stop it asks for must
        // not wait for one more monitor, nor fail the unit when that monitor fails. After a
        // freeze both are due at the thaw (see `StopRequest`).
        tokio::select! {
            biased;
            _ = terminate.asked.wait_for(|t| *t) => break,
            _ = sleep_until(next) => {}
        }
        if terminate.is_set() {
            break;
        }
        let began = Instant::now();
        let ending = agent.call(Call::Monitor, settings.timeouts.monitor).await;
        if let Err(status) = verdict(&ending) {
            let message = format!("{label},s-a-m,monitor: {}", describe_failure(&ending));
            if terminate.is_set() {
                // Asked to stop while it ran: the unit is being stopped, not failing.
                log::warn!("{message}; asked to stop meanwhile, so stopping");
                break;
            }
            log::error!("{message}");
            status_notify(notifier, &format!("STATUS={message}"));
            return stop_before_failing(settings, agent, notifier, status).await;
        }
        if terminate.is_set() {
            break;
        }
        next = schedule.next(began, Instant::now());
    }
    stop_in_main(settings, agent, notifier).await
}

/// `stop` as `ExecStopPost=` (or by hand). Returns the wrapper's exit status.
pub async fn stop(settings: &Settings, agent: &mut impl Agent, notifier: &mut impl Notifier) -> u8 {
    let label = settings.label();
    // Taken first, so that no note outlives its service run.
    let note = take_stop_note(settings);
    if settings
        .previous_exit
        .as_ref()
        .is_some_and(|p| p.was_clean())
    {
        return 0;
    }
    match note {
        Some(0) => {
            log::info!(
                "{label}: the agent's stop already ran for this service run, when it failed; not running it a second time"
            );
            0
        }
        Some(status) => {
            log::error!(
                "{label}: the agent's stop already ran for this service run and failed (exit status {status}); not running it a second time"
            );
            status
        }
        None => run_stop(settings, agent, notifier, true).await,
    }
}

/// The service stops on SIGTERM: `stop` here; the exit status is its result.
async fn stop_in_main(
    settings: &Settings,
    agent: &mut impl Agent,
    notifier: &mut impl Notifier,
) -> u8 {
    extend_timeout(notifier, settings.timeouts.stop);
    let status = run_stop(settings, agent, notifier, true).await;
    if status != 0 {
        leave_stop_note(settings, status);
    }
    status
}

/// The service fails with `status` (start or monitor failed, READY lost): the agent's `stop`
/// runs here, while what the agent started still runs (see the module comment), and
/// `ExecStopPost=` finds its result in the note. No `STOPPING=1`: the unit is failing, not
/// being stopped, and `Restart=` applies as before.
async fn stop_before_failing(
    settings: &Settings,
    agent: &mut impl Agent,
    notifier: &mut impl Notifier,
    status: u8,
) -> u8 {
    extend_timeout(notifier, settings.timeouts.stop);
    let stopped = run_stop(settings, agent, notifier, false).await;
    leave_stop_note(settings, stopped);
    status
}

async fn run_stop(
    settings: &Settings,
    agent: &mut impl Agent,
    notifier: &mut impl Notifier,
    stopping: bool,
) -> u8 {
    let label = settings.label();
    log::info!("{label}: about to exec stop");
    let stopping = if stopping { "STOPPING=1\n" } else { "" };
    status_notify(
        notifier,
        &format!("{stopping}STATUS={label}: about to exec stop"),
    );
    let ending = agent.call(Call::Stop, settings.timeouts.stop).await;
    match verdict(&ending) {
        Ok(()) => {
            log::info!("{label}: stopped");
            0
        }
        Err(status) => {
            log::error!("{label},stop: {}", describe_failure(&ending));
            status
        }
    }
}

/// A notification whose loss changes nothing for systemd's view of the unit: warn, go on.
fn status_notify(notifier: &mut impl Notifier, message: &str) {
    if let Err(e) = notifier.notify(message) {
        log::warn!("could not notify systemd ({message:?}): {e}");
    }
}

/// What to ask of systemd's stop timeout when SIGTERM arrives: the call that may be running
/// (start or monitor, bounded by its timeout) plus the `stop` that follows. Without it a
/// start with `start_timeout` above `TimeoutStopSec=` was SIGKILLed by systemd halfway.
pub fn sigterm_extension(settings: &Settings) -> String {
    let running = settings.timeouts.start.max(settings.timeouts.monitor);
    let usec = (running + settings.timeouts.stop + EXTEND_MARGIN).as_micros();
    format!("EXTEND_TIMEOUT_USEC={usec}")
}

fn extend_timeout(notifier: &mut impl Notifier, call_timeout: Duration) {
    let usec = (call_timeout + EXTEND_MARGIN).as_micros();
    status_notify(notifier, &format!("EXTEND_TIMEOUT_USEC={usec}"));
}

fn stop_note(settings: &Settings) -> Option<PathBuf> {
    let id = settings.invocation_id.as_ref()?;
    Some(settings.run_dir.join(format!("{id}.stopped")))
}

fn leave_stop_note(settings: &Settings, status: u8) {
    let Some(path) = stop_note(settings) else {
        return;
    };
    let written = std::fs::create_dir_all(&settings.run_dir)
        .and_then(|()| std::fs::write(&path, format!("{status}\n")));
    if let Err(e) = written {
        log::warn!(
            "could not write {}: {e}; ExecStopPost will run the agent's stop again",
            path.display()
        );
    }
}

fn take_stop_note(settings: &Settings) -> Option<u8> {
    let path = stop_note(settings)?;
    let text = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    Some(text.trim().parse::<u8>().unwrap_or(GENERIC_FAILURE))
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
