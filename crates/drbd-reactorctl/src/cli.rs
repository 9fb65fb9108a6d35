//! The command line of drbd-reactorctl (clap derive): every subcommand, flag and default of
//! spec ctl.md §1 and §4. Only describes arguments; must never do I/O or decide policy.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub const DEFAULT_CONFIG: &str = "/etc/drbd-reactor.toml";

#[derive(Parser, Debug)]
#[command(
    name = "drbd-reactorctl",
    version,
    about = "Controls a local drbd-reactor daemon"
)]
pub struct Cli {
    /// Main config file of the daemon (only its `snippets` key is used)
    #[arg(short = 'c', long = "config", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Cluster context (a file in ~/.config/drbd-reactorctl/); 'none' or 'local' = this node only
    #[arg(long, global = true, default_value = "default")]
    pub context: String,
    /// Comma-separated node names of the context to use
    #[arg(long, global = true, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Never fan out (used for the per-node invocations)
    #[arg(long, hide = true)]
    pub local: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The plugin types of `edit --type`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginType {
    Agentx,
    Debugger,
    Prometheus,
    Promoter,
    Umh,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// (Pretty) print config files
    Cat { configs: Vec<String> },
    /// Disable plugin
    Disable {
        /// Also stop the promoter targets of the disabled snippets
        #[arg(long)]
        now: bool,
        configs: Vec<String>,
    },
    /// Edit/Add a plugin configuration
    Edit {
        /// Template for a new file and the plugin type the result must have
        /// (default for new files: promoter; existing files keep their type)
        #[arg(short = 't', long = "type")]
        plugin_type: Option<PluginType>,
        /// Accept a mount unit as the topmost unit of a promoter (warning only)
        #[arg(short, long)]
        force: bool,
        /// Edit disabled snippets (X.toml.disabled)
        #[arg(long)]
        disabled: bool,
        configs: Vec<String>,
    },
    /// Enable plugin
    Enable { configs: Vec<String> },
    /// Evict a promoter plugin controlled resource
    Evict {
        /// Seconds to wait for a peer to take over
        #[arg(short, long, default_value = "20", value_parser = positive_u32)]
        delay: u32,
        /// Allow snippets with other plugins and promoters with several resources
        #[arg(short, long)]
        force: bool,
        /// Leave the target masked after evicting
        #[arg(short, long)]
        keep_masked: bool,
        /// Only undo a previous --keep-masked
        #[arg(short, long, conflicts_with = "keep_masked")]
        unmask: bool,
        configs: Vec<String>,
    },
    /// List plugins and show some useful, brief information
    Ls {
        /// List only disabled snippets
        #[arg(long)]
        disabled: bool,
        configs: Vec<String>,
    },
    /// Restart a plugin
    Restart {
        /// Also stop the promoter targets between disable and enable
        #[arg(long)]
        with_targets: bool,
        configs: Vec<String>,
    },
    /// Remove plugin configuration
    Rm {
        /// Do not ask
        #[arg(short, long)]
        force: bool,
        /// Remove disabled snippets (X.toml.disabled)
        #[arg(long)]
        disabled: bool,
        #[arg(required = true)]
        configs: Vec<String>,
    },
    /// Start reactor target until specified service in start list
    StartUntil {
        /// A start-list entry (exact text) or a number of entries
        until: String,
        /// The disabled snippet
        config: String,
    },
    /// Status information for a plugin
    Status(StatusArgs),
    /// Generate tab-completion for shell
    GenerateCompletion {
        #[arg(default_value = "bash")]
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Args, Debug, Default, Clone)]
pub struct StatusArgs {
    /// Test prometheus endpoints with a TCP connect
    #[arg(short, long)]
    pub verbose: bool,
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Limit promoter entries to these DRBD resources
    #[arg(short, long = "resource", num_args = 1..)]
    pub resource: Vec<String>,
    pub configs: Vec<String>,
}

fn positive_u32(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err("Value has to be a positive integer".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

impl Command {
    /// Whether the command runs on every node of a cluster context (§6.2; `edit` does not).
    pub fn fans_out(&self) -> bool {
        matches!(
            self,
            Command::Ls { .. }
                | Command::Status(_)
                | Command::Cat { .. }
                | Command::Enable { .. }
                | Command::Disable { .. }
                | Command::Restart { .. }
                | Command::Rm { .. }
        )
    }
}
