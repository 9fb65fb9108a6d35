//! A snippet's plugin sections typed and checked by each plugin's own code, exactly as the
//! daemon types them (`drbd_reactor_plugin::contract::validate`): what `edit` must know before
//! it replaces a file, so that it never saves a snippet the daemon would refuse (a misspelt
//! enum value, a wrong type, an unknown key in a umh rule).
//!
//! Must never: make or start an instance (nothing of a plugin's run is linked in here), or
//! look beyond the one text it is given (checks across snippets are the daemon's).

use drbd_reactor_config::{ConfigError, Located, PluginInstance, PluginKind};
use drbd_reactor_plugin::contract::validate;
use std::path::Path;

/// Types every plugin section of `text` (the snippet `path`); the warnings, or the first
/// error, naming file, line and key.
pub fn check(path: &Path, text: &str) -> Result<Vec<Located>, ConfigError> {
    let config = drbd_reactor_config::parse_one(path, text, true)?;
    let mut warnings = config.warnings;
    for section in &config.plugins {
        warnings.extend(check_section(section)?);
    }
    Ok(warnings)
}

fn check_section(section: &PluginInstance) -> Result<Vec<Located>, ConfigError> {
    match section.kind {
        PluginKind::Debugger => validate::<drbd_reactor_debugger::Debugger>(section),
        PluginKind::Umh => validate::<drbd_reactor_umh::plugin::Umh>(section),
        PluginKind::Prometheus => validate::<drbd_reactor_prometheus::plugin::Prometheus>(section),
        PluginKind::Agentx => validate::<drbd_reactor_agentx::plugin::Agentx>(section),
        PluginKind::Promoter => validate::<drbd_reactor_promoter::plugin::Promoter>(section),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        check(Path::new("/d/x.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn values_the_daemon_refuses_are_errors_naming_file_line_and_key() {
        let e = error("[[promoter]]\n[promoter.resources.r0]\nstart = [\"a.service\"]\non-drbd-demote-failure = \"rebooot\"\n");
        assert!(e.starts_with("/d/x.toml:4"), "{e}");
        assert!(e.contains("on-drbd-demote-failure"), "{e}");
        let e = error("[[prometheus]]\nenums = \"yes\"\n");
        assert!(e.starts_with("/d/x.toml:2"), "{e}");
        assert!(e.contains("enums"), "{e}");
        let e = error("[[umh]]\n[[umh.resource]]\ncommand = \"true\"\nresource-nmae = \"r0\"\n");
        assert!(e.contains("resource-nmae"), "{e}");
        let e = error("[[debugger]]\nformat = \"json\"\n");
        assert!(e.starts_with("/d/x.toml:2"), "{e}");
        let e = error("[[agentx]]\nagent-timeout = 300\n");
        assert!(e.contains("agent-timeout"), "{e}");
    }

    #[test]
    fn accepted_sections_give_the_daemons_warnings() {
        let w = check(Path::new("/d/x.toml"), "[[debugger]]\nid = \"old\"\n").unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].to_string().contains("'id' is deprecated"), "{}", w[0]);
        let w = check(Path::new("/d/x.toml"), "[[prometheus]]\nenums = true\n").unwrap();
        assert!(w.is_empty(), "{w:?}");
    }
}
