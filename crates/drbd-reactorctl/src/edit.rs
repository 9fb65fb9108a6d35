//! `edit` (spec ctl.md §4.4 and errata C): templates, the `#|` header, validation with the
//! daemon's config code, the editor loop on a temporary file in the snippets directory and
//! the atomic rename. Must never touch the target file before a valid version was saved, and
//! never let error text leak into the snippet.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command as Process;

use anyhow::Context;

use crate::cli::PluginType;
use crate::snippet::{self, Plugin};

pub const HEADER: &str =
    "#| Please edit the snippet below. Lines beginning with a '#|' will be ignored,
#| and an empty file will abort the edit. If an error occurs while saving this file will be
#| reopened with the relevant failures.
#|
";

pub const MOUNT_TOPMOST: &str =
    "Mount unit should not be the topmost unit, consider using an OCF file system RA";

pub fn template(kind: PluginType) -> &'static str {
    match kind {
        PluginType::Promoter => r#"[[promoter]]
[promoter.resources.$resname]
start = ["$service.mount", "$service.service"]
# on-drbd-demote-failure = "reboot"
# stop-services-on-exit = false
# on-disk-detach = "ignore"
#
# for more complex setups like HA iSCSI targets, NFS exports, or NVMe-oF targets consider
# https://github.com/LINBIT/linstor-gateway which uses LINSTOR and drbd-reactor"#,
        PluginType::Prometheus => "[[prometheus]]\nenums = true\n# address = \":9942\"",
        PluginType::Agentx => r#"[[agentx]]
## adress of the main SNMP daemon AgentX TCP socket
# address = "localhost:705"
# cache-max = 60 # seconds
# agent-timeout = 60 # seconds snmpd waits for an answer
# peer-states = true # include peer connection and disk states"#,
        PluginType::Umh => r#"[[umh]]
[[umh.resource]]
command = "slack.sh $DRBD_RES_NAME on $(uname -n) from $DRBD_OLD_ROLE to $DRBD_NEW_ROLE"
event-type = "Change"
old.role = { operator = "NotEquals", value = "Primary" }
new.role = "Primary"
# This is a trivial resource rule example, please see drbd-reactor.umh(5) for more examples"#,
        PluginType::Debugger => "[[debugger]]\n# NOTE: make sure the log level in your [[log]] section is at least on level 'debug'",
    }
}

fn kind_name(kind: PluginType) -> &'static str {
    match kind {
        PluginType::Promoter => "promoter",
        PluginType::Prometheus => "prometheus",
        PluginType::Agentx => "agentx",
        PluginType::Umh => "umh",
        PluginType::Debugger => "debugger",
    }
}

/// The header for a round: `Happy editing:` first, `Error: <message>` (every line
/// prefixed) after a failed round.
pub fn header(error: Option<&str>) -> String {
    let mut out = HEADER.to_string();
    match error {
        None => out.push_str("#| Happy editing:\n"),
        Some(message) => {
            for (i, line) in message.lines().enumerate() {
                let lead = if i == 0 { "Error: " } else { "" };
                out.push_str(&format!("#| {lead}{line}\n"));
            }
        }
    }
    out
}

/// Removes every line starting with `#|`.
pub fn strip_header(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with("#|"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Validation result: Ok with warnings to print, or the error message.
pub fn validate(
    path: &Path,
    text: &str,
    kind: Option<PluginType>,
    force: bool,
) -> Result<Vec<String>, String> {
    // Typed by each plugin's own code first: what the daemon would refuse is refused here.
    let typed_warnings = crate::typed::check(path, text).map_err(|e| e.to_string())?;
    let plugins = snippet::parse(path, text).map_err(|e| e.to_string())?;
    if plugins.len() != 1 {
        return Err(format!(
            "Expected exactly 1 plugin configuration, found {}",
            plugins.len()
        ));
    }
    let plugin = &plugins[0];
    if let Some(kind) = kind {
        if plugin.kind().as_str() != kind_name(kind) {
            return Err(format!(
                "Expected exactly one {} plugin, found a {} plugin (use --type {})",
                kind_name(kind),
                plugin.kind(),
                plugin.kind()
            ));
        }
    }
    // The daemon's topmost-mount warning is ctl's own check below (an error without --force).
    let mut warnings: Vec<String> = typed_warnings
        .iter()
        .filter(|w| !w.message.contains(MOUNT_TOPMOST))
        .map(ToString::to_string)
        .collect();
    if let Plugin::Promoter(promoter) = plugin {
        for (res, conf) in &promoter.resources {
            for entry in &conf.start {
                crate::units::start_unit(entry, res)?;
            }
            if conf
                .start
                .last()
                .is_some_and(|last| last.trim().ends_with(".mount"))
            {
                if !force {
                    return Err(format!(
                        "{MOUNT_TOPMOST} (resource '{res}'; --force accepts it)"
                    ));
                }
                warnings.push(MOUNT_TOPMOST.to_string());
            }
        }
    }
    Ok(warnings)
}

/// The editor command line: `$VISUAL`, else `$EDITOR`, else `vi` (run through `sh -c` so
/// values with arguments such as `code -w` work).
fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "vi".into())
}

fn run_editor(file: &Path) -> Result<(), String> {
    let status = Process::new("sh")
        .arg("-c")
        .arg(format!("{} \"$@\"", editor()))
        .arg("editor")
        .arg(file)
        .status()
        .map_err(|e| format!("Could not execute: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("editor failed ({status})"))
    }
}

fn umask() -> u32 {
    // SAFETY: umask(2) set and restored; ctl is single-threaded here.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

/// Edits one snippet; returns when the rename of a new version onto it began (a
/// `reload::now_ns()` taken before it), None if nothing was saved.
pub fn edit_one(
    dir: &Path,
    target: &Path,
    kind: Option<PluginType>,
    force: bool,
) -> anyhow::Result<Option<u128>> {
    let existing = match std::fs::read_to_string(target) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("Could not read '{}'", target.display())),
    };
    let mode = match &existing {
        Some(_) => std::fs::metadata(target)?.permissions().mode() & 0o7777,
        None => 0o666 & !umask(),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .rand_bytes(6)
        .tempfile_in(dir)
        .with_context(|| format!("Could not create a temporary file in '{}'", dir.display()))?;
    let before = existing.as_deref().unwrap_or("").trim().to_string();
    let mut content = existing
        .clone()
        .unwrap_or_else(|| template(kind.unwrap_or(PluginType::Promoter)).to_string());
    let initial = content.trim().to_string();
    let mut error: Option<String> = None;
    let mut last_failed: Option<String> = None;
    loop {
        std::fs::write(tmp.path(), format!("{}{content}", header(error.as_deref())))?;
        let edited = run_editor(tmp.path());
        let text = match std::fs::read(tmp.path()) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    // Not an empty file (that would delete the work): the operator's bytes are
                    // kept as they are, and nothing is saved.
                    let bytes = e.as_bytes();
                    let valid = e.utf8_error().valid_up_to();
                    let line = bytes[..valid].iter().filter(|b| **b == b'\n').count() + 1;
                    let draft = tmp.into_temp_path().keep()?;
                    anyhow::bail!(
                        "the edit of '{}' is not valid UTF-8 (line {line}, byte {}): nothing saved, your version is kept in '{}'",
                        target.display(),
                        valid + 1,
                        draft.display()
                    );
                }
            },
            // an editor that removed the file saved nothing: the empty-file abort below
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(e).with_context(|| format!("Could not read '{}'", tmp.path().display()))
            }
        };
        content = strip_header(&text);
        std::fs::write(tmp.path(), &content)?;
        let after = content.trim();
        if after.is_empty() {
            crate::color::warn("Edit aborted, empty file saved");
            return Ok(None);
        }
        if after == before {
            // The spec's words (must-match), with C9's meaning: nothing changed from the original.
            crate::color::warn("Edit aborted, no new changes have been made");
            return Ok(None);
        }
        let editor_ok = edited.is_ok();
        let kind = kind.or_else(|| existing_kind(&existing));
        let verdict = edited.and_then(|()| validate(target, &content, kind, force));
        match verdict {
            Ok(warnings) => {
                for w in warnings {
                    crate::color::warn(&w);
                }
                break;
            }
            Err(message) => {
                if last_failed.as_deref() == Some(after) {
                    // The error is said here too: with an editor that fails at once (not
                    // installed, returns before the file is saved) the user never saw it.
                    if after == initial {
                        crate::color::warn(&format!(
                            "Edit aborted, saved again without changes after an error: {message}"
                        ));
                        return Ok(None);
                    }
                    let draft = tmp.into_temp_path().keep()?;
                    crate::color::warn(&format!(
                        "Edit aborted, saved again without changes after an error: {message}; your version is kept in '{}'",
                        draft.display()
                    ));
                    return Ok(None);
                }
                last_failed = Some(after.to_string());
                error = Some(if editor_ok {
                    in_reopened_file(target, &content, kind, force, message)
                } else {
                    message
                });
            }
        }
    }
    // By path, not through the temporary file's handle: an editor that saves by writing a new
    // file and renaming it over this one (vim, emacs) left that handle on the discarded inode.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))?;
    std::fs::File::open(tmp.path())?.sync_all()?;
    let saved_at = crate::reload::now_ns();
    tmp.persist(target)
        .with_context(|| format!("Could not rename the edited file to '{}'", target.display()))?;
    let _ = std::io::stdout().flush();
    Ok(Some(saved_at))
}

/// A validation error of `content` as the next round shows it: its line numbers (the
/// located `<path>:<line>:` and the excerpt's gutter) are those of the reopened file, below a
/// header of `HEADER` plus one line per line of the error, not those of `content` alone.
/// `content` is validated again below as many comment lines, so the daemon's own code numbers
/// the lines; until the error's length agrees with the header it was numbered for.
fn in_reopened_file(
    path: &Path,
    content: &str,
    kind: Option<PluginType>,
    force: bool,
    message: String,
) -> String {
    let mut message = message;
    for _ in 0..4 {
        let numbered_for = message.lines().count();
        let padding = "#\n".repeat(HEADER.lines().count() + numbered_for);
        match validate(path, &format!("{padding}{content}"), kind, force) {
            Err(again) if again.lines().count() == numbered_for => return again,
            Err(again) => message = again,
            // comment lines change nothing; should it pass, the error is kept as it was
            Ok(_) => return message,
        }
    }
    message
}

/// The type of an existing snippet's single plugin: editing it must keep that type.
fn existing_kind(existing: &Option<String>) -> Option<PluginType> {
    let text = existing.as_deref()?;
    let plugins = snippet::parse(Path::new("existing"), text).ok()?;
    match plugins.as_slice() {
        [only] => Some(match only {
            Plugin::Promoter(_) => PluginType::Promoter,
            Plugin::Prometheus { .. } => PluginType::Prometheus,
            Plugin::Debugger => PluginType::Debugger,
            Plugin::Umh => PluginType::Umh,
            Plugin::Agentx { .. } => PluginType::Agentx,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_errors_are_prefixed_on_every_line_and_stripped_again() {
        let h = header(Some("line one\nline two"));
        assert!(h.ends_with("#| Error: line one\n#| line two\n"));
        assert_eq!(
            strip_header(&format!("{h}[[debugger]]\n")),
            "[[debugger]]\n"
        );
    }

    #[test]
    fn templates_do_not_validate_unchanged_but_debugger_and_prometheus_do() {
        let p = Path::new("/d/x.toml");
        assert!(validate(
            p,
            template(PluginType::Promoter),
            Some(PluginType::Promoter),
            false
        )
        .is_err());
        assert!(validate(
            p,
            template(PluginType::Prometheus),
            Some(PluginType::Prometheus),
            false
        )
        .is_ok());
        assert!(validate(
            p,
            template(PluginType::Debugger),
            Some(PluginType::Debugger),
            false
        )
        .is_ok());
        assert!(validate(
            p,
            template(PluginType::Agentx),
            Some(PluginType::Agentx),
            false
        )
        .is_ok());
        assert!(validate(p, template(PluginType::Umh), Some(PluginType::Umh), false).is_ok());
    }

    #[test]
    fn one_plugin_of_the_type_and_no_topmost_mount_unless_forced() {
        let p = Path::new("/d/x.toml");
        let two = "[[debugger]]\n[[umh]]\n";
        assert!(validate(p, two, None, true)
            .unwrap_err()
            .contains("exactly 1 plugin"));
        assert!(validate(p, "[[debugger]]\n", Some(PluginType::Umh), false)
            .unwrap_err()
            .contains("umh"));
        let mount = "[[promoter]]\n[promoter.resources.r]\nstart = [\"a.service\", \"b.mount\"]\n";
        assert!(validate(p, mount, None, false)
            .unwrap_err()
            .starts_with(MOUNT_TOPMOST));
        assert_eq!(
            validate(p, mount, None, true).unwrap(),
            vec![MOUNT_TOPMOST.to_string()]
        );
        let typo = "[[prometheus]]\nenums = \"yes\"\n";
        let e = validate(p, typo, None, true).unwrap_err();
        assert!(e.starts_with("/d/x.toml:2"), "what the daemon refuses: {e}");
        let global = "snippets = \"/x\"\n[[debugger]]\n";
        assert!(validate(p, global, None, false)
            .unwrap_err()
            .contains("global keys"));
    }
}
