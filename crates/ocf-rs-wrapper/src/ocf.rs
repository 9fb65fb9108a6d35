//! The OCF vocabulary: agent actions, how a call ended, what that means for the service (keep
//! running, or exit with which status), and the environment each call gets.
//!
//! Pure. It must never turn a failed or unfinished agent call into success: only exit code 0
//! (`OCF_SUCCESS`) is success.

use std::ffi::OsString;
use std::time::Duration;

/// The agent actions the wrapper calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Start,
    Monitor,
    Stop,
}

impl Call {
    /// The agent's argument.
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Start => "start",
            Call::Monitor => "monitor",
            Call::Stop => "stop",
        }
    }
}

/// How one agent call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The agent exited with this code.
    Exited(i32),
    /// The agent was killed by this signal (not by us).
    Signalled(i32),
    /// The agent ran past its timeout; its process group was killed.
    TimedOut(Duration),
    /// The agent could not be run at all.
    NotRun(String),
}

/// The exit status of a wrapper whose agent call failed without an exit code of its own
/// (`OCF_ERR_GENERIC`).
pub const GENERIC_FAILURE: u8 = 1;

/// The name of an OCF exit code, for messages.
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OCF_SUCCESS",
        1 => "OCF_ERR_GENERIC",
        2 => "OCF_ERR_ARGS",
        3 => "OCF_ERR_UNIMPLEMENTED",
        4 => "OCF_ERR_PERM",
        5 => "OCF_ERR_INSTALLED",
        6 => "OCF_ERR_CONFIGURED",
        7 => "OCF_NOT_RUNNING",
        8 => "OCF_RUNNING_MASTER",
        9 => "OCF_FAILED_MASTER",
        _ => "not an OCF code",
    }
}

/// What a call's ending means: `Ok` the agent did what was asked; `Err(status)` the wrapper
/// must end with this exit status. An agent's own exit code is passed on (7 stays 7), anything
/// without one becomes [`GENERIC_FAILURE`].
pub fn verdict(ending: &Ending) -> Result<(), u8> {
    match ending {
        Ending::Exited(0) => Ok(()),
        Ending::Exited(code) => Err(u8::try_from(*code)
            .ok()
            .filter(|c| *c != 0)
            .unwrap_or(GENERIC_FAILURE)),
        Ending::Signalled(_) | Ending::TimedOut(_) | Ending::NotRun(_) => Err(GENERIC_FAILURE),
    }
}

/// The text after `FAILED` in messages and `STATUS=`: the original's wording when there is an
/// exit code.
pub fn describe_failure(ending: &Ending) -> String {
    match ending {
        Ending::Exited(code) => format!("FAILED with exit code {code} ({})", code_name(*code)),
        Ending::Signalled(signal) => format!("FAILED: killed by signal {signal}"),
        Ending::TimedOut(after) => format!(
            "FAILED: no result after {} s, killed its process group",
            after.as_secs()
        ),
        Ending::NotRun(error) => format!("FAILED: could not run the agent: {error}"),
    }
}

/// Environment changes for one agent call, on top of the wrapper's own environment (which
/// carries `OCF_ROOT`, `OCF_RESOURCE_INSTANCE` and every `OCF_RESKEY_*` verbatim):
/// the notify socket is removed (the agent must not talk to systemd for us), and the call's
/// timeout and the monitor interval are passed the way Pacemaker does, in milliseconds. A
/// `monitor` gets the interval (a recurring monitor, not a probe: agents such as Dummy then
/// log why it failed); `start` and `stop` get 0.
pub struct CallEnvironment {
    pub remove: &'static [&'static str],
    pub set: Vec<(&'static str, String)>,
}

pub fn call_environment(call: Call, timeout: Duration, interval: Duration) -> CallEnvironment {
    let interval = match call {
        Call::Monitor => interval.as_millis(),
        Call::Start | Call::Stop => 0,
    };
    CallEnvironment {
        remove: &["NOTIFY_SOCKET"],
        set: vec![
            (
                "OCF_RESKEY_CRM_meta_timeout",
                timeout.as_millis().to_string(),
            ),
            ("OCF_RESKEY_CRM_meta_interval", interval.to_string()),
        ],
    }
}

/// The agent's effective environment: `parent` with `changes` applied, order kept. Used by the
/// shell to build the command and by tests to see what an agent gets.
pub fn agent_environment(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    changes: &CallEnvironment,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(k, _)| {
            !changes.remove.iter().any(|r| k == r) && !changes.set.iter().any(|(s, _)| k == s)
        })
        .collect();
    env.extend(
        changes
            .set
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exit_code_zero_is_success() {
        assert_eq!(verdict(&Ending::Exited(0)), Ok(()));
        for code in 1..=9 {
            assert_eq!(verdict(&Ending::Exited(code)), Err(code as u8), "{code}");
        }
    }

    #[test]
    fn not_running_is_passed_on_as_exit_status_7() {
        assert_eq!(verdict(&Ending::Exited(7)), Err(7));
        assert_eq!(
            describe_failure(&Ending::Exited(7)),
            "FAILED with exit code 7 (OCF_NOT_RUNNING)"
        );
    }

    #[test]
    fn a_call_without_an_exit_code_is_a_generic_failure() {
        for ending in [
            Ending::Signalled(9),
            Ending::TimedOut(Duration::from_secs(3)),
            Ending::NotRun("No such file or directory (os error 2)".into()),
            Ending::Exited(-1),
            Ending::Exited(256),
        ] {
            assert_eq!(verdict(&ending), Err(GENERIC_FAILURE), "{ending:?}");
        }
        assert!(describe_failure(&Ending::TimedOut(Duration::from_secs(3)))
            .contains("after 3 s, killed its process group"));
    }

    /// The promoter splits `ocf:heartbeat:Dummy p_dummy k2="with whitespace" ...` with POSIX
    /// shell rules and writes one `Environment=` per word; systemd hands the values to the
    /// wrapper unescaped. The agent must see them byte for byte.
    #[test]
    fn parameters_with_spaces_and_quotes_reach_the_agent_verbatim() {
        let entry = r#"p_dummy k1=v1 k2="with whitespace" k3=with\ different\ whitespace foo empty='' pass='*pass/' q="it's \"quoted\"" pct='a%b c'"#;
        let words = shlex::split(entry).unwrap();
        assert_eq!(words[0], "p_dummy");
        let parent: Vec<(OsString, OsString)> = words[1..]
            .iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) => (format!("OCF_RESKEY_{k}"), v.to_string()),
                None => (format!("OCF_RESKEY_{w}"), String::new()),
            })
            .chain([("NOTIFY_SOCKET".to_string(), "@/org/x".to_string())])
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let changes = call_environment(Call::Start, Duration::from_secs(20), S30);
        let env = agent_environment(parent, &changes);
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.to_str())
        };
        assert_eq!(get("OCF_RESKEY_k1"), Some("v1"));
        assert_eq!(get("OCF_RESKEY_k2"), Some("with whitespace"));
        assert_eq!(get("OCF_RESKEY_k3"), Some("with different whitespace"));
        assert_eq!(get("OCF_RESKEY_foo"), Some(""));
        assert_eq!(get("OCF_RESKEY_empty"), Some(""));
        assert_eq!(get("OCF_RESKEY_pass"), Some("*pass/"));
        assert_eq!(get("OCF_RESKEY_q"), Some(r#"it's "quoted""#));
        assert_eq!(get("OCF_RESKEY_pct"), Some("a%b c"));
        assert_eq!(get("NOTIFY_SOCKET"), None);
        assert_eq!(get("OCF_RESKEY_CRM_meta_timeout"), Some("20000"));
        assert_eq!(get("OCF_RESKEY_CRM_meta_interval"), Some("0"));
    }

    const S30: Duration = Duration::from_secs(30);

    #[test]
    fn a_monitor_is_a_recurring_one_not_a_probe() {
        let changes = call_environment(Call::Monitor, Duration::from_secs(20), S30);
        assert!(changes
            .set
            .contains(&("OCF_RESKEY_CRM_meta_interval", "30000".to_string())));
        let changes = call_environment(Call::Stop, Duration::from_secs(20), S30);
        assert!(changes
            .set
            .contains(&("OCF_RESKEY_CRM_meta_interval", "0".to_string())));
    }

    #[test]
    fn the_call_timeout_replaces_one_set_by_a_drop_in() {
        let parent = vec![("OCF_RESKEY_CRM_meta_timeout".into(), "1".into())];
        let changes = call_environment(Call::Stop, Duration::from_secs(5), S30);
        let env = agent_environment(parent, &changes);
        assert_eq!(
            env,
            vec![
                ("OCF_RESKEY_CRM_meta_timeout".into(), "5000".into()),
                ("OCF_RESKEY_CRM_meta_interval".into(), "0".into())
            ]
        );
    }
}
