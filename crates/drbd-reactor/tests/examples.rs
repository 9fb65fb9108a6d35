//! The shipped examples cannot rot: every snippet in examples/snippets/ is read by the
//! daemon's own config code without a warning, and every key it shows (set or commented out)
//! is documented in the plugin's manual page, as is every key of the main example.

use drbd_reactor_config::PluginKind;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Every plugin type's example is loaded by the daemon.
const LOADED_BY_THE_DAEMON: [&str; 5] = ["debugger", "prometheus", "agentx", "umh", "promoter"];

#[test]
fn every_implemented_plugin_example_loads_with_the_daemons_config_code_without_warnings() {
    for kind in LOADED_BY_THE_DAEMON {
        let path = root(&format!("examples/snippets/{kind}.toml"));
        let (config, plugins, warnings) =
            drbd_reactor::daemon::read_config(&path).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(plugins.len(), 1, "{kind}: one instance");
        assert!(warnings.is_empty(), "{kind}: {warnings:?}");
        let kind = PluginKind::from_key(kind).unwrap();
        assert_eq!(config.plugins_of(kind).count(), 1);
    }
}

#[test]
fn the_promoter_example_parses_as_one_promoter_section_without_unknown_keys() {
    let path = root("examples/snippets/promoter.toml");
    let config = drbd_reactor_config::load(&path).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let sections: Vec<_> = config.plugins_of(PluginKind::Promoter).collect();
    assert_eq!(sections.len(), 1);
    let resources = sections[0].table["resources"].as_table().unwrap();
    let r0 = resources["r0"].as_table().unwrap();
    // the keys of promoter spec §2.2 (on-stop-failure is deprecated: commented out)
    let spec: BTreeSet<&str> = [
        "start",
        "stop",
        "runner",
        "dependencies-as",
        "target-as",
        "on-drbd-demote-failure",
        "secondary-force",
        "stop-services-on-exit",
        "sleep-before-promote-factor",
        "preferred-nodes",
        "preferred-nodes-policy",
        "on-quorum-loss",
        "on-disk-detach",
        "fencing-promote-delay",
        "adjust-resource-on-start",
    ]
    .into();
    let keys: BTreeSet<&str> = r0.keys().map(String::as_str).collect();
    assert_eq!(keys, spec);
}

/// Every key of a TOML file: set ones (dotted paths' last parts and table names) and
/// commented-out `# key = ...` lines.
fn keys_of(text: &str) -> BTreeSet<String> {
    fn walk(value: &toml::Value, out: &mut BTreeSet<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    out.insert(k.clone());
                    walk(v, out);
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&toml::Value::Table(text.parse().unwrap()), &mut out);
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# ") else {
            continue;
        };
        if let Some((key, _)) = rest.split_once(" = ") {
            if key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c == '.')
            {
                out.insert(key.rsplit('.').next().unwrap().to_string());
            }
        }
    }
    out
}

/// The page's text with groff's escaped hyphens made plain.
fn page(name: &str) -> String {
    std::fs::read_to_string(root(&format!("man/{name}")))
        .unwrap_or_else(|e| panic!("man/{name}: {e}"))
        .replace("\\-", "-")
}

fn undocumented(keys: &BTreeSet<String>, page: &str) -> Vec<String> {
    // the plugin's own section name and user-chosen names (resource r0, env variables) are
    // not keys of the format
    let names = ["r0", "NOTIFY", "TIMEOUT"];
    keys.iter()
        .filter(|k| !names.contains(&k.as_str()))
        // a key in bold, or a table or array of tables by its header ([[log]], [[umh.device]])
        .filter(|k| !page.contains(&format!("\\fB{k}\\fR")) && !page.contains(&format!("{k}]")))
        .cloned()
        .collect()
}

#[test]
fn every_key_of_every_plugin_example_is_documented_in_its_manual_page() {
    for kind in PluginKind::ALL {
        let text =
            std::fs::read_to_string(root(&format!("examples/snippets/{kind}.toml"))).unwrap();
        let keys = keys_of(&text);
        assert!(
            keys.contains(kind.as_str()),
            "{kind}: the example has a [[{kind}]] section"
        );
        let page = page(&format!("drbd-reactor.{kind}.5"));
        let missing = undocumented(&keys, &page);
        assert!(
            missing.is_empty(),
            "drbd-reactor.{kind}(5) lacks {missing:?}"
        );
    }
}

#[test]
fn every_key_of_the_main_example_is_documented_in_drbd_reactor_toml_5() {
    let text = std::fs::read_to_string(root("examples/drbd-reactor.toml")).unwrap();
    let keys = keys_of(&text);
    for key in [
        "snippets",
        "statistics-poll-interval",
        "snippets-monitoring-interval",
        "log",
        "level",
        "file",
    ] {
        assert!(keys.contains(key), "the main example shows {key}");
    }
    let missing = undocumented(&keys, &page("drbd-reactor.toml.5"));
    assert!(missing.is_empty(), "drbd-reactor.toml(5) lacks {missing:?}");
}

/// The EXAMPLES of a manual page that are configuration (not a shell command), with groff's
/// escapes made plain.
fn config_examples(page_text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    for line in page_text.lines() {
        match (line, &mut block) {
            (".EX", None) => block = Some(String::new()),
            (".EE", Some(_)) => blocks.extend(block.take()),
            (line, Some(text)) => {
                let plain = line
                    .replace("\\(dq", "\"")
                    .replace("\\(aq", "'")
                    .replace("\\e", "\\");
                text.push_str(&plain);
                text.push('\n');
            }
            _ => {}
        }
    }
    blocks.retain(|b| b.lines().any(|l| l.contains(" = ")));
    blocks
}

#[test]
fn every_configuration_example_of_a_manual_page_loads_with_the_daemons_config_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for kind in PluginKind::ALL {
        let name = format!("drbd-reactor.{kind}.5");
        for (i, example) in config_examples(&page(&name)).iter().enumerate() {
            let path = dir.path().join(format!("{kind}-{i}.toml"));
            std::fs::write(&path, example).unwrap();
            let (_, plugins, warnings) = drbd_reactor::daemon::read_config(&path)
                .unwrap_or_else(|e| panic!("{name}, example {i}: {e}\n{example}"));
            assert!(
                !plugins.is_empty(),
                "{name}, example {i}: no plugin\n{example}"
            );
            assert!(warnings.is_empty(), "{name}, example {i}: {warnings:?}");
            checked += 1;
        }
    }
    let main = config_examples(&page("drbd-reactor.toml.5"));
    let snippets = dir.path().join("snippets");
    std::fs::create_dir(&snippets).unwrap();
    for example in &main {
        let path = dir.path().join("main.toml");
        let example = example.replace("/etc/drbd-reactor.d", snippets.to_str().unwrap());
        std::fs::write(&path, example).unwrap();
        drbd_reactor_config::load(&path).unwrap_or_else(|e| panic!("drbd-reactor.toml(5): {e}"));
    }
    assert!(
        checked >= 5 && !main.is_empty(),
        "{checked} plugin examples found"
    );
}
