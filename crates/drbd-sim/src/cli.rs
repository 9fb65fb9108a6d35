//! The command line of `drbd-sim` (clap): per-command `--help`, unknown flags rejected,
//! `--version`. Only describes arguments; the shims (`drbdsetup`, `drbdadm` by argv[0]) are
//! dispatched before this parser sees anything, because their arguments are DRBD's. Must
//! never parse a shim's arguments.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "drbd-sim",
    version,
    about = "A simulated DRBD cluster: its server, control client, shims and demo",
    after_help = "Started as drbdsetup or drbdadm (a symbolic link), it is that shim (docs/sim.md)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug, PartialEq)]
pub enum Command {
    /// Serve a cluster on a unix socket until killed
    Serve {
        /// The cluster file (nodes, resources, volumes, options); see example-cluster
        #[arg(long, value_name = "FILE")]
        cluster: PathBuf,
        /// Where to listen
        #[arg(long, value_name = "PATH")]
        socket: PathBuf,
        /// Virtual time runs this many times faster than real time (resync progress)
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        speed: u64,
    },
    /// Send one control command to a running server (`ctl help` lists them)
    Ctl {
        /// The server's socket
        #[arg(long, value_name = "PATH", env = "DRBD_SIM_SOCKET")]
        socket: PathBuf,
        /// The command and its arguments, e.g. `partition alpha` or `connect beta r0 --discard-my-data`
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        args: Vec<String>,
    },
    /// Install drbdsetup and drbdadm shims for one node into a directory
    InstallShims {
        /// The directory (created if missing); put it first in the node's PATH
        dir: PathBuf,
        /// The node the shims speak for
        #[arg(long)]
        node: String,
        /// The server's socket
        #[arg(long, value_name = "PATH")]
        socket: PathBuf,
    },
    /// Play the narrated 3-node story against real drbd-reactor daemons
    Demo {
        /// Keep running after the story, for faults injected with `drbd-sim ctl`
        #[arg(long)]
        interactive: bool,
        /// Keep the working files here (default: a temporary directory, removed at the end)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the demo's cluster file
    ExampleCluster,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("drbd-sim").chain(args.iter().copied()))
            .map(|c| c.command)
    }

    #[test]
    fn serve_needs_cluster_and_socket_and_defaults_speed_to_1() {
        assert_eq!(
            parse(&["serve", "--cluster", "c.toml", "--socket", "s"]).unwrap(),
            Command::Serve {
                cluster: "c.toml".into(),
                socket: "s".into(),
                speed: 1
            }
        );
        assert!(parse(&["serve", "--socket", "s"]).is_err());
        assert!(parse(&["serve", "--cluster", "c", "--socket", "s", "--speed", "0"]).is_err());
    }

    #[test]
    fn ctl_passes_its_command_through_including_dashes() {
        let c = parse(&[
            "ctl",
            "--socket",
            "s",
            "connect",
            "beta",
            "r0",
            "--discard-my-data",
        ])
        .unwrap();
        assert_eq!(
            c,
            Command::Ctl {
                socket: "s".into(),
                args: vec![
                    "connect".into(),
                    "beta".into(),
                    "r0".into(),
                    "--discard-my-data".into()
                ]
            }
        );
    }

    #[test]
    fn unknown_flags_and_commands_are_rejected() {
        assert!(parse(&["demo", "--interactiv"]).is_err());
        assert!(parse(&["serve", "--cluster", "c", "--socket", "s", "--bogus"]).is_err());
        assert!(parse(&["bogus"]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn every_command_has_its_own_help_and_there_is_a_version() {
        for cmd in ["serve", "ctl", "install-shims", "demo", "example-cluster"] {
            let err = parse(&[cmd, "--help"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{cmd}");
        }
        let err = parse(&["--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
    }
}
