//! Plugins: the registry of implemented plugin types and the typed instances a configuration
//! asks for. The contract every type implements is crate `drbd_reactor_plugin`
//! ([`drbd_reactor_plugin::Plugin`]); see ARCHITECTURE.md "The plugin contract".
//!
//! Adding a plugin type = its folder (a crate under `crates/plugins/`, or a module here) with
//! `impl Plugin`, plus one line in [`REGISTRY`]. Must never: start anything (that is [`host`]).

pub mod host;

/// The debugger's crate, under the path it had when it lived here.
pub use drbd_reactor_debugger as debugger;

use drbd_reactor_config::{Config, ConfigError, Located, Origin};
use drbd_reactor_plugin::{register, AnyPlugin, Registration, SelfMetrics};
use std::sync::Arc;

pub const TARGET: &str = "drbd_reactor::plugin";

/// The implemented plugin types, one line each.
pub const REGISTRY: &[Registration] = &[
    register::<debugger::Debugger>(),
    register::<drbd_reactor_umh::plugin::Umh>(),
    register::<drbd_reactor_prometheus::plugin::Prometheus>(),
    register::<drbd_reactor_agentx::plugin::Agentx>(),
    register::<drbd_reactor_promoter::plugin::Promoter>(),
];

/// Every registered type adds its self-metrics (they exist, at 0, before any run).
pub fn register_metrics(metrics: &SelfMetrics) {
    for r in REGISTRY {
        (r.register_metrics)(metrics);
    }
}

/// One desired instance and where it is configured.
#[derive(Debug, Clone)]
pub struct Configured {
    pub config: Arc<dyn AnyPlugin>,
    pub origin: Origin,
}

/// Turns every plugin section of `config` into a typed instance. Fails on a type that is not
/// implemented, a bad value (file:line:key), or two identical instances.
pub fn from_config(config: &Config) -> Result<(Vec<Configured>, Vec<Located>), ConfigError> {
    let mut out: Vec<Configured> = Vec::new();
    let mut sections = Vec::new();
    let mut warnings = Vec::new();
    for section in &config.plugins {
        let Some(registration) = REGISTRY.iter().find(|r| r.kind == section.kind) else {
            return Err(ConfigError::at(
                section.origin.clone(),
                None,
                format!("plugin type '{}' is not implemented yet", section.kind),
            )
            .with_source_text(&section.source_text));
        };
        let (typed, w) = (registration.parse)(section)?;
        warnings.extend(w);
        if let Some(first) = out.iter().find(|c| *c.config == *typed) {
            return Err(ConfigError::at(
                section.origin.clone(),
                None,
                format!(
                    "duplicate plugin instance: this [[{}]] is identical (after defaults) to the one at {}",
                    section.kind, first.origin
                ),
            )
            .with_source_text(&section.source_text));
        }
        out.push(Configured {
            config: typed,
            origin: section.origin.clone(),
        });
        sections.push(section);
    }
    for registration in REGISTRY {
        let of_kind: Vec<usize> = (0..out.len())
            .filter(|&i| out[i].config.kind() == registration.kind)
            .collect();
        let instances: Vec<&dyn AnyPlugin> = of_kind.iter().map(|&i| &*out[i].config).collect();
        if let Some((index, finding)) = (registration.check_together)(&instances).into_iter().next()
        {
            let section = sections[of_kind[index]];
            let origin = match &finding.key {
                Some(k) => section.origin_of(k),
                None => section.origin.clone(),
            };
            return Err(ConfigError::at(
                origin,
                finding.key,
                format!("[[{}]]: {}", registration.kind, finding.message),
            )
            .with_source_text(&section.source_text));
        }
    }
    Ok((out, warnings))
}

/// Lets every plugin type clean up after a (re)configuration, each in its own task (e.g. the
/// promoter deletes the drop-ins of resources no longer configured).
pub fn after_reconfigure(configured: &[Configured]) {
    for registration in REGISTRY {
        let instances: Vec<Arc<dyn AnyPlugin>> = configured
            .iter()
            .filter(|c| c.config.kind() == registration.kind)
            .map(|c| Arc::clone(&c.config))
            .collect();
        tokio::spawn((registration.after_reconfigure)(instances));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<Configured>, String> {
        let (c, _) = load_with_warnings(text)?;
        Ok(c)
    }

    fn load_with_warnings(text: &str) -> Result<(Vec<Configured>, Vec<String>), String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        std::fs::write(&path, text).unwrap();
        let config = drbd_reactor_config::load(&path).map_err(|e| e.to_string())?;
        let strip = |s: String| s.replace(&path.display().to_string(), "r.toml");
        from_config(&config)
            .map(|(c, w)| (c, w.into_iter().map(|w| strip(w.to_string())).collect()))
            .map_err(|e| strip(e.to_string()))
    }

    #[test]
    fn every_plugin_type_the_config_knows_is_registered() {
        for kind in drbd_reactor_config::PluginKind::ALL {
            assert!(REGISTRY.iter().any(|r| r.kind == kind), "{kind}");
        }
    }

    #[test]
    fn one_resource_in_two_promoters_is_an_error_at_the_second() {
        let err = load(
            "[[promoter]]\n[promoter.resources.r0]\nstart = [\"a.service\"]\n\n[[promoter]]\n[promoter.resources.r0]\nstart = [\"b.service\"]\n",
        )
        .unwrap_err();
        assert!(err.starts_with("r.toml:6:21: key 'resources.r0'"), "{err}");
        assert!(err.contains("already managed"), "{err}");
    }

    #[test]
    fn identical_instances_after_defaults_are_duplicates() {
        let err = load("[[debugger]]\n[[debugger]]\nformat = \"verbose\"\n").unwrap_err();
        let first = err.lines().next().unwrap();
        assert!(
            first.starts_with("r.toml:2:1: duplicate plugin instance"),
            "{err}"
        );
        assert!(first.ends_with("the one at r.toml:1"), "{err}");
        assert!(err.contains("2 | [[debugger]]"), "the line is shown: {err}");
    }

    #[test]
    fn instances_differing_in_a_value_are_distinct() {
        let c = load("[[debugger]]\n[[debugger]]\nformat = \"compact\"\n").unwrap();
        assert_eq!(c.len(), 2);
        assert!(*c[0].config != *c[1].config);
    }

    #[test]
    fn wrong_type_in_a_debugger_section_names_the_key_line() {
        let err = load("[[debugger]]\nformat = 3\n").unwrap_err();
        assert!(err.starts_with("r.toml:2:1: key 'format'"), "{err}");
    }

    #[test]
    fn the_toml_dump_parses_back_to_an_equal_instance() {
        let c = load("[[debugger]]\nid = \"x\"\nformat = \"compact\"\n").unwrap();
        let text = c[0].config.to_toml().unwrap();
        assert!(text.starts_with("[[debugger]]\n"), "{text}");
        let again = load(&text).unwrap();
        assert!(*again[0].config == *c[0].config);
    }

    #[test]
    fn the_deprecated_id_key_warns_at_its_line() {
        let (_, w) = load_with_warnings("[[debugger]]\nid = \"x\"\n").unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("r.toml:2: key 'id'"), "{w:?}");
        assert!(w[0].contains("deprecated"), "{w:?}");
    }

    #[test]
    fn every_registered_type_has_its_own_section() {
        let mut kinds: Vec<_> = REGISTRY.iter().map(|r| r.kind).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), REGISTRY.len());
    }
}
