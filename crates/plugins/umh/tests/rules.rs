//! umh rules from TOML as users write them: matching, environment precedence, operators, and
//! errors that name the file, line and key of a malformed rule.

use drbd::{parse_line, PluginUpdate, State};
use drbd_reactor_umh::matcher::invocations;
use drbd_reactor_umh::rules::UmhConfig;

fn config(text: &str) -> Result<UmhConfig, String> {
    let t: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let umh = t["umh"].as_array().unwrap()[0].clone();
    umh.try_into::<UmhConfig>().map_err(|e| e.to_string())
}

const BLOG: &str = r#"
[[umh]]
id = "drbd-data"
[[umh.device]]
resource-name = "drbd-data"
old.quorum = true
new.quorum = false
command = "/usr/local/bin/on-no-quorum-io-error.sh"
name = "quorum lost"
[umh.device.env]
TIMEOUT = "30"
[[umh.device]]
resource-name = "drbd-data"
old.quorum = false
new.quorum = true
command = "/usr/local/bin/on-no-quorum-io-error.sh"
name = "quorum gained"
"#;

fn updates(lines: &[&str]) -> Vec<PluginUpdate> {
    let mut s = State::new();
    let mut out = Vec::new();
    for l in lines {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    out
}

fn env_of<'a>(inv: &'a drbd_reactor_umh::matcher::Invocation, k: &str) -> Option<&'a str> {
    inv.env
        .iter()
        .find(|(ek, _)| ek == k)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_blog_example_fires_quorum_lost_with_its_environment() {
    let c = config(BLOG).unwrap();
    let u = updates(&[
        "exists resource name:drbd-data role:Primary suspended:no force-io-failures:no may_promote:no promotion_score:10101",
        "exists device name:drbd-data volume:0 minor:1000 backing_dev:/dev/vg/d disk:UpToDate client:no open:yes quorum:yes",
        "change device name:drbd-data volume:0 minor:1000 backing_dev:/dev/vg/d disk:UpToDate client:no open:yes quorum:no",
    ]);
    let fired: Vec<_> = u.iter().flat_map(|u| invocations(&c, u)).collect();
    // Exists old.quorum=false (default) → new true: "quorum gained"; then the loss.
    assert_eq!(
        fired
            .iter()
            .map(|i| i.rule_name.as_str())
            .collect::<Vec<_>>(),
        ["quorum gained", "quorum lost"]
    );
    let lost = &fired[1];
    assert_eq!(env_of(lost, "DRBD_RES_NAME"), Some("drbd-data"));
    assert_eq!(env_of(lost, "DRBD_OLD_QUORUM"), Some("true"));
    assert_eq!(env_of(lost, "DRBD_NEW_QUORUM"), Some("false"));
    assert_eq!(env_of(lost, "TIMEOUT"), Some("30"));
    assert_eq!(env_of(lost, "DRBD_MINOR"), Some("1000"));
    assert_eq!(env_of(lost, "DRBD_MINOR_0"), Some("1000"));
    assert_eq!(env_of(lost, "DRBD_BACKING_DEV_0"), Some("/dev/vg/d"));
    assert_eq!(env_of(lost, "DRBD_OLD_OPEN"), Some("true"));
    assert_eq!(env_of(lost, "PATH"), Some("/sbin:/usr/sbin:/bin:/usr/bin"));
}

#[test]
fn user_env_wins_over_fixed_and_drbd_variables() {
    let c = config(
        r#"
[[umh]]
[[umh.resource]]
command = "true"
env = { PATH = "/opt/bin", DRBD_RES_NAME = "mine" }
"#,
    )
    .unwrap();
    let u = updates(&[
        "exists resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:1",
    ]);
    let inv = invocations(&c, &u[0]);
    assert_eq!(env_of(&inv[0], "PATH"), Some("/opt/bin"));
    assert_eq!(env_of(&inv[0], "DRBD_RES_NAME"), Some("mine"));
    assert_eq!(inv[0].env.iter().filter(|(k, _)| k == "PATH").count(), 1);
}

#[test]
fn not_equals_operator_in_both_toml_forms() {
    let inline = config(
        r#"
[[umh]]
[[umh.resource]]
command = "true"
old.role = { operator = "NotEquals", value = "Primary" }
new.role = "Primary"
"#,
    )
    .unwrap();
    let dotted = config(
        r#"
[[umh]]
[[umh.resource]]
command = "true"
old.role.operator = "NotEquals"
old.role.value = "Primary"
new.role.value = "Primary"
"#,
    )
    .unwrap();
    assert_eq!(inline, dotted);
    let u = updates(&[
        "exists resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:1",
        "change resource name:r0 role:Primary suspended:no may_promote:no promotion_score:1",
        "change resource name:r0 role:Primary suspended:no may_promote:no promotion_score:2",
    ]);
    let fired: usize = u.iter().map(|u| invocations(&inline, u).len()).sum();
    assert_eq!(fired, 1, "only the Secondary→Primary transition");
}

#[test]
fn malformed_rules_are_errors() {
    for (bad, why) in [
        ("[[umh]]\n[[umh.device]]\ncommand = \"x\"\nnew.quorom = true\n", "unknown field"),
        ("[[umh]]\n[[umh.device]]\ncommand = \"x\"\nresource_name = \"r\"\n", "unknown field"),
        ("[[umh]]\n[[umh.device]]\ncommand = \"x\"\nvolume = \"0\"\n", "wrong type"),
        ("[[umh]]\n[[umh.resource]]\ncommand = \"x\"\nnew.role = \"primary\"\n", "unknown state"),
        ("[[umh]]\n[[umh.resource]]\ncommand = \"x\"\nevent-type = \"change\"\n", "unknown event type"),
        ("[[umh]]\n[[umh.resource]]\ncommand = \"x\"\nnew.role = { value = \"Primary\", operatr = \"NotEquals\" }\n", "typo in operator table"),
        ("[[umh]]\n[[umh.resource]]\ncommand = \"x\"\nnew.role = { operator = \"notequals\", value = \"Primary\" }\n", "operator case"),
        ("[[umh]]\n[[umh.resource]]\nnew.role = \"Primary\"\n", "missing command"),
        ("[[umh]]\n[[umh.resources]]\ncommand = \"x\"\n", "unknown rule list"),
        ("[[umh]]\n[[umh.resource]]\ncommand = \"x\"\nold.role.operator = \"NotEquals\"\nold.role = \"Primary\"\n", "mixed forms"),
    ] {
        assert!(config(bad).is_err(), "{why} should be rejected: {bad}");
    }
}

#[test]
fn helper_rules_match_name_phase_and_exit_code() {
    let c = config(
        r#"
[[umh]]
[[umh.helper]]
name = "fence"
command = "true"
helper = "before-resync-target"
phase = "Response"
exit-code = 4
"#,
    )
    .unwrap();
    let u = updates(&[
        "exists resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:1",
        "call helper name:r0 peer-node-id:1 conn-name:p volume:0 helper:before-resync-target",
        "response helper name:r0 peer-node-id:1 conn-name:p volume:0 helper:before-resync-target status:1024",
    ]);
    let fired: Vec<_> = u.iter().flat_map(|u| invocations(&c, u)).collect();
    assert_eq!(fired.len(), 1);
    assert_eq!(
        env_of(&fired[0], "DRBD_HELPER"),
        Some("before-resync-target")
    );
    assert_eq!(env_of(&fired[0], "DRBD_HELPER_STATUS"), Some("4"));
    assert_eq!(env_of(&fired[0], "DRBD_PEER_NODE_ID"), Some("1"));
    assert_eq!(env_of(&fired[0], "DRBD_RESOURCE"), Some("r0"));
}

/// `exit-code != 0` is how a rule asks for a failed helper: one killed by a signal or that
/// the kernel could not start has no exit code and failed all the same. A call line has no
/// result and matches no exit-code filter; a helper line without a volume is not about
/// volume 0.
#[test]
fn not_equals_holds_for_a_field_the_helper_line_does_not_have() {
    let c = config(
        r#"
[[umh]]
[[umh.helper]]
name = "fence failed"
command = "true"
helper = "fence-peer"
exit-code = { operator = "NotEquals", value = 0 }
[[umh.helper]]
name = "not volume 0"
command = "true"
helper = "fence-peer"
volume = { operator = "NotEquals", value = 0 }
[[umh.helper]]
name = "volume 0"
command = "true"
helper = "fence-peer"
volume = 0
"#,
    )
    .unwrap();
    let u = updates(&[
        "exists resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:1",
        "call helper name:r0 peer-node-id:1 conn-name:p helper:fence-peer",
        // killed by SIGKILL
        "response helper name:r0 peer-node-id:1 conn-name:p helper:fence-peer status:9",
        // could not be started (-ENOENT)
        "response helper name:r0 peer-node-id:1 conn-name:p helper:fence-peer status:4294967294",
        // exit 0
        "response helper name:r0 peer-node-id:1 conn-name:p helper:fence-peer status:0",
        // exit 5
        "response helper name:r0 peer-node-id:1 conn-name:p helper:fence-peer status:1280",
    ]);
    let fired: Vec<(String, usize)> = u
        .iter()
        .enumerate()
        .flat_map(|(i, u)| {
            invocations(&c, u)
                .into_iter()
                .map(move |inv| (inv.rule_name, i))
        })
        .collect();
    let of = |rule: &str| -> Vec<usize> {
        fired
            .iter()
            .filter(|(r, _)| r == rule)
            .map(|(_, i)| *i)
            .collect()
    };
    assert_eq!(of("fence failed"), [2, 3, 5], "{fired:?}");
    assert_eq!(of("not volume 0"), [1, 2, 3, 4, 5], "{fired:?}");
    assert!(of("volume 0").is_empty(), "{fired:?}");
}

#[test]
fn a_state_from_a_newer_kernel_matches_no_named_state_but_not_equals_does() {
    let c = config(
        r#"
[[umh]]
[[umh.peerdevice]]
name = "up to date"
command = "true"
new.peer-disk-state = "UpToDate"
[[umh.peerdevice]]
name = "not up to date"
command = "true"
new.peer-disk-state = { operator = "NotEquals", value = "UpToDate" }
"#,
    )
    .unwrap();
    let u = updates(&[
        "exists resource name:r0 role:Secondary",
        "exists connection name:r0 peer-node-id:1 conn-name:b connection:Connected role:Secondary",
        "exists peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:Established peer-disk:UpToDate",
        "change peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:Established peer-disk:Melted",
    ]);
    let last = u.last().expect("the unknown state still makes an update");
    let fired: Vec<_> = invocations(&c, last)
        .into_iter()
        .map(|i| i.rule_name)
        .collect();
    assert_eq!(fired, ["not up to date"]);
}

#[test]
fn an_empty_or_blank_command_is_rejected_naming_the_key() {
    for command in ["\"\"", "\"   \"", "\"\\t\\n\""] {
        let text = format!("[[umh]]\n[[umh.peerdevice]]\ncommand = {command}\n");
        let err = config(&text).unwrap_err();
        assert!(err.contains("command"), "{err}");
        assert!(err.contains("empty"), "{err}");
    }
    assert!(config("[[umh]]\n[[umh.helper]]\ncommand = \" true \"\n").is_ok());
}

#[test]
fn an_empty_command_loaded_from_a_file_names_file_line_and_key() {
    use drbd_reactor_config::{load, PluginKind, Strictness};
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("drbd-reactor.toml");
    std::fs::write(
        &main,
        "[[umh]]\n[[umh.peerdevice]]\nname = \"x\"\ncommand = \"  \"\n",
    )
    .unwrap();
    let config = load(&main).unwrap();
    let section = config.plugins_of(PluginKind::Umh).next().unwrap();
    let err = section
        .parse::<UmhConfig>(Strictness::RejectUnknownKeys)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}:4:1: key 'peerdevice[0].command': [[umh]]: the command is empty",
            main.display()
        )),
        "{err}"
    );
    assert!(err.ends_with("\n4 | command = \"  \"\n  | ^"), "{err}");
}

/// `max-concurrent = 0` would run nothing, a huge one panicked every run (the semaphore's
/// limit), and `timeout = 0` killed every command as it started: refused with file, line
/// and key, as the daemon types the section.
#[test]
fn zero_or_impossible_limits_are_refused_naming_file_line_and_key() {
    use drbd_reactor_config::PluginKind;
    let refused = |text: &str| {
        let path = std::path::Path::new("/etc/drbd-reactor.d/u.toml");
        let config = drbd_reactor_config::parse_one(path, text, true).unwrap();
        let section = config.plugins_of(PluginKind::Umh).next().unwrap();
        drbd_reactor_plugin::contract::validate::<drbd_reactor_umh::plugin::Umh>(section)
            .unwrap_err()
            .to_string()
    };
    let rule = "[[umh.resource]]\ncommand = \"true\"\n";
    let e = refused(&format!("[[umh]]\nmax-concurrent = 0\n{rule}"));
    assert!(
        e.starts_with("/etc/drbd-reactor.d/u.toml:2:1: key 'max-concurrent'"),
        "{e}"
    );
    let e = refused(&format!(
        "[[umh]]\nmax-concurrent = 4611686018427387904\n{rule}"
    ));
    assert!(e.contains("key 'max-concurrent'"), "{e}");
    let e = refused(&format!(
        "[[umh]]\n{rule}[[umh.device]]\ncommand = \"true\"\ntimeout = 0\n"
    ));
    assert!(
        e.starts_with("/etc/drbd-reactor.d/u.toml:6:1: key 'device[0].timeout'"),
        "{e}"
    );
}

/// The spec types `volume`, `peer-node-id` and `promotion-score` as i32: a negative value
/// loads (the original loads it), never equals a field, and NotEquals it matches all.
#[test]
fn negative_integer_filters_load_and_compare_with_the_unsigned_fields() {
    let cfg = config(
        r#"
[[umh]]
[[umh.resource]]
command = "true"
new.promotion-score = { operator = "NotEquals", value = -1 }
[[umh.device]]
command = "true"
volume = -1
"#,
    )
    .unwrap();
    let u = updates(&[
        "exists resource name:r0 role:Secondary suspended:no may_promote:no promotion_score:1",
        "exists device name:r0 volume:0 minor:1 disk:UpToDate client:no quorum:yes",
    ]);
    let fired: Vec<usize> = u.iter().map(|u| invocations(&cfg, u).len()).collect();
    assert_eq!(
        fired,
        [1, 0],
        "the resource rule matches, the device rule never"
    );
}
