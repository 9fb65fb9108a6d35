//! The external programs ctl talks to: systemctl (show, start, stop, reload, is-active),
//! drbdsetup status --json, uname -n. Found through PATH. Parsing of their output is pure
//! and lives here with its tests; must never retry or sleep.

use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde::Serialize;

/// systemd ActiveState. `refreshing` (newer systemd) and anything unrecognised no longer
/// abort `status` (errata C): unrecognised values and failed queries are `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActiveState {
    Active,
    Reloading,
    Refreshing,
    Inactive,
    Failed,
    Activating,
    Deactivating,
    Maintenance,
    Unknown,
}

impl ActiveState {
    pub fn parse(value: &str) -> ActiveState {
        match value {
            "active" => ActiveState::Active,
            "reloading" => ActiveState::Reloading,
            "refreshing" => ActiveState::Refreshing,
            "inactive" => ActiveState::Inactive,
            "failed" => ActiveState::Failed,
            "activating" => ActiveState::Activating,
            "deactivating" => ActiveState::Deactivating,
            "maintenance" => ActiveState::Maintenance,
            _ => ActiveState::Unknown,
        }
    }
}

/// systemd FreezerState.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    Running,
    Freezing,
    Frozen,
    Thawing,
    Unknown,
}

impl FreezerState {
    pub fn parse(value: &str) -> FreezerState {
        match value {
            "running" => FreezerState::Running,
            "freezing" => FreezerState::Freezing,
            "frozen" => FreezerState::Frozen,
            "thawing" => FreezerState::Thawing,
            _ => FreezerState::Unknown,
        }
    }
}

/// The value of `<property>=<value>` in `systemctl show --property=<property>` output.
pub fn property_value<'a>(output: &'a str, property: &str) -> Option<&'a str> {
    output.lines().find_map(|line| {
        line.strip_prefix(property)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::trim)
    })
}

/// Runs `systemctl show --property=<property> <unit>`; None if it fails.
pub fn show(property: &str, unit: &str) -> Option<String> {
    let output = Command::new("systemctl")
        .arg("show")
        .arg(format!("--property={property}"))
        .arg(unit)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    property_value(&String::from_utf8_lossy(&output.stdout), property).map(str::to_string)
}

pub fn active_state(unit: &str) -> ActiveState {
    show("ActiveState", unit).map_or(ActiveState::Unknown, |v| ActiveState::parse(&v))
}

pub fn freezer_state(unit: &str) -> FreezerState {
    show("FreezerState", unit).map_or(FreezerState::Unknown, |v| FreezerState::parse(&v))
}

/// Runs `systemctl <args>` with inherited output; Err names the command if it fails.
pub fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("systemctl")
        .args(args)
        .stdin(Stdio::null())
        .status()
        .context("Could not execute 'systemctl'")?;
    if !status.success() {
        bail!("'systemctl {}' failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `systemctl <args>` quietly and tells whether it succeeded.
pub fn systemctl_quiet(args: &[&str]) -> anyhow::Result<bool> {
    let status = Command::new("systemctl")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("Could not execute 'systemctl'")?;
    Ok(status.success())
}

/// Where a resource is Primary, from `drbdsetup status --json <res>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrimaryOn {
    Local,
    Peer(String),
    Unknown,
}

/// Reads drbdsetup's JSON: the local role, else the first connection with a Primary peer.
pub fn primary_from_json(json: &str, resource: &str) -> PrimaryOn {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return PrimaryOn::Unknown;
    };
    let Some(res) = value.as_array().and_then(|all| {
        all.iter()
            .find(|r| r.get("name").and_then(|n| n.as_str()) == Some(resource))
            .or_else(|| all.first())
    }) else {
        return PrimaryOn::Unknown;
    };
    if res.get("role").and_then(|r| r.as_str()) == Some("Primary") {
        return PrimaryOn::Local;
    }
    res.get("connections")
        .and_then(|c| c.as_array())
        .and_then(|conns| {
            conns.iter().find_map(|c| {
                (c.get("peer-role").and_then(|r| r.as_str()) == Some("Primary"))
                    .then(|| c.get("name").and_then(|n| n.as_str()).map(str::to_string))
                    .flatten()
            })
        })
        .map_or(PrimaryOn::Unknown, PrimaryOn::Peer)
}

/// `drbdsetup status --json <res>`; any failure is `Unknown`.
pub fn primary_on(resource: &str) -> PrimaryOn {
    let output = Command::new("drbdsetup")
        .args(["status", "--json", resource])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            primary_from_json(&String::from_utf8_lossy(&out.stdout), resource)
        }
        _ => PrimaryOn::Unknown,
    }
}

/// `drbdsetup status --json <res>` for commands that act on the answer (`evict`): a failing
/// drbdsetup or output that is not JSON is an error naming the command and its output.
pub fn primary_checked(resource: &str) -> anyhow::Result<PrimaryOn> {
    let out = Command::new("drbdsetup")
        .args(["status", "--json", resource])
        .stdin(Stdio::null())
        .output()
        .context("Could not execute 'drbdsetup'")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "'drbdsetup status --json {resource}' not executed successfully ({}), stdout: '{}', stderr: '{}'",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if serde_json::from_str::<serde_json::Value>(&stdout).is_err() {
        bail!(
            "'drbdsetup status --json {resource}' printed no JSON: '{}'",
            stdout.trim()
        );
    }
    Ok(primary_from_json(&stdout, resource))
}

/// The node name (`uname -n`).
pub fn node_name() -> String {
    // SAFETY: uname fills the struct we own; the fields are NUL-terminated C strings.
    unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(uts.nodename.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_new_active_states_do_not_abort() {
        assert_eq!(ActiveState::parse("refreshing"), ActiveState::Refreshing);
        assert_eq!(ActiveState::parse("bogus"), ActiveState::Unknown);
        assert_eq!(FreezerState::parse(""), FreezerState::Unknown);
        assert_eq!(
            property_value("ActiveState=active\n", "ActiveState"),
            Some("active")
        );
        assert_eq!(property_value("Other=x\n", "ActiveState"), None);
    }

    #[test]
    fn primary_is_local_then_first_primary_peer_then_unknown() {
        let local = r#"[{"name":"r0","role":"Primary","connections":[]}]"#;
        assert_eq!(primary_from_json(local, "r0"), PrimaryOn::Local);
        let peer = r#"[{"name":"r0","role":"Secondary","connections":[
            {"name":"beta","peer-role":"Secondary"},{"name":"gamma","peer-role":"Primary"}]}]"#;
        assert_eq!(
            primary_from_json(peer, "r0"),
            PrimaryOn::Peer("gamma".into())
        );
        let none = r#"[{"name":"r0","role":"Secondary","connections":[]}]"#;
        assert_eq!(primary_from_json(none, "r0"), PrimaryOn::Unknown);
        assert_eq!(primary_from_json("garbage", "r0"), PrimaryOn::Unknown);
        assert_eq!(primary_from_json("[]", "r0"), PrimaryOn::Unknown);
    }
}
