//! The daemon's shell: command line, terminal check, first configuration read, logging,
//! runtime, signals, and wiring of reader, host and core. Exit status 0 after a clean stop,
//! 1 for any problem at start (printed to stderr as `Error: <what>`).
//! Must never: keep running after the core returned, or leave the events2 child behind.

use crate::cli::{on_terminal, Args, TTY_REFUSAL, VERSION_TEXT};
use crate::core::{Core, Signals};
use crate::events2::{self, ReaderConfig};
use crate::metrics::DaemonMetrics;
use crate::notify::Notifier;
use crate::plugin::host::{Host, QUEUE_CAPACITY};
use crate::plugin::{self, Configured};
use clap::Parser;
use drbd_reactor_config::{Config, ConfigError, Located};
use drbd_reactor_plugin::SelfMetrics;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Reads the configuration and types every plugin section.
pub fn read_config(path: &Path) -> Result<(Config, Vec<Configured>, Vec<Located>), ConfigError> {
    let config = drbd_reactor_config::load(path)?;
    let (plugins, mut warnings) = plugin::from_config(&config)?;
    let mut all = config.warnings.clone();
    all.append(&mut warnings);
    Ok((config, plugins, all))
}

pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if args.health {
        // A probe, often run by hand: no terminal check, no configuration.
        return crate::health::main();
    }
    if args.check {
        return check(&args.config);
    }
    if !args.allow_tty && on_terminal() {
        eprintln!("Error: {TTY_REFUSAL}");
        return ExitCode::from(1);
    }
    // Before any thread exists: reading and removing NOTIFY_SOCKET. Its problem, if any, is
    // logged once the configured logging is up.
    let (notifier, notify_problem) = Notifier::from_env();
    let notifier = Arc::new(notifier);
    // The runtime and the signal handlers come next, before the configuration is read: until
    // they are installed SIGHUP and SIGUSR1 kill the process (their default action), and
    // reading many snippets, logging set-up and the rest of the start take long enough for a
    // `systemctl reload` or a path unit to hit that window. A signal that arrives now is kept
    // by its handler and handled once the core runs: a reload then (of the configuration just
    // read, harmless), a dump, or a stop. The handlers need the runtime, whose threads may
    // only start after NOTIFY_SOCKET was removed from the environment, above.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("Error: cannot start the runtime: {err}");
            return ExitCode::from(1);
        }
    };
    let mut signals = match runtime.block_on(async { Signals::install() }) {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("Error: cannot install the signal handlers: {err}");
            return ExitCode::from(1);
        }
    };
    let read_at_ns = crate::runfiles::realtime_ns();
    // On a blocking thread, raced against SIGTERM/SIGINT: a read that blocks (a FIFO nobody
    // writes, a hung network file system) must not make the daemon unstoppable but by
    // SIGKILL, now that the handlers have replaced the signals' default action.
    let path = args.config.clone();
    let read = runtime.block_on(async {
        let read = tokio::task::spawn_blocking(move || read_config(&path));
        tokio::select! {
            read = read => Some(read),
            () = signals.stop_asked() => None,
        }
    });
    let (config, plugins, warnings) = match read {
        Some(Ok(Ok(c))) => c,
        Some(Ok(Err(err))) => {
            eprintln!("Error: {err}");
            return ExitCode::from(1);
        }
        Some(Err(err)) => {
            eprintln!("Error: reading the configuration failed: {err}");
            return ExitCode::from(1);
        }
        None => {
            eprintln!(
                "drbd-reactor: asked to stop while reading {}; stopped",
                args.config.display()
            );
            // The read may hang for good: its thread is not waited for.
            runtime.shutdown_background();
            return ExitCode::SUCCESS;
        }
    };
    let logging = match drbd_reactor_config::logging::init(&config.log) {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("Error: {err}");
            return ExitCode::from(1);
        }
    };
    log::info!(
        target: crate::core::TARGET,
        "drbd-reactor {VERSION_TEXT} starting, configuration {}",
        args.config.display()
    );
    if let Some(problem) = &notify_problem {
        log::warn!(target: crate::core::TARGET, "{problem}");
    }
    for w in &warnings {
        log::warn!(target: crate::core::TARGET, "{w}");
    }
    // Panics (a plugin's, caught and restarted by the host) go to the configured log.
    std::panic::set_hook(Box::new(|info| {
        log::error!(target: crate::core::TARGET, "panic: {info}");
    }));
    let result = runtime.block_on(run(
        args, config, plugins, notifier, logging, read_at_ns, signals,
    ));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => {
            log::info!(target: crate::core::TARGET, "drbd-reactor stopped");
            log::logger().flush();
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// `--check`: every problem on stderr, warnings too, a verdict line; exit 1 on any problem.
fn check(config: &Path) -> ExitCode {
    let report = crate::check::check(config);
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for p in &report.problems {
        eprintln!("error: {p}");
    }
    if report.ok() {
        println!("{}", report.summary(config));
        ExitCode::SUCCESS
    } else {
        eprintln!("{}", report.summary(config));
        ExitCode::from(1)
    }
}

async fn run(
    args: Args,
    config: Config,
    plugins: Vec<Configured>,
    notifier: Arc<Notifier>,
    logging: drbd_reactor_config::LoggingHandle,
    read_at_ns: u128,
    mut signals: Signals,
) -> anyhow::Result<()> {
    // A health file left by an earlier daemon (a container restarted with its /run kept,
    // a recycled pid) must not vouch for this one before its events2 child reports.
    crate::runfiles::write(
        crate::runfiles::HEALTH_FILE,
        &crate::runfiles::render_health(
            std::process::id(),
            crate::runfiles::Health::default(),
            crate::runfiles::realtime_ns(),
        ),
    );
    log::debug!(target: crate::core::TARGET, "signal-handler: set up done");
    let list = Arc::new(SelfMetrics::default());
    let metrics = Arc::new(DaemonMetrics::register(&list));
    let (host_tx, host_rx) = mpsc::unbounded_channel();
    let host = Host::new(host_tx, Arc::clone(&list), QUEUE_CAPACITY);
    plugin::register_metrics(&list);
    let (reader_tx, reader_rx) = mpsc::channel(events2::IN_FLIGHT);
    let pool = Arc::new(events2::BatchPool::default());
    let reader = tokio::spawn(events2::run(
        ReaderConfig::new(config.statistics_poll_interval),
        reader_tx,
        Arc::clone(&metrics),
        Arc::clone(&pool),
    ));
    let mut core = Core::new(
        host,
        host_rx,
        metrics,
        Arc::clone(&notifier),
        args.config,
        config,
        Some(logging),
        pool,
        read_at_ns,
    );
    core.write_generation();
    // A stop asked while the configuration was read: no plugin is started only to be stopped
    // at once (a promoter would adjust its resources, write drop-ins and reload systemd).
    if signals.stop_pending().await {
        log::info!(target: crate::core::TARGET, "asked to stop during the start, before any plugin started: stopping");
        notifier.stopping();
        reader.abort();
        let _ = reader.await;
        crate::runfiles::remove_own();
        log::logger().flush();
        return Ok(());
    }
    notifier.status("Starting plugins");
    plugin::after_reconfigure(&plugins);
    for p in plugins {
        core.host.start(p, &core.state);
    }
    let stopped = core.run(reader_rx, signals).await;
    reader.abort();
    let _ = reader.await;
    log::logger().flush();
    stopped.map_err(anyhow::Error::msg)
}
