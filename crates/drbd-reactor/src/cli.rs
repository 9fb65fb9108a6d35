//! The command line (daemon spec §1) and the refusal to run on a terminal (§1.1).
//! Must never read the configuration: that happens after the terminal check.

use clap::Parser;
use std::path::PathBuf;

pub const DEFAULT_CONFIG: &str = "/etc/drbd-reactor.toml";

/// The release of LINBIT's drbd-reactor whose configuration, command line, units and
/// interfaces this one keeps (docs/compat.md lists the differences).
pub const COMPATIBLE_WITH: &str = "1.11.0";

/// What `--version` prints after the name: our version and what it replaces.
pub const VERSION_TEXT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (Rust re-implementation, compatible with drbd-reactor 1.11.0)"
);

/// Reacts to DRBD state changes by running the configured plugins
///
/// drbd-reactor follows `drbdsetup events2`, keeps the state of every DRBD resource and
/// feeds the plugins configured in drbd-reactor.toml(5) and its snippets.
#[derive(Parser, Debug)]
#[command(name = "drbd-reactor", version = VERSION_TEXT)]
pub struct Args {
    /// Main configuration file.
    #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Allow running while attached to a terminal (normally systemd starts the daemon).
    #[arg(long = "allow-tty")]
    pub allow_tty: bool,
    /// Check the running daemon's health (events2 running, initial dump applied, daemon
    /// alive) from `$DRBD_REACTOR_RUN_DIR/health` (default /run/drbd-reactor/health) and exit 0
    /// if healthy, 1 otherwise.
    /// For container and Kubernetes probes; reads no configuration.
    #[arg(long = "health")]
    pub health: bool,
    /// Validate the configuration file and its snippets without starting: print every
    /// problem (file:line: key: what) and exit 1 if there is any, 0 otherwise.
    #[arg(long = "check")]
    pub check: bool,
}

/// The message printed (after `Error: `) when started on a terminal.
pub const TTY_REFUSAL: &str =
    "Refusing to start in a terminal without --allow-tty. Did you mean drbd-reactorctl?";

/// True if stdin, stdout or stderr is a terminal.
pub fn on_terminal() -> bool {
    rustix::termios::isatty(std::io::stdin())
        || rustix::termios::isatty(std::io::stdout())
        || rustix::termios::isatty(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_to_etc_and_allow_tty_is_off() {
        let args = Args::try_parse_from(["drbd-reactor"]).unwrap();
        assert_eq!(args.config, PathBuf::from(DEFAULT_CONFIG));
        assert!(!args.allow_tty);
        assert!(!args.health);
        assert!(!args.check);
    }

    #[test]
    fn check_takes_the_config_option_too() {
        let a = Args::try_parse_from(["drbd-reactor", "--check", "-c", "/x.toml"]).unwrap();
        assert!(a.check);
        assert_eq!(a.config, PathBuf::from("/x.toml"));
    }

    #[test]
    fn the_version_text_names_the_compatible_release() {
        assert!(VERSION_TEXT.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(VERSION_TEXT.contains(COMPATIBLE_WITH));
    }

    #[test]
    fn health_is_a_flag_of_its_own() {
        assert!(
            Args::try_parse_from(["drbd-reactor", "--health"])
                .unwrap()
                .health
        );
        assert!(Args::try_parse_from(["drbd-reactor", "--health=yes"]).is_err());
    }

    #[test]
    fn short_and_long_config_options_are_accepted() {
        let a = Args::try_parse_from(["drbd-reactor", "-c", "/x.toml", "--allow-tty"]).unwrap();
        assert_eq!(a.config, PathBuf::from("/x.toml"));
        assert!(a.allow_tty);
        let b = Args::try_parse_from(["drbd-reactor", "--config", "/y.toml"]).unwrap();
        assert_eq!(b.config, PathBuf::from("/y.toml"));
    }

    #[test]
    fn unknown_arguments_are_rejected() {
        assert!(Args::try_parse_from(["drbd-reactor", "--bogus"]).is_err());
        assert!(Args::try_parse_from(["drbd-reactor", "positional"]).is_err());
    }
}
