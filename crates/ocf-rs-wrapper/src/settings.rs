//! What the wrapper was asked to do: the action from the command line and everything it reads
//! from the environment (agent, instance, monitor interval, per-call timeouts, the previous
//! exit systemd reports to `ExecStopPost`).
//!
//! Pure: takes the arguments and an environment lookup, never reads the process environment
//! itself and never touches files or clocks. It must never fail on an optional variable: a
//! malformed one becomes a warning and its default.

use std::path::PathBuf;
use std::time::Duration;

/// The two actions `ocf.rs@.service` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `ExecStart=`: the agent's `start`, then its `monitor` every interval until SIGTERM.
    StartAndMonitor,
    /// `ExecStopPost=`: the agent's `stop`, unless the main process already took care of it.
    Stop,
}

/// The monitor interval when none (or a malformed one) is set.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(30);
/// Shorter intervals are raised to this.
pub const MIN_MONITOR_INTERVAL: Duration = Duration::from_secs(1);
/// Default time an agent's `start` may take before its process group is killed.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time an agent's `monitor` may take.
pub const DEFAULT_MONITOR_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time an agent's `stop` may take (below systemd's default `TimeoutStopSec=90s`).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the main process leaves a note that it already ran `stop` (and how that ended).
pub const DEFAULT_RUN_DIR: &str = "/run/ocf-rs-wrapper";

/// How long each agent call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub start: Duration,
    pub monitor: Duration,
    pub stop: Duration,
}

/// How the previous main process ended, as systemd tells `ExecStopPost=` (`EXIT_CODE`,
/// `EXIT_STATUS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousExit {
    pub code: String,
    pub status: String,
}

impl PreviousExit {
    /// The main process exited on its own with status 0: it stopped the agent cleanly.
    pub fn was_clean(&self) -> bool {
        self.code == "exited" && self.status == "0"
    }
}

/// Everything the wrapper needs, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub action: Action,
    /// `AGENT`: the agent executable, run directly (no shell).
    pub agent: PathBuf,
    /// `OCF_RESOURCE_INSTANCE`, verbatim (systemd's `%i`, so still escaped: `p_ip_my\x2dres`).
    pub instance: String,
    pub monitor_interval: Duration,
    pub timeouts: Timeouts,
    /// Only for `stop`: set when systemd runs us as `ExecStopPost=`.
    pub previous_exit: Option<PreviousExit>,
    /// systemd's `INVOCATION_ID`: the same for `ExecStart=` and `ExecStopPost=` of one run.
    pub invocation_id: Option<String>,
    pub run_dir: PathBuf,
    /// Malformed optional variables, to be logged; their defaults apply.
    pub warnings: Vec<String>,
}

impl Settings {
    /// `<basename of AGENT>:<OCF_RESOURCE_INSTANCE>`, the label of every message.
    pub fn label(&self) -> String {
        let agent = self
            .agent
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.agent.display().to_string());
        format!("{agent}:{}", self.instance)
    }
}

/// A reason not to run at all (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    MissingVariable(&'static str),
    MissingAction,
    UnknownAction(String),
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::MissingVariable(v) => {
                write!(f, "'{v}' has to be set: environment variable not found")
            }
            SettingsError::MissingAction => write!(f, "Could not get action as first argument"),
            SettingsError::UnknownAction(a) => write!(f, "Action '{a}' not implemented"),
        }
    }
}

impl std::error::Error for SettingsError {}

/// Parses the arguments after the program name and the environment. The required variables
/// are checked before the action, as the original does.
pub fn parse(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, SettingsError> {
    let required = |name: &'static str| env(name).ok_or(SettingsError::MissingVariable(name));
    let agent = PathBuf::from(required("AGENT")?);
    required("OCF_ROOT")?;
    let instance = required("OCF_RESOURCE_INSTANCE")?;
    let action = match args.first().map(String::as_str) {
        None => return Err(SettingsError::MissingAction),
        Some("start-and-monitor") => Action::StartAndMonitor,
        Some("stop") => Action::Stop,
        Some(other) => return Err(SettingsError::UnknownAction(other.to_string())),
    };

    let mut warnings = Vec::new();
    // The shipped unit of the original misspelt the variable; drop-ins written for it still
    // use that spelling. The correct one wins when both are set.
    let interval = ["monitor_interval", "monitor_inverval"]
        .into_iter()
        .find_map(|name| env(name).map(|v| (name, v)));
    let monitor_interval = match interval {
        None => DEFAULT_MONITOR_INTERVAL,
        Some((name, value)) => {
            seconds(name, &value, DEFAULT_MONITOR_INTERVAL, &mut warnings).max(MIN_MONITOR_INTERVAL)
        }
    };
    let mut timeout = |name: &str, default: Duration| match env(name) {
        None => default,
        Some(value) => seconds(name, &value, default, &mut warnings),
    };
    let timeouts = Timeouts {
        start: timeout("start_timeout", DEFAULT_START_TIMEOUT),
        monitor: timeout("monitor_timeout", DEFAULT_MONITOR_TIMEOUT),
        stop: timeout("stop_timeout", DEFAULT_STOP_TIMEOUT),
    };
    let previous_exit = match (env("EXIT_CODE"), env("EXIT_STATUS")) {
        (Some(code), Some(status)) => Some(PreviousExit { code, status }),
        (Some(code), None) => Some(PreviousExit {
            code,
            status: String::new(),
        }),
        _ => None,
    };
    let invocation_id = env("INVOCATION_ID").filter(|id| is_invocation_id(id));
    let run_dir = env("OCF_RS_WRAPPER_RUN_DIR")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_RUN_DIR.to_string())
        .into();
    Ok(Settings {
        action,
        agent,
        instance,
        monitor_interval,
        timeouts,
        previous_exit,
        invocation_id,
        run_dir,
        warnings,
    })
}

/// The longest interval or timeout taken as given: a year. Anything longer is as good as
/// "never" and would overflow the clock arithmetic of a deadline.
const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// Whole seconds, at least 1; anything else is a warning and `default`.
fn seconds(name: &str, value: &str, default: Duration, warnings: &mut Vec<String>) -> Duration {
    match value.trim().parse::<u64>() {
        Ok(n) if n > MAX_SECONDS => {
            warnings.push(format!(
                "{name}='{value}' is more than a year, using a year ({MAX_SECONDS} seconds)"
            ));
            Duration::from_secs(MAX_SECONDS)
        }
        Ok(n) if n > 0 => Duration::from_secs(n),
        _ => {
            warnings.push(format!(
                "{name}='{value}' is not a whole number of seconds above 0, using {}",
                default.as_secs()
            ));
            default
        }
    }
}

/// systemd's invocation ids are 32 hex digits; anything else is not used in a file name.
fn is_invocation_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("AGENT", "/usr/lib/ocf/resource.d/heartbeat/Dummy"),
        ("OCF_ROOT", "/usr/lib/ocf"),
        ("OCF_RESOURCE_INSTANCE", "p_dummy_r0"),
    ];

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    #[test]
    fn both_actions_parse_and_further_arguments_are_ignored() {
        let s = parse(
            &args(&["start-and-monitor", "ocf.rs@x.service"]),
            env(&BASE),
        )
        .unwrap();
        assert_eq!(s.action, Action::StartAndMonitor);
        let s = parse(&args(&["stop", "ocf.rs@x.service", "more"]), env(&BASE)).unwrap();
        assert_eq!(s.action, Action::Stop);
    }

    #[test]
    fn a_missing_or_unknown_action_is_an_error() {
        assert_eq!(
            parse(&[], env(&BASE)).unwrap_err(),
            SettingsError::MissingAction
        );
        assert_eq!(
            parse(&args(&["monitor"]), env(&BASE)).unwrap_err(),
            SettingsError::UnknownAction("monitor".into())
        );
        assert_eq!(
            SettingsError::UnknownAction("monitor".into()).to_string(),
            "Action 'monitor' not implemented"
        );
    }

    #[test]
    fn required_variables_are_checked_before_the_action() {
        for missing in ["AGENT", "OCF_ROOT", "OCF_RESOURCE_INSTANCE"] {
            let pairs: Vec<_> = BASE
                .iter()
                .filter(|(k, _)| *k != missing)
                .copied()
                .collect();
            let err = parse(&args(&["bogus"]), env(&pairs)).unwrap_err();
            assert_eq!(err, SettingsError::MissingVariable(missing));
            assert_eq!(
                err.to_string(),
                format!("'{missing}' has to be set: environment variable not found")
            );
        }
    }

    #[test]
    fn the_monitor_interval_defaults_to_30_seconds() {
        let s = parse(&args(&["stop"]), env(&BASE)).unwrap();
        assert_eq!(s.monitor_interval, Duration::from_secs(30));
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn the_correctly_spelt_monitor_interval_is_used() {
        let s = parse(&args(&["stop"]), env(&with(&[("monitor_interval", "7")]))).unwrap();
        assert_eq!(s.monitor_interval, Duration::from_secs(7));
    }

    #[test]
    fn the_misspelt_monitor_inverval_of_old_drop_ins_still_works() {
        let s = parse(&args(&["stop"]), env(&with(&[("monitor_inverval", "12")]))).unwrap();
        assert_eq!(s.monitor_interval, Duration::from_secs(12));
    }

    #[test]
    fn the_correct_spelling_wins_over_the_misspelt_one() {
        let s = parse(
            &args(&["stop"]),
            env(&with(&[
                ("monitor_inverval", "12"),
                ("monitor_interval", "3"),
            ])),
        )
        .unwrap();
        assert_eq!(s.monitor_interval, Duration::from_secs(3));
    }

    #[test]
    fn a_malformed_monitor_interval_warns_and_uses_the_default() {
        for bad in ["", "ten", "-1", "0", "1.5"] {
            let s = parse(&args(&["stop"]), env(&with(&[("monitor_interval", bad)]))).unwrap();
            assert_eq!(s.monitor_interval, DEFAULT_MONITOR_INTERVAL, "{bad:?}");
            assert_eq!(s.warnings.len(), 1, "{bad:?}");
            assert!(
                s.warnings[0].contains("monitor_interval"),
                "{:?}",
                s.warnings
            );
        }
    }

    #[test]
    fn timeouts_come_from_the_environment_with_defaults() {
        let s = parse(&args(&["stop"]), env(&BASE)).unwrap();
        assert_eq!(
            s.timeouts,
            Timeouts {
                start: DEFAULT_START_TIMEOUT,
                monitor: DEFAULT_MONITOR_TIMEOUT,
                stop: DEFAULT_STOP_TIMEOUT
            }
        );
        let s = parse(
            &args(&["stop"]),
            env(&with(&[
                ("start_timeout", "5"),
                ("monitor_timeout", "2"),
                ("stop_timeout", "9"),
            ])),
        )
        .unwrap();
        assert_eq!(s.timeouts.start, Duration::from_secs(5));
        assert_eq!(s.timeouts.monitor, Duration::from_secs(2));
        assert_eq!(s.timeouts.stop, Duration::from_secs(9));
        let s = parse(&args(&["stop"]), env(&with(&[("stop_timeout", "soon")]))).unwrap();
        assert_eq!(s.timeouts.stop, DEFAULT_STOP_TIMEOUT);
        assert!(s.warnings[0].contains("stop_timeout='soon'"));
    }

    #[test]
    fn values_beyond_a_year_are_taken_as_a_year_with_a_warning() {
        let huge = "18446744073709551615"; // u64::MAX
        let s = parse(
            &args(&["start-and-monitor"]),
            env(&with(&[
                ("start_timeout", huge),
                ("monitor_interval", huge),
                ("stop_timeout", "31536001"),
            ])),
        )
        .unwrap();
        let year = Duration::from_secs(MAX_SECONDS);
        assert_eq!(
            (s.timeouts.start, s.monitor_interval, s.timeouts.stop),
            (year, year, year)
        );
        assert_eq!(s.warnings.len(), 3, "{:?}", s.warnings);
        // a deadline a year ahead is representable (it overflowed with u64::MAX seconds)
        assert!(tokio::time::Instant::now()
            .checked_add(year + year)
            .is_some());
    }

    #[test]
    fn instance_names_with_dashes_escapes_and_underscores_are_kept_verbatim() {
        for instance in [
            "p_ip_my\\x2dres",
            "p-dummy_r0",
            "name\\x2d1_res\\x2d1",
            "a_b_c",
        ] {
            let pairs = [
                ("AGENT", "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"),
                ("OCF_ROOT", "/usr/lib/ocf"),
                ("OCF_RESOURCE_INSTANCE", instance),
            ];
            let s = parse(&args(&["start-and-monitor"]), env(&pairs)).unwrap();
            assert_eq!(s.instance, instance);
            assert_eq!(s.label(), format!("IPaddr2:{instance}"));
        }
    }

    #[test]
    fn only_a_clean_previous_exit_counts_as_clean() {
        let clean = PreviousExit {
            code: "exited".into(),
            status: "0".into(),
        };
        assert!(clean.was_clean());
        for (code, status) in [("exited", "7"), ("killed", "TERM"), ("dumped", "SEGV")] {
            let p = PreviousExit {
                code: code.into(),
                status: status.into(),
            };
            assert!(!p.was_clean(), "{code} {status}");
        }
        let s = parse(
            &args(&["stop"]),
            env(&with(&[("EXIT_CODE", "exited"), ("EXIT_STATUS", "0")])),
        )
        .unwrap();
        assert_eq!(s.previous_exit, Some(clean));
    }

    #[test]
    fn an_invocation_id_that_is_not_hex_is_not_used() {
        let s = parse(
            &args(&["stop"]),
            env(&with(&[("INVOCATION_ID", "../../etc/passwd")])),
        )
        .unwrap();
        assert_eq!(s.invocation_id, None);
        let s = parse(
            &args(&["stop"]),
            env(&with(&[(
                "INVOCATION_ID",
                "0123456789abcdef0123456789abcdef",
            )])),
        )
        .unwrap();
        assert_eq!(
            s.invocation_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
    }
}
