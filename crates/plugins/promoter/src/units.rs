//! Unit names (spec §3): systemd's unit-name escaping, the names of the target, promote and
//! escalation units, and the resolution of start entries (plain units and `ocf:` entries).
//!
//! Pure. Must never: differ from `systemd-escape` (users' scripts and drbd-reactorctl address
//! these units by name), or look at the file system.

/// `systemd-escape` without `--path` (§3.4).
pub fn escape_unit(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b':' | b'_' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The escaping of `Environment=` values (§3.5 `ENVESC`), with `%` written `%%` so systemd's
/// specifier expansion gives back a literal `%` (errata A2).
pub fn escape_env(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'%' => out.push_str("%%"),
            b'.' | b'/' | b':' | b'_' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// `drbd-services@ESC(RES).target`
pub fn target(res: &str) -> String {
    format!("drbd-services@{}.target", escape_unit(res))
}

/// `drbd-promote@ESC(RES).service`
pub fn promote(res: &str) -> String {
    format!("drbd-promote@{}.service", escape_unit(res))
}

/// `drbd-demote-or-escalate@ESC(RES).service`
pub fn escalate(res: &str) -> String {
    format!("drbd-demote-or-escalate@{}.service", escape_unit(res))
}

/// A start entry resolved to the unit that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartUnit {
    /// The unit name with its suffix (`app.service`, `ocf.rs@p_ip_my\x2dres.service`).
    pub name: String,
    /// `Environment=` entries of an OCF unit, already escaped; empty for plain units.
    pub environment: Vec<String>,
    /// True for an `ocf:` entry (its drop-in gets a `[Service]` section).
    pub ocf: bool,
}

impl StartUnit {
    pub fn is_mount(&self) -> bool {
        self.name.ends_with(".mount")
    }
}

/// Why a start list does not resolve; `index` is the offending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    pub index: usize,
    pub message: String,
}

/// Resolves one trimmed start entry (§3.5). `Ok(None)` never happens: a non-OCF entry is the
/// unit itself.
pub fn resolve_entry(res: &str, entry: &str) -> Result<StartUnit, String> {
    let entry = entry.trim();
    let Some((vendor, agent, args)) = split_ocf(entry) else {
        // No unit name has whitespace: this was meant as an agent, with an empty vendor or
        // agent name (`ocf:heartbeat:IPaddr2: ip ...`). The original took it for a unit
        // name (or an agent path ending in ':') that could only fail at run time.
        if entry.starts_with("ocf:") && entry.contains(char::is_whitespace) {
            return Err(format!(
                "'{entry}' is not an OCF entry: expected 'ocf:VENDOR:AGENT NAME [KEY=VALUE ...]' with a vendor and an agent name"
            ));
        }
        return Ok(StartUnit {
            name: entry.to_string(),
            environment: Vec::new(),
            ocf: false,
        });
    };
    let words = shlex::split(args)
        .ok_or_else(|| format!("could not split the arguments of '{entry}' into shell words"))?;
    let mut words = words.into_iter();
    let id = words
        .next()
        .ok_or_else(|| "agent needs at least one argument (its name)".to_string())?;
    let mut environment: Vec<String> = words
        .map(|w| match w.split_once('=') {
            Some((k, v)) => format!("OCF_RESKEY_{k}={}", escape_env(v)),
            None => format!("OCF_RESKEY_{w}="),
        })
        .collect();
    environment.push(format!(
        "AGENT=/usr/lib/ocf/resource.d/{}/{}",
        escape_env(vendor),
        escape_env(agent)
    ));
    Ok(StartUnit {
        name: format!("ocf.rs@{}.service", escape_unit(&format!("{id}_{res}"))),
        environment,
        ocf: true,
    })
}

/// `^ocf:(\S+):(\S+)\s+(.*)$` with a greedy vendor group: the last colon before the first
/// whitespace separates vendor and agent.
fn split_ocf(entry: &str) -> Option<(&str, &str, &str)> {
    let rest = entry.strip_prefix("ocf:")?;
    let ws = rest.find(char::is_whitespace)?;
    let (head, tail) = rest.split_at(ws);
    let colon = head.rfind(':')?;
    let (vendor, agent) = (&head[..colon], &head[colon + 1..]);
    if vendor.is_empty() || agent.is_empty() {
        return None;
    }
    Some((vendor, agent, tail.trim_start()))
}

/// Resolves a systemd runner's start list; the first bad entry is the error (messages as the
/// original's, §2.2 and errata B).
pub fn resolve_start_list(res: &str, start: &[String]) -> Result<Vec<StartUnit>, StartError> {
    let mut units: Vec<StartUnit> = Vec::with_capacity(start.len());
    for (index, entry) in start.iter().enumerate() {
        let unit = resolve_entry(res, entry).map_err(|message| StartError { index, message })?;
        if unit.name.contains('/') {
            return Err(StartError {
                index,
                message: format!(
                    "Service name '{0}' contains a '/'; If this is a mount unit please use \"systemd-escape --path --suffix=mount '{0}'\"",
                    unit.name
                ),
            });
        }
        if units.iter().any(|u| u.name == unit.name) {
            return Err(StartError {
                index,
                message: format!("Service name '{}' already used", unit.name),
            });
        }
        units.push(unit);
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_spec_examples() {
        assert_eq!(escape_unit("my-res.1_x/y:z"), "my\\x2dres.1_x-y:z");
        assert_eq!(escape_unit(".hidden"), "\\x2ehidden");
        assert_eq!(escape_unit("res-1"), "res\\x2d1");
        assert_eq!(escape_unit(""), "");
    }

    #[test]
    fn ocf_golden_example_of_the_original() {
        let args = "ocf:vendor1:agent1 name1\nk1=v1 \nk2=\"with whitespace\" k3=with\\ different\\ whitespace foo empty='' pass='*pass/'";
        let u = resolve_entry("res1", args).unwrap();
        assert_eq!(u.name, "ocf.rs@name1_res1.service");
        assert_eq!(
            u.environment,
            vec![
                "OCF_RESKEY_k1=v1",
                "OCF_RESKEY_k2=with\\x20whitespace",
                "OCF_RESKEY_k3=with\\x20different\\x20whitespace",
                "OCF_RESKEY_foo=",
                "OCF_RESKEY_empty=",
                "OCF_RESKEY_pass=\\x2apass/",
                "AGENT=/usr/lib/ocf/resource.d/vendor1/agent1",
            ]
        );
        let u = resolve_entry("res-1", "ocf:v:a name-1").unwrap();
        assert_eq!(u.name, "ocf.rs@name\\x2d1_res\\x2d1.service");
    }

    #[test]
    fn percent_in_ocf_values_is_doubled_for_systemd_specifiers() {
        let u = resolve_entry("r", "ocf:heartbeat:Dummy p fake='a%b c'").unwrap();
        assert_eq!(u.environment[0], "OCF_RESKEY_fake=a%%b\\x20c");
    }

    #[test]
    fn ocf_entry_without_arguments_is_a_plain_unit_name() {
        let u = resolve_entry("r", "ocf:heartbeat:IPaddr2").unwrap();
        assert_eq!(u.name, "ocf:heartbeat:IPaddr2");
        assert!(!u.ocf);
    }

    #[test]
    fn an_ocf_entry_with_arguments_but_an_empty_vendor_or_agent_is_an_error() {
        for entry in [
            "ocf:heartbeat:IPaddr2: p_ip ip=10.0.0.1",
            "ocf:a:: id",
            "ocf::IPaddr2 id",
            "ocf:IPaddr2 id",
        ] {
            let e = resolve_entry("r", entry).unwrap_err();
            assert!(e.contains("is not an OCF entry"), "{entry}: {e}");
        }
    }

    #[test]
    fn last_colon_separates_vendor_and_agent() {
        let u = resolve_entry("r", "ocf:a:b:c id").unwrap();
        assert_eq!(u.environment, vec!["AGENT=/usr/lib/ocf/resource.d/a:b/c"]);
    }

    #[test]
    fn unbalanced_quote_and_missing_id_are_errors() {
        assert!(resolve_entry("r", "ocf:v:a id k='x").is_err());
        assert_eq!(
            resolve_entry("r", "ocf:v:a   ''").unwrap().name,
            "ocf.rs@_r.service"
        );
    }

    #[test]
    fn slash_and_duplicates_are_rejected_naming_the_entry() {
        let e =
            resolve_start_list("r", &["a.service".into(), "/var/lib/x.mount".into()]).unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e
            .message
            .starts_with("Service name '/var/lib/x.mount' contains a '/'"));
        let e = resolve_start_list(
            "r",
            &["a.service".into(), "b.service".into(), " a.service".into()],
        )
        .unwrap_err();
        assert_eq!(e.index, 2);
        assert_eq!(e.message, "Service name 'a.service' already used");
    }
}
