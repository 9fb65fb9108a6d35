//! The cases of the original's own tests (events2 spec §6.1) on the state: booleans, flag
//! lists, full lines, devices, connections, peer devices and paths.

use drbd::update::*;
use drbd::vocab::*;
use drbd::{parse_line, State};

#[path = "support/resource_r.rs"]
mod resource_r;
use resource_r::*;

#[test]
fn booleans_accept_yes_true_no_false_and_reject_others() {
    assert_eq!(parse_bool("yes"), Some(true));
    assert_eq!(parse_bool("true"), Some(true));
    assert_eq!(parse_bool("no"), Some(false));
    assert_eq!(parse_bool("false"), Some(false));
    assert!(parse_line("exists device name:r volume:0 quorum:maybe").is_err());
}

/// compat C1: `suspended` is a flag list, so `yes` is an unknown flag (H1): kept, as `other`.
#[test]
fn suspended_yes_is_an_unknown_flag_and_the_line_is_kept() {
    let mut s = State::new();
    feed(
        &mut s,
        "exists resource name:r role:Secondary suspended:yes",
    );
    let r = s.resource("r").expect("the line is kept");
    assert!(r.suspended.other && !r.suspended.user);
    assert!(r.suspended.any());
}

/// prometheus §5.1 and agentx §4.2: `no` and `false` both mean "not suspended".
#[test]
fn suspended_false_means_not_suspended() {
    let mut s = State::new();
    feed(
        &mut s,
        "exists resource name:r role:Secondary suspended:false",
    );
    assert!(!s.resource("r").unwrap().suspended.any());
}

#[test]
fn a_full_resource_line_gives_exactly_its_values_whatever_extra_key_it_carries() {
    let base = "exists resource name:foo role:Primary suspended:user write-ordering:drain may_promote:yes promotion_score:23";
    let with_extra = "exists resource name:foo xxx:bla role:Primary suspended:user write-ordering:drain may_promote:yes promotion_score:23";
    let (mut a, mut b) = (State::new(), State::new());
    feed(&mut a, base);
    feed(&mut b, with_extra);
    assert_eq!(a, b);
    let r = a.resource("foo").unwrap();
    assert_eq!(r.role, Role::Primary);
    assert!(r.suspended.user && !r.force_io_failures && r.may_promote);
    assert_eq!(r.write_ordering, Some(WriteOrdering::Drain));
    assert_eq!(r.promotion_score, 23);
}

#[test]
fn device_backing_dev_none_is_absent_and_missing_open_is_no() {
    let mut s = State::new();
    feed(&mut s, "exists device name:r volume:0 minor:1 backing_dev:none disk:Diskless client:yes quorum:yes blocked:upper");
    let d = s.resource("r").unwrap().device(0).unwrap().clone();
    assert_eq!(d.backing_dev, None);
    assert_eq!(d.open, Tristate::No);
    assert!(d.blocked.upper && !d.blocked.lower);
    feed(
        &mut s,
        "exists device name:r volume:1 minor:2 backing_dev:/dev/sda1 disk:UpToDate",
    );
    let d = s.resource("r").unwrap().device(1).unwrap().clone();
    assert_eq!(d.backing_dev.as_deref(), Some("/dev/sda1"));
}

#[test]
fn unknown_verbs_and_kinds_are_ignored_and_counted_not_errors() {
    let mut s = State::new();
    let out = feed(&mut s, "xxx resource name:r\nexists xxx name:r");
    assert!(out.is_empty() && s.is_empty());
    assert_eq!(s.counters().unknown_lines, 2);
}

#[test]
fn resource_updates_only_on_relevant_changes_and_always_on_destroy() {
    let mut s = full_state();
    assert!(feed(&mut s, RES).is_empty(), "identical line");
    let out = feed(&mut s, "change resource name:r role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:yes promotion_score:10101");
    match &objects(&out)[0].change {
        Change::Resource(d) => assert!(!d.old.may_promote && d.new.may_promote),
        c => panic!("{c:?}"),
    }
    assert_eq!(objects(&feed(&mut s, "destroy resource name:r")).len(), 1);
}

#[test]
fn device_first_sighting_has_default_old_and_a_re_added_device_starts_again() {
    let mut s = full_state();
    assert!(feed(&mut s, DEV).is_empty(), "identical line");
    let out = feed(&mut s, "destroy device name:r volume:0");
    assert_eq!(objects(&out).len(), 1);
    let out = feed(&mut s, DEV);
    match &objects(&out)[0].change {
        Change::Device { volume: 0, diff } => {
            assert_eq!(diff.old, DeviceFields::default());
            assert_eq!(diff.new.disk_state, DiskState::UpToDate);
        }
        c => panic!("{c:?}"),
    }
}

#[test]
fn updating_a_connection_keeps_its_peer_devices_and_paths() {
    let mut s = full_state();
    feed(&mut s, "change connection name:r peer-node-id:1 conn-name:peer connection:Connecting role:Unknown congested:no");
    let c = s.resource("r").unwrap().connection(1).unwrap().clone();
    assert_eq!(c.peer_devices.len(), 1);
    assert_eq!(c.paths.len(), 1);
}

#[test]
fn peer_devices_of_several_volumes_and_peers_are_kept_apart() {
    let mut s = full_state();
    feed(&mut s, &PD.replace("volume:0", "volume:1"));
    feed(&mut s, &PD.replace("peer-node-id:1", "peer-node-id:2"));
    let out = feed(&mut s, "destroy peer-device name:r peer-node-id:1 conn-name:peer volume:1\ndestroy peer-device name:r peer-node-id:1 conn-name:peer volume:9");
    assert_eq!(
        objects(&out).len(),
        1,
        "destroying a missing volume is a no-op"
    );
    let r = s.resource("r").unwrap();
    assert!(r.peer_device(1, 0).is_some() && r.peer_device(1, 1).is_none());
    assert!(r.peer_device(2, 0).is_some());
}

#[test]
fn paths_are_keyed_by_both_endpoints_and_never_produce_updates() {
    let mut s = State::new();
    let mut out = feed(&mut s, PATH);
    out.extend(feed(
        &mut s,
        &PATH.replace("established:yes", "established:no"),
    ));
    out.extend(feed(&mut s, &PATH.replace("10.0.0.2", "10.0.0.3")));
    out.extend(feed(&mut s, "destroy path name:r peer-node-id:1 conn-name:peer local:ipv4:9.9.9.9:1 peer:ipv4:9.9.9.9:2"));
    assert!(out.is_empty());
    let c = s.resource("r").unwrap().connection(1).unwrap().clone();
    assert_eq!(c.paths.len(), 2);
    assert!(!c.paths.iter().next().unwrap().established);
}

#[test]
fn a_resource_serialises_to_json_and_back_unchanged() {
    let s = full_state();
    let r = s.resource("r").unwrap();
    let json = serde_json::to_string(&**r).unwrap();
    let back: drbd::Resource = serde_json::from_str(&json).unwrap();
    assert_eq!(back, **r);
}
