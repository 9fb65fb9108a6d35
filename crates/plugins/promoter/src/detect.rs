//! The split-brain-avoidance policy from `drbdsetup show --show-defaults --json RES`
//! (spec §6.4) and the option checks that only warn (§2.3).
//!
//! Pure. A resource without connections (drbdsetup omits the key) is fencing or quorum like
//! any other, not an error (§12.11). Must never: auto-correct DRBD options.

use crate::config::{QuorumLoss, ResourceConfig};
use crate::policy::SplitBrainPolicy;
use serde_json::Value;

/// What the checks need from the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shown {
    pub auto_promote: Option<bool>,
    pub quorum: String,
    pub on_no_quorum: Option<String>,
    pub on_suspended_primary_outdated: Option<String>,
    pub on_no_data_accessible: Option<String>,
    /// (rr-conflict, fencing) of every connection.
    pub connections: Vec<(Option<String>, Option<String>)>,
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(|x| match x {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "yes".into() } else { "no".into() }),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Parses the JSON of one resource and decides its policy.
pub fn parse_show(json: &str, res: &str) -> Result<(SplitBrainPolicy, Shown), String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("drbdsetup show: {e}"))?;
    let arr = v
        .as_array()
        .ok_or("drbdsetup show: expected a JSON array")?;
    let [obj] = arr.as_slice() else {
        return Err(format!(
            "drbdsetup show: expected one resource, got {}",
            arr.len()
        ));
    };
    if obj.get("resource").and_then(Value::as_str) != Some(res) {
        return Err(format!("drbdsetup show: not resource '{res}'"));
    }
    let options = obj
        .get("options")
        .ok_or("drbdsetup show: missing field 'options'")?;
    let quorum = s(options, "quorum").ok_or("drbdsetup show: missing field 'quorum'")?;
    let connections: Vec<(Option<String>, Option<String>)> = obj
        .get("connections")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let net = c.get("net").cloned().unwrap_or(Value::Null);
                    (s(&net, "rr-conflict"), s(&net, "fencing"))
                })
                .collect()
        })
        .unwrap_or_default();
    let shown = Shown {
        auto_promote: options.get("auto-promote").and_then(Value::as_bool),
        quorum,
        on_no_quorum: s(options, "on-no-quorum"),
        on_suspended_primary_outdated: s(options, "on-suspended-primary-outdated"),
        on_no_data_accessible: s(options, "on-no-data-accessible"),
        connections,
    };
    let policy = if shown.quorum != "off" {
        SplitBrainPolicy::Quorum
    } else if shown
        .connections
        .iter()
        .any(|(_, f)| f.as_deref() == Some("dont-care"))
    {
        return Err("quorum is 'off', but also fencing is 'dont-care'".into());
    } else {
        SplitBrainPolicy::Fencing
    };
    Ok((policy, shown))
}

/// §2.3 warnings, in the original's wording.
pub fn option_warnings(
    res: &str,
    cfg: &ResourceConfig,
    policy: SplitBrainPolicy,
    shown: &Shown,
    unified_cgroups: bool,
) -> Vec<String> {
    let mut w = Vec::new();
    let mut want = |opt: &str, want: &str, is: Option<&str>| {
        let is = is.unwrap_or("<unset>");
        if is != want {
            w.push(format!(
                "resource '{res}': DRBD option '{opt}' should be '{want}', but is '{is}'"
            ));
        }
    };
    let auto = shown.auto_promote.map(|b| if b { "yes" } else { "no" });
    want("auto-promote", "no", auto);
    let quorum = match policy {
        SplitBrainPolicy::Quorum => "majority",
        SplitBrainPolicy::Fencing => "off",
    };
    want("quorum", quorum, Some(&shown.quorum));
    want(
        "on-suspended-primary-outdated",
        "force-secondary",
        shown.on_suspended_primary_outdated.as_deref(),
    );
    let freeze = cfg.on_quorum_loss == QuorumLoss::Freeze;
    if policy == SplitBrainPolicy::Quorum {
        let io = if freeze { "suspend-io" } else { "io-error" };
        want("on-no-quorum", io, shown.on_no_quorum.as_deref());
        want(
            "on-no-data-accessible",
            io,
            shown.on_no_data_accessible.as_deref(),
        );
        if freeze {
            for (rr, _) in &shown.connections {
                want("rr-conflict", "retry-connect", rr.as_deref());
            }
        }
    }
    if policy == SplitBrainPolicy::Quorum && freeze && !unified_cgroups {
        w.push("You don't have unified cgroups, the plugin will not work as intended".into());
    }
    if policy == SplitBrainPolicy::Fencing {
        for (_, f) in &shown.connections {
            if f.as_deref() == Some("dont-care") {
                w.push(format!(
                    "resource '{res}': DRBD option 'fencing' should be not be 'dont-care'"
                ));
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUORUM: &str = r#"[{"resource":"r0","options":{"auto-promote":false,"quorum":"majority",
        "on-no-quorum":"io-error","on-suspended-primary-outdated":"force-secondary",
        "on-no-data-accessible":"io-error"},
        "connections":[{"net":{"rr-conflict":"disconnect","fencing":"dont-care"}}]}]"#;

    #[test]
    fn quorum_policy_with_recommended_options_gives_no_warnings() {
        let (p, shown) = parse_show(QUORUM, "r0").unwrap();
        assert_eq!(p, SplitBrainPolicy::Quorum);
        assert!(option_warnings("r0", &ResourceConfig::default(), p, &shown, true).is_empty());
    }

    #[test]
    fn freeze_wants_suspend_io_and_retry_connect() {
        let (p, shown) = parse_show(QUORUM, "r0").unwrap();
        let cfg = ResourceConfig {
            on_quorum_loss: QuorumLoss::Freeze,
            ..Default::default()
        };
        let w = option_warnings("r0", &cfg, p, &shown, false);
        assert!(w.contains(
            &"resource 'r0': DRBD option 'on-no-quorum' should be 'suspend-io', but is 'io-error'"
                .to_string()
        ));
        assert!(w
            .iter()
            .any(|w| w.contains("'rr-conflict' should be 'retry-connect'")));
        assert!(w.iter().any(|w| w.contains("unified cgroups")));
    }

    #[test]
    fn quorum_off_with_fencing_dont_care_is_an_error() {
        let json = QUORUM.replace("\"majority\"", "\"off\"");
        assert_eq!(
            parse_show(&json, "r0").unwrap_err(),
            "quorum is 'off', but also fencing is 'dont-care'"
        );
    }

    #[test]
    fn missing_connections_is_fencing_not_an_error() {
        let json = r#"[{"resource":"r0","options":{"auto-promote":false,"quorum":"off"}}]"#;
        assert_eq!(parse_show(json, "r0").unwrap().0, SplitBrainPolicy::Fencing);
    }

    #[test]
    fn another_resource_or_garbage_is_an_error() {
        assert!(parse_show(QUORUM, "r1").is_err());
        assert!(parse_show("nope", "r0").is_err());
        assert!(parse_show("[]", "r0").is_err());
    }
}
