//! PluginInstance::parse: a plugin section as a typed config, with errors and unknown
//! keys located at the line of the offending key.

mod common;

use std::collections::BTreeMap;

use common::{main_with_snippets, Setup};
use drbd_reactor_config::{load, PluginInstance, Strictness};
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
struct Prometheus {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    enums: bool,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
struct Promoter {
    resources: BTreeMap<String, Resource>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
struct Resource {
    #[serde(default)]
    start: Vec<String>,
    #[serde(default)]
    on_drbd_demote_failure: Option<String>,
}

fn only_plugin(setup: &Setup, text: &str) -> PluginInstance {
    let config = load(&setup.main(text)).unwrap();
    assert_eq!(config.plugins.len(), 1);
    config.plugins.into_iter().next().unwrap()
}

#[test]
fn valid_section_parses_into_the_typed_config_without_warnings() {
    let setup = Setup::new();
    let plugin = only_plugin(
        &setup,
        "[[prometheus]]\naddress = \"[::]:9942\"\nenums = true\n",
    );
    let (config, warnings): (Prometheus, _) = plugin.parse(Strictness::WarnUnknownKeys).unwrap();
    assert_eq!(
        config,
        Prometheus {
            address: Some("[::]:9942".into()),
            enums: true
        }
    );
    assert!(warnings.is_empty());
}

#[test]
fn wrong_type_names_file_line_and_key_of_the_offending_value() {
    let setup = Setup::new();
    let plugin = only_plugin(&setup, "\n[[prometheus]]\nenums = false\naddress = 5\n");
    let err = plugin
        .parse::<Prometheus>(Strictness::WarnUnknownKeys)
        .unwrap_err();
    assert_eq!(err.origin.as_ref().unwrap().line, 4);
    assert_eq!(err.key.as_deref(), Some("address"));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:4:1: key 'address': [[prometheus]]: invalid type: integer `5`",
            setup.path("drbd-reactor.toml").display()
        )),
        "{text}"
    );
    assert!(text.ends_with("\n4 | address = 5\n  | ^"), "{text}");
}

#[test]
fn wrong_type_deep_inside_a_subtable_names_its_line() {
    let setup = Setup::new();
    let plugin = only_plugin(
        &setup,
        "[[promoter]]\n[promoter.resources.foo]\nstart = [\"a.mount\",\n  7]\n",
    );
    let err = plugin
        .parse::<Promoter>(Strictness::WarnUnknownKeys)
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("resources.foo.start[1]"));
    assert_eq!(err.origin.unwrap().line, 4);
}

#[test]
fn missing_required_key_points_at_the_section_header() {
    let setup = Setup::new();
    let plugin = only_plugin(&setup, "# x\n[[promoter]]\n");
    let err = plugin
        .parse::<Promoter>(Strictness::WarnUnknownKeys)
        .unwrap_err();
    assert_eq!(err.origin.as_ref().unwrap().line, 2);
    assert!(
        err.to_string().contains("missing field `resources`"),
        "{err}"
    );
}

#[test]
fn unknown_key_is_a_warning_with_line_under_warn_strictness() {
    let setup = Setup::new();
    let plugin = only_plugin(
        &setup,
        "[[prometheus]]\naddress = \"[::]:1\"\nadress = \"x\"\n",
    );
    let (config, warnings): (Prometheus, _) = plugin.parse(Strictness::WarnUnknownKeys).unwrap();
    assert_eq!(config.address.as_deref(), Some("[::]:1"));
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].key.as_deref(), Some("adress"));
    assert_eq!(warnings[0].origin.line, 3);
}

#[test]
fn nested_unknown_key_is_reported_with_its_path_and_line() {
    let setup = Setup::new();
    let plugin = only_plugin(
        &setup,
        "[[promoter]]\n[promoter.resources.foo]\nstart = []\n\non-drbd-demote-failur = \"reboot\"\n",
    );
    let (_, warnings): (Promoter, _) = plugin.parse(Strictness::WarnUnknownKeys).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].key.as_deref(),
        Some("resources.foo.on-drbd-demote-failur")
    );
    assert_eq!(warnings[0].origin.line, 5);
}

#[test]
fn unknown_key_is_an_error_under_reject_strictness() {
    let setup = Setup::new();
    let plugin = only_plugin(&setup, "[[prometheus]]\n\nbogus = 1\n");
    let err = plugin
        .parse::<Prometheus>(Strictness::RejectUnknownKeys)
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("bogus"));
    assert_eq!(err.origin.unwrap().line, 3);
}

#[test]
fn section_from_a_snippet_locates_errors_in_the_snippet() {
    let setup = Setup::new();
    let main = main_with_snippets(&setup);
    let snippet = setup.snippet("p.toml", "[[prometheus]]\n\n\naddress = true\n");
    let plugin = load(&main).unwrap().plugins.remove(0);
    let err = plugin
        .parse::<Prometheus>(Strictness::WarnUnknownKeys)
        .unwrap_err();
    let origin = err.origin.unwrap();
    assert_eq!(origin.file, snippet);
    assert_eq!(origin.line, 4);
}

#[test]
fn second_section_of_a_kind_has_its_own_lines() {
    let setup = Setup::new();
    let config = load(
        &setup.main("[[prometheus]]\naddress = \"a\"\n[[prometheus]]\nenums = true\naddress = 1\n"),
    )
    .unwrap();
    let err = config.plugins[1]
        .parse::<Prometheus>(Strictness::WarnUnknownKeys)
        .unwrap_err();
    assert_eq!(err.origin.unwrap().line, 5);
    assert_eq!(config.plugins[1].origin_of("enums").line, 4);
}

#[test]
fn inline_tables_and_dotted_keys_are_located() {
    let setup = Setup::new();
    let plugin = only_plugin(
        &setup,
        "[[promoter]]\nresources.foo.start = [\"x\"]\nresources.bar = { start = [1] }\n",
    );
    assert_eq!(plugin.origin_of("resources.foo.start").line, 2);
    let err = plugin
        .parse::<Promoter>(Strictness::WarnUnknownKeys)
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("resources.bar.start[0]"));
    assert_eq!(err.origin.unwrap().line, 3);
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
struct Umh {
    #[serde(default)]
    resource: Vec<ResourceRule>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
struct ResourceRule {
    command: String,
    #[serde(default)]
    event_type: Option<EventType>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, PartialEq)]
enum EventType {
    Exists,
    Create,
    Destroy,
    Change,
}

const UMH: &str = "[[umh]]\n\n[[umh.resource]]\ncommand = \"a\"\n\n[[umh.resource]]\ncommand = \"b\"\nevent-type = \"Change\"\n[umh.resource.env]\nX = \"1\"\n";

#[test]
fn nested_arrays_of_tables_and_enums_parse() {
    let setup = Setup::new();
    let plugin = only_plugin(&setup, UMH);
    let (umh, warnings): (Umh, _) = plugin.parse(Strictness::RejectUnknownKeys).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(umh.resource.len(), 2);
    assert_eq!(umh.resource[1].event_type, Some(EventType::Change));
    assert_eq!(umh.resource[1].env["X"], "1");
}

#[test]
fn wrong_enum_variant_names_the_line_of_the_value() {
    let setup = Setup::new();
    let plugin = only_plugin(&setup, &UMH.replace("\"Change\"", "\"change\""));
    let err = plugin
        .parse::<Umh>(Strictness::RejectUnknownKeys)
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("resource[1].event-type"));
    assert_eq!(err.origin.as_ref().unwrap().line, 8);
    assert!(
        err.to_string().contains("unknown variant `change`"),
        "{err}"
    );
}

#[test]
fn typo_in_a_umh_rule_is_an_error_at_its_line_under_reject_strictness() {
    let setup = Setup::new();
    let plugin = only_plugin(&setup, &UMH.replace("event-type", "event_type"));
    let err = plugin
        .parse::<Umh>(Strictness::RejectUnknownKeys)
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("resource[1].event_type"));
    assert_eq!(err.origin.unwrap().line, 8);
}

#[test]
fn missing_field_in_the_second_rule_points_at_that_rule() {
    let setup = Setup::new();
    let plugin = only_plugin(&setup, &UMH.replace("command = \"b\"\n", ""));
    let err = plugin
        .parse::<Umh>(Strictness::RejectUnknownKeys)
        .unwrap_err();
    assert_eq!(err.origin.as_ref().unwrap().line, 6);
    assert!(err.to_string().contains("missing field `command`"), "{err}");
}
