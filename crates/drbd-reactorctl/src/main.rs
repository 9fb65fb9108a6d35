//! drbd-reactorctl: manages drbd-reactor's plugin snippets, shows their status and fans out
//! over a cluster (spec ctl.md). This file only wires the command line to the commands and
//! maps errors to exit status 1; it must never hold policy of its own.

/// Output that never panics or ends the process: a fan-out child whose reader stopped waiting
/// (the node's timeout) must finish what it started (a restart between its renames) with its
/// further output lost, not die of a broken pipe in the middle (`println!` panics on EPIPE).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod color;
mod commands;
mod context;
mod edit;
mod evict;
mod evict_system;
mod fanout;
mod ls;
mod reload;
mod resolve;
mod snippet;
mod start_until;
mod status;
mod system;
mod typed;
mod units;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{CommandFactory, Parser};

use cli::{Cli, Command, StatusArgs};
use commands::Ctx;

fn main() {
    let code = match run() {
        Ok(code) => code,
        Err(err) => {
            errln!("Error: {err:?}");
            1
        }
    };
    std::process::exit(code);
}

/// The snippets directory from the main config, read as the daemon reads its main file.
fn snippets_dir(config: &Path) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(config).with_context(|| {
        format!(
            "Could not get snippets path from config file '{}'",
            config.display()
        )
    })?;
    let parsed = drbd_reactor_config::parse_one(config, &text, false).with_context(|| {
        format!(
            "Could not get snippets path from config file '{}'",
            config.display()
        )
    })?;
    match parsed.snippets {
        Some(dir) => Ok(dir),
        None => bail!(
            "Could not get snippets path from config file '{}': it sets no 'snippets' directory",
            config.display()
        ),
    }
}

fn run() -> anyhow::Result<i32> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return Ok(if err.use_stderr() { 1 } else { 0 });
        }
    };
    let command = cli
        .command
        .unwrap_or(Command::Status(StatusArgs::default()));
    if let Command::GenerateCompletion { shell } = command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "drbd-reactorctl",
            &mut std::io::stdout(),
        );
        return Ok(0);
    }
    if !cli.local && command.fans_out() {
        if let Some(cluster) = context::load(&cli.context, &cli.nodes)? {
            let json = matches!(&command, Command::Status(StatusArgs { json: true, .. }));
            return Ok(cluster_run(&cluster, json));
        }
    }
    let ctx = Ctx {
        snippets: snippets_dir(&cli.config)?,
        reloader: reload::Reloader::from_env(),
    };
    match command {
        Command::Status(args) => commands::status(&ctx, &args)?,
        Command::Ls { disabled, configs } => commands::ls(&ctx, &configs, disabled)?,
        Command::Cat { configs } => commands::cat(&ctx, &configs)?,
        Command::Enable { configs } => {
            commands::enable(&ctx, &configs)?;
        }
        Command::Disable { now, configs } => {
            commands::disable(&ctx, &configs, now)?;
        }
        Command::Restart {
            with_targets,
            configs,
        } => commands::restart(&ctx, &configs, with_targets)?,
        Command::Rm {
            force,
            disabled,
            configs,
        } => commands::rm(&ctx, &configs, force, disabled)?,
        Command::Edit {
            plugin_type,
            force,
            disabled,
            configs,
        } => commands::edit(&ctx, &configs, plugin_type, force, disabled)?,
        Command::StartUntil { until, config } => start_until::run(&ctx, &until, &config)?,
        Command::Evict {
            delay,
            force,
            keep_masked,
            unmask,
            configs,
        } => commands::evict(
            &ctx,
            &configs,
            evict::Options {
                delay,
                force,
                keep_masked,
                unmask,
            },
        )?,
        Command::GenerateCompletion { .. } => unreachable!("handled above"),
    }
    Ok(0)
}

/// Runs this invocation on every node and prints the results grouped by node; 1 if any
/// node failed.
fn cluster_run(cluster: &context::Cluster, json: bool) -> i32 {
    // Not `env::args`, which panics on an argument that is not UTF-8 (clap takes paths
    // that are not); such an argument cannot be quoted for ssh either.
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let Ok(args) = args else {
        errln!("Error: an argument that is not UTF-8 cannot be sent to the other nodes");
        return 1;
    };
    let results = fanout::run_all(cluster, &args, &system::node_name());
    let failed = results.iter().any(|(_, o)| o.failure.is_some());
    if json {
        let mut object = serde_json::Map::new();
        for (node, outcome) in &results {
            let value = match (
                &outcome.failure,
                serde_json::from_str::<serde_json::Value>(outcome.stdout.trim()),
            ) {
                (None, Ok(value)) => value,
                (failure, _) => serde_json::json!({
                    "error": failure.clone().unwrap_or_else(|| "no JSON in the node's output".into()),
                    "stderr": outcome.stderr,
                }),
            };
            object.insert(node.name.clone(), value);
        }
        out!("{}", serde_json::Value::Object(object));
    } else {
        for (node, outcome) in &results {
            outln!("{}", fanout::heading(node));
            out!("{}", outcome.stdout);
            err!("{}", outcome.stderr);
            if let Some(failure) = &outcome.failure {
                outln!(
                    "{} node '{}' ({}@{}): {failure}",
                    color::paint("ERROR:", color::Style::BoldRed, color::enabled()),
                    node.name,
                    node.user,
                    node.hostname
                );
            }
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    i32::from(failed)
}
