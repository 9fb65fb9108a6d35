//! The configuration reference cannot fall behind the code: every key the plugins' config
//! types accept (their serde field names, read from the types themselves) is documented in
//! the plugin's manual page and shown in its example snippet. A new key without both fails.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A deserializer that only records the field names a struct asks for, then stops.
struct FieldNames<'a>(&'a mut Vec<&'static str>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.extend_from_slice(fields);
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The keys a config type `T` accepts (kebab-case, as written in the files).
fn keys<T: DeserializeOwned>() -> Vec<&'static str> {
    let mut fields = Vec::new();
    let _ = T::deserialize(FieldNames(&mut fields));
    assert!(
        !fields.is_empty(),
        "{} is not a struct",
        std::any::type_name::<T>()
    );
    fields
}

/// Test hooks of the debugger (feature fault-injection): never for operators.
const TEST_HOOKS: [&str; 4] = [
    "panic-on-change-of",
    "delay-per-update-ms",
    "slow-stop-ms",
    "stop-deadline-ms",
];

fn check(kind: &str, keys: &[&'static str]) {
    let page = std::fs::read_to_string(root(&format!("man/drbd-reactor.{kind}.5")))
        .unwrap()
        .replace("\\-", "-");
    let example = std::fs::read_to_string(root(&format!("examples/snippets/{kind}.toml"))).unwrap();
    let mut missing = BTreeSet::new();
    for key in keys.iter().filter(|k| !TEST_HOOKS.contains(k)) {
        if !page.contains(&format!("\\fB{key}\\fR")) && !page.contains(&format!("{key}]")) {
            missing.insert(format!("{key} in drbd-reactor.{kind}(5)"));
        }
        // set (`key =`, `key.x =`, `.key =`, `[[kind.key]]`) or shown commented out
        let shown = example.lines().any(|l| {
            let l = l.trim_start_matches("# ");
            l.starts_with(&format!("{key} ="))
                || l.starts_with(&format!("{key}."))
                || l.contains(&format!(".{key} ="))
                || l.contains(&format!(".{key}]"))
        });
        if !shown {
            missing.insert(format!("{key} in examples/snippets/{kind}.toml"));
        }
    }
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}

#[test]
fn every_debugger_key_is_in_its_page_and_example() {
    check(
        "debugger",
        &keys::<drbd_reactor::plugin::debugger::DebuggerConfig>(),
    );
}

#[test]
fn every_prometheus_key_is_in_its_page_and_example() {
    check(
        "prometheus",
        &keys::<drbd_reactor_prometheus::config::PrometheusConfig>(),
    );
}

#[test]
fn every_agentx_key_is_in_its_page_and_example() {
    check(
        "agentx",
        &keys::<drbd_reactor_agentx::config::AgentxConfig>(),
    );
}

#[test]
fn every_umh_key_of_the_instance_its_rules_and_their_filters_is_in_its_page_and_example() {
    use drbd_reactor_umh::rules::*;
    let mut all = keys::<UmhConfig>();
    all.extend(keys::<ResourceRule>());
    all.extend(keys::<DeviceRule>());
    all.extend(keys::<PeerDeviceRule>());
    all.extend(keys::<ConnectionRule>());
    all.extend(keys::<HelperRule>());
    all.extend(keys::<ResourceFilter>());
    all.extend(keys::<DeviceFilter>());
    all.extend(keys::<PeerDeviceFilter>());
    all.extend(keys::<ConnectionFilter>());
    assert!(
        all.contains(&"max-concurrent") && all.contains(&"resync-suspended"),
        "{all:?}"
    );
    check("umh", &all);
}

#[test]
fn the_field_recorder_sees_every_field_of_a_struct() {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Sample {
        first_key: u8,
        #[serde(default)]
        second: Option<String>,
    }
    assert_eq!(keys::<Sample>(), ["first-key", "second"]);
}
