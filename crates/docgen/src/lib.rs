//! The generated documentation: one manual page per binary (section 1) and its bash, zsh and
//! fish completions, all from the clap definitions the binaries parse with, so that they
//! cannot disagree. The files are committed (packages build without this crate);
//! `tests/current.rs` fails when they are stale. Must never write outside the given root.

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// drbd-reactorctl is a binary crate: its argument definitions are compiled in here.
#[allow(dead_code)]
#[path = "../../drbd-reactorctl/src/cli.rs"]
mod ctl_cli;

/// The daemon as packaged (`/usr/sbin/drbd-reactor`).
pub fn daemon() -> Command {
    drbd_reactor::cli::Args::command().after_help(
        "Under systemd (drbd-reactor.service) the daemon runs with the default \
             configuration; SIGHUP reloads it, SIGUSR1 logs the running plugin \
             configurations, SIGTERM stops. See drbd-reactor.toml(5) and one page per \
             plugin: drbd-reactor.debugger(5), drbd-reactor.umh(5), \
             drbd-reactor.prometheus(5), drbd-reactor.agentx(5), drbd-reactor.promoter(5).",
    )
}

pub fn ctl() -> Command {
    ctl_cli::Cli::command().after_help(
        "Cluster contexts: context NAME is the file NAME.toml in \
         $XDG_CONFIG_HOME/drbd-reactorctl/ (else $HOME/.config/drbd-reactorctl/); \
         default.toml, usually a symlink, applies without --context; the contexts none \
         and local, and --local, run on this node only. Keys: nodes-script (a program in \
         that directory whose output, more [nodes.NAME] tables, is appended), ssh-options \
         (extra ssh arguments for every node, a list of strings), timeout (seconds each \
         node may take, default 60), and one [nodes.NAME] table per node (NAME as its \
         uname -n; quoted when it has dots) with hostname (default NAME), user (default \
         root), port (ssh port) and command (the drbd-reactorctl command line on that node, \
         default drbd-reactorctl). An unknown key is an error. \
         Environment: DRBD_REACTOR_RUN_DIR (the daemon's run files, default \
         /run/drbd-reactor), DRBD_REACTORCTL_INIT (systemd or none: how a changed \
         configuration is reloaded; default systemd when /run/systemd/system exists), \
         DRBD_REACTORCTL_RELOAD_TIMEOUT (seconds to wait for the daemon to read it), \
         DRBD_REACTORCTL_DEVICE_TIMEOUT (seconds start-until waits for backing devices), \
         VISUAL or EDITOR (edit; default vi).",
    )
}

/// ocf-rs-wrapper reads its action from argv and everything else from the environment
/// (settings.rs there); this describes that interface for its page and completions.
pub fn ocf_rs_wrapper() -> Command {
    Command::new("ocf-rs-wrapper")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Runs an OCF resource agent as the main process of ocf.rs@.service")
        .long_about(
            "Runs an OCF resource agent as a systemd service: ocf.rs@.service starts it \
             with start-and-monitor (the agent's start, then its monitor every interval; \
             READY=1 after a successful start, and a failed monitor ends the process with \
             the agent's exit code) and runs stop from ExecStopPost=. The promoter of \
             drbd-reactor writes one drop-in per instance that sets AGENT and the \
             OCF_RESKEY_* parameters.",
        )
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("action")
                .required(true)
                .value_parser(["start-and-monitor", "stop"])
                .hide_possible_values(true)
                .help("start-and-monitor (ExecStart=) or stop (ExecStopPost=)"),
        )
        .arg(
            Arg::new("unit")
                .action(ArgAction::Set)
                .help("The unit name (%n); accepted and not used (logs name the agent instance)"),
        )
        .after_help(
            "Environment: AGENT (the agent's path, required), OCF_ROOT and \
             OCF_RESOURCE_INSTANCE (required), OCF_RESKEY_* (the agent's parameters), \
             monitor_interval (seconds, default 30; the misspelt monitor_inverval is also \
             read), start_timeout (60), monitor_timeout (30), stop_timeout (60), \
             OCF_RS_WRAPPER_RUN_DIR (default /run/ocf-rs-wrapper: where the main process \
             notes a stop it ran, so that ExecStopPost= does not run it again). Timeouts \
             count time the wrapper was awake (a frozen service keeps its call). A failed \
             start or monitor is followed by the agent's stop in the main process, before it \
             exits. SIGTERM or SIGINT: the running call finishes (within its timeout), then \
             the agent's stop runs once; further signals change nothing. Exit status: 0 on \
             success; the agent's exit code when a call failed; 1 for a usage error, or when \
             a call timed out, was ended by a signal or could not be run; stop after the main \
             process already ran it exits with that run's status.",
        )
}

/// The date on every generated page (a fixed one: the pages must be reproducible). Set it
/// when a command line changes.
pub const PAGES_DATE: &str = "2026-12-07";

/// Every binary with its page name.
pub fn commands() -> Vec<Command> {
    vec![daemon(), ctl(), ocf_rs_wrapper()]
}

pub const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash"),
    (Shell::Zsh, "zsh"),
    (Shell::Fish, "fish"),
];

/// Every generated file: path relative to the repository root, and content.
pub fn files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for mut cmd in commands() {
        // Built, so that global options (drbd-reactorctl's --context, --nodes) reach every
        // subcommand's page and clap's own `help` subcommand, listed on the main page, has one.
        cmd.build();
        let name = cmd.get_name().to_string();
        out.push((PathBuf::from(format!("man/{name}.1")), page(cmd.clone())));
        // the SUBCOMMANDS section refers to NAME-SUB(1), as git's pages do
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            // clap names are &'static str (without its "string" feature); a generator may leak
            let full: &'static str = format!("{name}-{}", sub.get_name()).leak();
            let sub = sub.clone().name(full).bin_name(full);
            out.push((PathBuf::from(format!("man/{full}.1")), page(sub)));
        }
        for (shell, dir) in SHELLS {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut text);
            if shell == Shell::Fish && name == "ocf-rs-wrapper" {
                // clap's fish generator completes options only; this command has none, just
                // its action (bash and zsh complete it from the possible values).
                text.extend_from_slice(
                    b"complete -c ocf-rs-wrapper -f -n __fish_is_first_arg -a 'start-and-monitor stop'\n",
                );
            }
            let file = match shell {
                Shell::Zsh => format!("_{name}"),
                Shell::Fish => format!("{name}.fish"),
                _ => name.clone(),
            };
            out.push((PathBuf::from(format!("completions/{dir}/{file}")), text));
        }
    }
    out
}

fn page(cmd: Command) -> Vec<u8> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .date(PAGES_DATE)
        .render(&mut page)
        .expect("rendering into memory");
    tidy(&String::from_utf8(page).expect("roff from clap is UTF-8")).into_bytes()
}

/// clap_mangen puts `.br`, an empty line (= `.sp`) and `.br` before a list of possible
/// values; mandoc -Tlint warns about the redundant breaks. One `.sp` says the same.
fn tidy(roff: &str) -> String {
    roff.replace("\n.br\n\n.br\n", "\n.sp\n")
        .replace("\n\n.br\n", "\n.sp\n")
}

/// Writes every file under `root`.
pub fn write_all(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (rel, content) in files() {
        let path = root.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, content)?;
        written.push(rel);
    }
    Ok(written)
}
