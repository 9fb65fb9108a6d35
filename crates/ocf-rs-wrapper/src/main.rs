//! `ocf-rs-wrapper`: runs an OCF resource agent as the main process of `ocf.rs@.service`
//! (`start-and-monitor`) and stops it from `ExecStopPost=` (`stop`).
//!
//! The thin shell: reads arguments and environment, installs the log sink and the signal
//! handlers, and hands over to `service`. It must never run an agent for `start-and-monitor`
//! before the signal handlers are in place (a SIGTERM to the service must always lead to
//! `stop`). The `stop` action keeps the default SIGTERM: the stop itself being ended (by
//! systemd's stop timeout, or by hand) ends it, and its agent with it.

mod agent;
mod awake;
mod notify;
mod ocf;
mod schedule;
mod service;
mod settings;

use settings::{Action, Settings};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Log lines on stdout as `<LEVEL> [ocf_rs_wrapper] <message>`; with a syslog priority prefix
/// (`<3>`) when stdout is the journal, so errors show as errors there.
struct StdoutLog {
    journal: bool,
}

impl log::Log for StdoutLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let priority = match record.level() {
            log::Level::Error => "<3>",
            log::Level::Warn => "<4>",
            log::Level::Info => "<6>",
            _ => "<7>",
        };
        let prefix = if self.journal { priority } else { "" };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{prefix}{} [ocf_rs_wrapper] {}",
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

/// True if stdout is the stream `JOURNAL_STREAM` (`<device>:<inode>`) names: set by systemd
/// for a unit whose output goes to the journal, inherited (and then wrong) after a redirect.
fn stdout_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/1") {
        Ok(meta) => dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino()),
        // no /proc: trust the variable
        Err(_) => true,
    }
}

fn main() -> ExitCode {
    let journal = stdout_is_journal();
    let _ = log::set_logger(Box::leak(Box::new(StdoutLog { journal })))
        .map(|()| log::set_max_level(log::LevelFilter::Info));

    // Not `env::args`/`env::var`: they panic on, or call missing, what is not UTF-8.
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let Ok(args) = args else {
        eprintln!("Error: an argument is not valid UTF-8");
        return ExitCode::from(1);
    };
    let not_unicode = std::cell::RefCell::new(Vec::new());
    let parsed = settings::parse(&args, |name| match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            not_unicode.borrow_mut().push(name.to_string());
            None
        }
    });
    if let Some(name) = not_unicode.borrow().first() {
        eprintln!("Error: environment variable {name} is not valid UTF-8");
        return ExitCode::from(1);
    }
    let settings = match parsed {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    for warning in &settings.warnings {
        log::warn!("{}: {warning}", settings.label());
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: could not start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(runtime.block_on(run(settings)))
}

async fn run(settings: Settings) -> u8 {
    let socket = std::env::var("NOTIFY_SOCKET").ok();
    let mut notifier = match notify::SdNotify::new(socket.as_deref()) {
        Ok(n) => n,
        Err(e) => {
            log::error!(
                "NOTIFY_SOCKET={} is not a usable address: {e}",
                socket.as_deref().unwrap_or("")
            );
            return 1;
        }
    };
    let mut agent = agent::ProcessAgent {
        path: settings.agent.clone(),
        label: settings.label(),
        monitor_interval: settings.monitor_interval,
    };
    match settings.action {
        Action::Stop => service::stop(&settings, &mut agent, &mut notifier).await,
        Action::StartAndMonitor => {
            let (tx, rx) = watch::channel(false);
            let (mut term, mut int) = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(t), Ok(i)) => (t, i),
                (Err(e), _) | (_, Err(e)) => {
                    log::error!("could not install the SIGTERM/SIGINT handlers: {e}");
                    return 1;
                }
            };
            // Set by the handler itself, before the runtime hands the signal to the task
            // below (see `service::StopRequest`). The action only stores to an atomic, which
            // is async-signal-safe.
            static RAISED: AtomicBool = AtomicBool::new(false);
            for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
                // SAFETY: the action is async-signal-safe (one atomic store).
                let registered = unsafe {
                    signal_hook_registry::register(kind.as_raw_value(), || {
                        RAISED.store(true, Ordering::SeqCst)
                    })
                };
                if let Err(e) = registered {
                    log::error!("could not install the SIGTERM/SIGINT handlers: {e}");
                    return 1;
                }
            }
            let label = settings.label();
            let extension = service::sigterm_extension(&settings);
            // systemd's stop timeout starts with the SIGTERM; the call running then may
            // take its own timeout before the stop begins (and asks for its own).
            let mut stop_notifier = notifier.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = term.recv() => log::info!("{label}: SIGTERM, stopping after the running call"),
                    _ = int.recv() => log::info!("{label}: SIGINT, stopping after the running call"),
                }
                if let Err(e) = notify::Notifier::notify(&mut stop_notifier, &extension) {
                    log::warn!("{label}: could not ask systemd for time to stop: {e}");
                }
                let _ = tx.send(true);
                // Further signals change nothing: stop runs once.
                loop {
                    let more = tokio::select! { t = term.recv() => t, i = int.recv() => i };
                    if more.is_none() {
                        break;
                    }
                }
            });
            let request = service::StopRequest {
                asked: rx,
                raised: &RAISED,
            };
            service::start_and_monitor(&settings, &mut agent, &mut notifier, request).await
        }
    }
}
