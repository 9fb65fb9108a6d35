//! Every documented DRBD_* variable of each rule type, with its exact value format
//! (umh spec §5.1, plus the variables the original documents but never set).
use drbd::{parse_line, PluginUpdate, State};
use drbd_reactor_umh::matcher::invocations;
use drbd_reactor_umh::rules::UmhConfig;
use std::collections::BTreeMap;

const STATE: &[&str] = &[
    "exists resource name:r0 role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:10102",
    "exists connection name:r0 peer-node-id:1 conn-name:nodeB connection:Connected role:Primary congested:no ap-in-flight:8 rs-in-flight:0",
    "exists device name:r0 volume:0 minor:1000 backing_dev:/dev/vg0/r0 disk:UpToDate client:no open:no quorum:yes size:1048576 read:2048 written:4096 al-writes:3 bm-writes:1 upper-pending:0 lower-pending:0 al-suspended:no blocked:no",
    "exists peer-device name:r0 peer-node-id:1 conn-name:nodeB volume:0 replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no received:100 sent:200 out-of-sync:0 pending:0 unacked:0",
];

/// The environment the single rule of `rules` gets for the update caused by `line`.
fn env(rules: &str, line: &str) -> BTreeMap<String, String> {
    let config: UmhConfig = toml::from_str(rules).unwrap();
    let mut s = State::new();
    let mut out: Vec<PluginUpdate> = Vec::new();
    for l in STATE {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    out.clear();
    s.apply(parse_line(line).unwrap().event, &mut out);
    let fired: Vec<_> = out.iter().flat_map(|u| invocations(&config, u)).collect();
    assert_eq!(fired.len(), 1, "exactly one invocation for {line}");
    fired[0].env.iter().cloned().collect()
}

fn fixed() -> [(&'static str, &'static str); 3] {
    [
        ("HOME", "/"),
        ("TERM", "Linux"),
        ("PATH", "/sbin:/usr/sbin:/bin:/usr/bin"),
    ]
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .chain(fixed().iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn resource_rules_get_name_role_may_promote_and_promotion_score() {
    let e = env("[[resource]]\ncommand = \"true\"\n", "change resource name:r0 role:Primary suspended:no force-io-failures:no may_promote:no promotion_score:10103");
    assert_eq!(
        e,
        expect(&[
            ("DRBD_RES_NAME", "r0"),
            ("DRBD_OLD_ROLE", "Secondary"),
            ("DRBD_NEW_ROLE", "Primary"),
            ("DRBD_OLD_MAY_PROMOTE", "false"),
            ("DRBD_NEW_MAY_PROMOTE", "false"),
            ("DRBD_OLD_PROMOTION_SCORE", "10102"),
            ("DRBD_NEW_PROMOTION_SCORE", "10103"),
        ])
    );
}

#[test]
fn device_rules_get_minor_backing_dev_volume_disk_client_quorum_and_open() {
    let e = env("[[device]]\ncommand = \"true\"\n", "change device name:r0 volume:0 minor:1000 backing_dev:/dev/vg0/r0 disk:Outdated client:no open:yes quorum:no size:1048576 read:2048 written:4096 al-writes:3 bm-writes:1 upper-pending:0 lower-pending:0 al-suspended:no");
    assert_eq!(
        e,
        expect(&[
            ("DRBD_RES_NAME", "r0"),
            ("DRBD_MINOR", "1000"),
            ("DRBD_MINOR_0", "1000"),
            ("DRBD_BACKING_DEV", "/dev/vg0/r0"),
            ("DRBD_BACKING_DEV_0", "/dev/vg0/r0"),
            ("DRBD_VOLUME", "0"),
            ("DRBD_OLD_DISK_STATE", "UpToDate"),
            ("DRBD_NEW_DISK_STATE", "Outdated"),
            ("DRBD_OLD_CLIENT", "false"),
            ("DRBD_NEW_CLIENT", "false"),
            ("DRBD_OLD_QUORUM", "true"),
            ("DRBD_NEW_QUORUM", "false"),
            ("DRBD_OLD_OPEN", "false"),
            ("DRBD_NEW_OPEN", "true"),
        ])
    );
}

#[test]
fn a_destroyed_device_has_no_minor_or_backing_dev_variables() {
    let e = env(
        "[[device]]\ncommand = \"true\"\n",
        "destroy device name:r0 volume:0",
    );
    assert!(
        !e.contains_key("DRBD_MINOR") && !e.contains_key("DRBD_BACKING_DEV"),
        "{e:?}"
    );
    assert_eq!(e["DRBD_NEW_DISK_STATE"], "DUnknown");
}

#[test]
fn peer_device_rules_get_the_local_device_the_volume_and_the_peer_states() {
    let e = env("[[peerdevice]]\ncommand = \"true\"\n", "change peer-device name:r0 peer-node-id:1 conn-name:nodeB volume:0 replication:SyncSource peer-disk:Inconsistent peer-client:no resync-suspended:user received:100 sent:200 out-of-sync:64 pending:0 unacked:0");
    assert_eq!(
        e,
        expect(&[
            ("DRBD_RES_NAME", "r0"),
            ("DRBD_MINOR", "1000"),
            ("DRBD_MINOR_0", "1000"),
            ("DRBD_BACKING_DEV", "/dev/vg0/r0"),
            ("DRBD_BACKING_DEV_0", "/dev/vg0/r0"),
            ("DRBD_VOLUME", "0"),
            ("DRBD_PEER_NODE_ID", "1"),
            ("DRBD_OLD_PEER_REPLICATION_STATE", "Established"),
            ("DRBD_NEW_PEER_REPLICATION_STATE", "SyncSource"),
            ("DRBD_OLD_PEER_DISK_STATE", "UpToDate"),
            ("DRBD_NEW_PEER_DISK_STATE", "Inconsistent"),
            ("DRBD_OLD_PEER_CLIENT", "false"),
            ("DRBD_NEW_PEER_CLIENT", "false"),
            ("DRBD_OLD_PEER_RESYNC_SUSPENDED", "false"),
            ("DRBD_NEW_PEER_RESYNC_SUSPENDED", "true"),
        ])
    );
}

#[test]
fn connection_rules_get_cstate_names_states_roles_and_congestion() {
    let e = env("[[connection]]\ncommand = \"true\"\n", "change connection name:r0 peer-node-id:1 conn-name:nodeB connection:Connecting role:Unknown congested:yes ap-in-flight:0 rs-in-flight:0");
    assert_eq!(
        e,
        expect(&[
            ("DRBD_RES_NAME", "r0"),
            ("DRBD_PEER_NODE_ID", "1"),
            ("DRBD_CSTATE", "Connecting"),
            ("DRBD_OLD_CONN_NAME", "nodeB"),
            ("DRBD_NEW_CONN_NAME", "nodeB"),
            ("DRBD_OLD_CONN_STATE", "Connected"),
            ("DRBD_NEW_CONN_STATE", "Connecting"),
            ("DRBD_OLD_PEER_ROLE", "Primary"),
            ("DRBD_NEW_PEER_ROLE", "Unknown"),
            ("DRBD_OLD_CONGESTED", "false"),
            ("DRBD_NEW_CONGESTED", "true"),
        ])
    );
}

#[test]
fn helper_rules_get_what_drbd_passes_to_its_helpers() {
    let e = env("[[helper]]\ncommand = \"true\"\n", "response helper name:r0 peer-node-id:1 conn-name:nodeB volume:0 minor:1000 helper:fence-peer status:1024");
    assert_eq!(
        e,
        expect(&[
            ("DRBD_RESOURCE", "r0"),
            ("DRBD_RES_NAME", "r0"),
            ("DRBD_HELPER", "fence-peer"),
            ("DRBD_HELPER_PHASE", "response"),
            ("DRBD_VOLUME", "0"),
            ("DRBD_MINOR", "1000"),
            ("DRBD_PEER_NODE_ID", "1"),
            ("DRBD_CONN_NAME", "nodeB"),
            ("DRBD_HELPER_STATUS_RAW", "1024"),
            ("DRBD_HELPER_STATUS", "4"),
            ("DRBD_BACKING_DEV", "/dev/vg0/r0"),
        ])
    );
}
