//! The `[[promoter]]` section: every default of spec §2.2, exact enum spellings, deprecated
//! keys, and validation naming the key.

use drbd_reactor_promoter::config::*;

fn parse(text: &str) -> Result<PromoterConfig, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn every_resource_key_has_the_specified_default() {
    let c = parse("[resources.r0]\n").unwrap();
    let r = &c.resources["r0"];
    assert_eq!(r, &ResourceConfig::default());
    assert!(r.start.is_empty() && r.stop.is_empty() && r.preferred_nodes.is_empty());
    assert_eq!(r.runner, Runner::Systemd);
    assert_eq!(r.dependencies_as, Dependency::Requires);
    assert_eq!(r.target_as, Dependency::Requires);
    assert_eq!(r.on_drbd_demote_failure, DemoteFailureAction::None);
    assert!(r.secondary_force);
    assert!(!r.stop_services_on_exit);
    assert_eq!(r.sleep_before_promote_factor, 1);
    assert_eq!(r.preferred_nodes_policy, PreferredNodesPolicy::Always);
    assert_eq!(r.on_quorum_loss, QuorumLoss::Shutdown);
    assert_eq!(r.on_disk_detach, DiskDetach::Ignore);
    assert_eq!(r.fencing_promote_delay, 5);
    assert!(r.adjust_resource_on_start);
    assert_eq!(r.on_stop_failure, "");
    assert!(parse("").unwrap().resources.is_empty());
}

#[test]
fn enum_values_are_spelled_exactly_as_the_original() {
    let c = parse(
        r#"[resources.r0]
runner = "shell"
dependencies-as = "BindsTo"
target-as = "Requisite"
on-drbd-demote-failure = "poweroff-immediate"
preferred-nodes-policy = "start-only"
on-quorum-loss = "freeze"
on-disk-detach = "fail-over"
sleep-before-promote-factor = 0
"#,
    )
    .unwrap();
    let r = &c.resources["r0"];
    assert_eq!(r.runner, Runner::Shell);
    assert_eq!(r.dependencies_as, Dependency::BindsTo);
    assert_eq!(r.target_as, Dependency::Requisite);
    assert_eq!(
        r.on_drbd_demote_failure,
        DemoteFailureAction::PoweroffImmediate
    );
    assert_eq!(r.preferred_nodes_policy, PreferredNodesPolicy::StartOnly);
    assert_eq!(r.on_quorum_loss, QuorumLoss::Freeze);
    assert_eq!(r.on_disk_detach, DiskDetach::FailOver);
    assert_eq!(r.sleep_before_promote_factor, 0);
    for bad in [
        "dependencies-as = \"requires\"",
        "runner = \"Systemd\"",
        "on-drbd-demote-failure = \"halt\"",
        "sleep-before-promote-factor = -1",
        "fencing-promote-delay = -5",
    ] {
        assert!(parse(&format!("[resources.r0]\n{bad}\n")).is_err(), "{bad}");
    }
}

#[test]
fn unknown_keys_are_accepted_like_the_original() {
    let c = parse("[resources.r0]\nStart = [\"a.service\"]\n").unwrap();
    assert!(c.resources["r0"].start.is_empty());
}

#[test]
fn config_round_trips_through_serialize_and_equality_is_identity() {
    let c = parse("id = \"x\"\n[resources.r0]\nstart = [\"a.service\"]\n").unwrap();
    let back: PromoterConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    let mut other = c.clone();
    other.resources.get_mut("r0").unwrap().secondary_force = false;
    assert_ne!(other, c);
}

#[test]
fn deprecated_keys_warn_naming_the_key() {
    let c = parse("id = \"x\"\n[resources.r0]\non-stop-failure = \"reboot\"\n").unwrap();
    let w = deprecation_warnings(&c);
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].key, "id");
    assert_eq!(w[0].message, "'id' is deprecated and ignored!");
    assert_eq!(w[1].key, "resources.r0.on-stop-failure");
    assert_eq!(
        w[1].message,
        "'on-stop-failure' is deprecated and ignored!; use 'on-drbd-demote-failure'"
    );
    assert!(deprecation_warnings(&parse("[resources.r0]\n").unwrap()).is_empty());
}

#[test]
fn validation_errors_name_the_offending_start_entry() {
    let c = parse("[resources.r0]\nstart = [\"a.service\", \"ocf:v:a id k='x\"]\n").unwrap();
    let (errors, _) = validate(&c);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].key, "resources.r0.start[1]");
}

#[test]
fn validation_warns_about_a_topmost_mount_and_an_empty_list() {
    let c =
        parse("[resources.r0]\nstart = [\"a.service\", \"x.mount\"]\n[resources.r1]\n").unwrap();
    let (errors, warnings) = validate(&c);
    assert!(errors.is_empty());
    let keys: Vec<_> = warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys, vec!["resources.r0.start[1]", "resources.r1.start"]);
    assert_eq!(warnings[1].message, "Resource 'r1' has an empty start list");
}

#[test]
fn shell_runner_start_entries_are_commands_not_units() {
    let c = parse("[resources.r0]\nrunner = \"shell\"\nstart = [\"echo a/b\"]\n").unwrap();
    assert_eq!(validate(&c), (vec![], vec![]));
    assert_eq!(
        c.resources["r0"].effective_stop(),
        vec!["echo a/b".to_string()]
    );
}

#[test]
fn same_resource_in_two_instances_is_reported() {
    let a = parse("[resources.r0]\n").unwrap();
    let b = parse("[resources.r1]\n[resources.r0]\n").unwrap();
    let d = duplicate_resources(&[&a, &b]);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, 1);
    assert_eq!(d[0].1.key, "resources.r0");
}
