//! The quirks of the original (events2 spec §6, Q1–Q22) and the cases its own tests exercise
//! (§6.1): each test shows whether we reproduce the behaviour or fix it, as listed in
//! docs/compat/core.md.

use drbd::event::HelperPhase;
use drbd::parse::Problem;
use drbd::update::*;
use drbd::vocab::*;
use drbd::{parse_line, Event, EventType, PluginUpdate, State};

#[path = "support/resource_r.rs"]
mod resource_r;
use resource_r::*;

// ---- Q1–Q22 ----

#[test]
fn q1_force_io_failures_is_stored_not_thrown_away() {
    let mut s = full_state();
    feed(&mut s, "change resource name:r role:Secondary suspended:no force-io-failures:yes write-ordering:flush may_promote:no promotion_score:0");
    assert!(s.resource("r").unwrap().force_io_failures);
}

#[test]
fn q2_replay_announces_every_object_including_peer_devices_as_exists_with_full_snapshots() {
    let s = full_state();
    let mut out = Vec::new();
    s.replay(&mut out);
    let updates = objects(&out);
    assert_eq!(
        updates.len(),
        4,
        "resource, device, connection, peer device"
    );
    assert!(updates.iter().all(|u| u.event_type == EventType::Exists));
    assert!(updates.iter().any(|u| matches!(
        u.change,
        Change::PeerDevice {
            volume: 0,
            peer_node_id: 1,
            ..
        }
    )));
    assert!(updates
        .iter()
        .all(|u| *u.resource == **s.resource("r").unwrap()));
    match &updates[0].change {
        Change::Resource(d) => assert_eq!(d.new.role, Role::Secondary),
        c => panic!("{c:?}"),
    }
}

#[test]
fn q3_blocked_survives_a_full_change_line_without_it() {
    let mut s = full_state();
    feed(&mut s, "change device name:r volume:0 minor:7 backing_dev:/dev/sda disk:UpToDate client:no open:no quorum:yes size:100 read:9 written:2 al-writes:3 bm-writes:4 upper-pending:0 lower-pending:0 al-suspended:no");
    let d = s.resource("r").unwrap().device(0).unwrap().clone();
    assert!(d.blocked.upper, "blocked:upper kept");
    assert_eq!(d.read, 9);
}

#[test]
fn q4_an_unknown_tristate_is_not_yes() {
    let mut s = State::new();
    let out = feed(&mut s, "exists device name:r volume:0 minor:7 disk:UpToDate client:unknown open:unknown quorum:yes");
    let d = s.resource("r").unwrap().device(0).unwrap().clone();
    assert_eq!(d.open, Tristate::Unknown);
    assert_eq!(d.client, Tristate::Unknown);
    match &objects(&out)[0].change {
        Change::Device { diff, .. } => assert!(!diff.new.open && !diff.new.client),
        c => panic!("{c:?}"),
    }
}

#[test]
fn q5_a_destroy_for_an_unknown_resource_changes_nothing_and_emits_nothing() {
    let mut s = State::new();
    let out = feed(
        &mut s,
        "destroy resource name:ghost\ndestroy device name:ghost volume:0\ndestroy connection name:ghost peer-node-id:1 conn-name:p",
    );
    assert!(out.is_empty());
    assert!(s.is_empty());
}

#[test]
fn q5_other_lines_for_an_unknown_resource_still_create_it() {
    let mut s = State::new();
    let out = feed(
        &mut s,
        "change device name:new volume:0 minor:1 disk:Diskless client:no open:no quorum:yes",
    );
    assert_eq!(s.len(), 1);
    let r = s.resource("new").unwrap();
    assert_eq!(r.role, Role::Unknown, "resource line not seen yet");
    assert_eq!(objects(&out).len(), 1, "only the device update");
}

#[test]
fn q6_helper_lines_become_typed_updates_with_the_known_resource() {
    let mut s = full_state();
    let out = feed(
        &mut s,
        "call helper name:r peer-node-id:1 conn-name:peer volume:0 minor:7 helper:before-resync-target\nresponse helper name:r peer-node-id:1 conn-name:peer volume:0 minor:7 helper:before-resync-target status:1024",
    );
    assert_eq!(out.len(), 2);
    let PluginUpdate::Helper(call) = &out[0] else {
        panic!("{:?}", out[0])
    };
    assert_eq!(call.phase, HelperPhase::Call);
    assert_eq!(call.helper, "before-resync-target");
    assert_eq!(
        (call.volume, call.minor, call.peer_node_id),
        (Some(0), Some(7), Some(1))
    );
    assert!(call.resource.is_some());
    let PluginUpdate::Helper(response) = &out[1] else {
        panic!("{:?}", out[1])
    };
    assert_eq!(response.phase, HelperPhase::Response);
    assert_eq!(response.decoded_status().unwrap().exit_code(), Some(4));
}

#[test]
fn q6_rename_moves_the_resource_destroy_for_the_old_name_then_create_for_the_new() {
    let mut s = full_state();
    let out = feed(&mut s, "rename resource name:r new_name:s");
    assert!(s.resource("r").is_none());
    let renamed = s.resource("s").unwrap();
    assert_eq!(&*renamed.name, "s");
    assert_eq!(renamed.devices.len(), 1);
    let updates = objects(&out);
    assert_eq!(updates[0].event_type, EventType::Destroy);
    assert_eq!(updates[0].resource_name(), "r");
    assert!(updates[1..]
        .iter()
        .all(|u| u.event_type == EventType::Create && u.resource_name() == "s"));
    assert_eq!(updates.len(), 1 + 4);
    // Later lines for the new name change the moved resource, not a second one.
    feed(&mut s, "change resource name:s role:Primary");
    assert_eq!(s.len(), 1);
    assert_eq!(s.resource("s").unwrap().role, Role::Primary);
}

#[test]
fn q6_a_rename_onto_a_stale_resource_announces_that_resource_gone() {
    let mut s = full_state();
    feed(&mut s, "create resource name:s role:Secondary");
    let out = feed(&mut s, "rename resource name:r new_name:s");
    assert_eq!(s.len(), 1);
    assert_eq!(s.resource("s").unwrap().devices.len(), 1, "the renamed r");
    let updates = objects(&out);
    let destroyed: Vec<&str> = updates
        .iter()
        .filter(|u| u.event_type == EventType::Destroy)
        .map(|u| u.resource_name())
        .collect();
    assert_eq!(destroyed, ["r", "s"]);
}

#[test]
fn q6_timestamps_and_skipped_lines_are_understood() {
    let l = parse_line("2019-05-07T13:50:23.973595-07:00 exists -").unwrap();
    assert_eq!(
        l.timestamp.as_deref(),
        Some("2019-05-07T13:50:23.973595-07:00")
    );
    assert_eq!(l.event, Event::EndOfDump);
    let mut s = State::new();
    feed(&mut s, "- skipped 12");
    assert_eq!(s.counters().skipped_notifications, 12);
}

#[test]
fn q7_resync_progress_is_kept_and_cleared_when_the_resync_ends() {
    let mut s = full_state();
    feed(&mut s, "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:SyncSource peer-disk:Inconsistent peer-client:no resync-suspended:no done:37.50 received:5 sent:10 out-of-sync:2500 pending:30 unacked:40 dbdt1:0.24 eta:10");
    let p = s.resource("r").unwrap().peer_device(1, 0).unwrap().clone();
    let progress = p.progress.expect("progress kept");
    assert_eq!(progress.done.unwrap().to_string(), "37.50");
    assert_eq!(progress.eta, Some(drbd::values::Eta::Seconds(10)));
    feed(&mut s, "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no received:5 sent:10 out-of-sync:0 pending:0 unacked:0");
    assert!(s
        .resource("r")
        .unwrap()
        .peer_device(1, 0)
        .unwrap()
        .progress
        .is_none());
}

#[test]
fn q7_resync_progress_is_cleared_when_the_resync_ends_without_full() {
    let mut s = State::new();
    for l in [
        "exists resource name:r role:Secondary suspended:no",
        "exists connection name:r peer-node-id:1 conn-name:peer connection:Connected role:Secondary",
        "exists peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:SyncSource peer-disk:Inconsistent peer-client:no resync-suspended:no done:37.50",
        "exists -",
    ] {
        feed(&mut s, l);
    }
    let progress = |s: &State| {
        s.resource("r")
            .unwrap()
            .peer_device(1, 0)
            .unwrap()
            .progress
            .clone()
    };
    assert!(progress(&s).is_some());
    // A plain (not --full) change line: only the groups that changed, no statistics group
    // once `done` is gone.
    feed(&mut s, "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:Established peer-disk:UpToDate peer-client:no");
    assert!(progress(&s).is_none());
    // A change that does not name the replication state keeps a running resync's progress.
    feed(&mut s, "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:SyncTarget done:10.00");
    feed(
        &mut s,
        "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 resync-suspended:user",
    );
    assert_eq!(progress(&s).unwrap().done.unwrap().to_string(), "10.00");
}

#[test]
fn q8_a_question_mark_state_is_out_of_range_not_a_dropped_line() {
    let mut s = full_state();
    feed(
        &mut s,
        "change connection name:r peer-node-id:1 conn-name:peer connection:? role:?",
    );
    let c = s.resource("r").unwrap().connection(1).unwrap().clone();
    assert_eq!(c.connection_state, ConnectionState::OutOfRange);
    assert_eq!(c.peer_role, Role::OutOfRange);
}

#[test]
fn q8_other_bad_values_are_typed_errors_naming_the_token() {
    let e = parse_line("change device name:r volume:0 minor:-1").unwrap_err();
    assert_eq!(e.token, "minor:-1");
    assert!(matches!(e.problem, Problem::BadValue { ref key, .. } if key == "minor"));
    let e = parse_line("change device name:r volume:0 size:").unwrap_err();
    assert_eq!(e.token, "size:");
    let e = parse_line("exists resource name:r promotion_score:x").unwrap_err();
    assert_eq!(e.token, "promotion_score:x");
    assert!(e.to_string().contains("promotion_score:x"));
    // A state spelling this version does not know is no longer an error: see
    // tests/hostile.rs (`an_unknown_..._keeps_...`).
}

#[test]
fn q14_a_suspension_change_alone_produces_no_resource_update() {
    let mut s = full_state();
    let out = feed(&mut s, "change resource name:r suspended:user,quorum");
    assert!(out.is_empty());
    assert!(
        s.resource("r").unwrap().suspended.quorum,
        "stored nevertheless"
    );
}

#[test]
fn q15_congestion_and_resize_produce_updates_other_counters_do_not() {
    let mut s = full_state();
    let out = feed(&mut s, "change connection name:r peer-node-id:1 conn-name:peer connection:Connected role:Secondary congested:yes ap-in-flight:5 rs-in-flight:0");
    assert_eq!(objects(&out).len(), 1);
    let out = feed(&mut s, "change device name:r volume:0 minor:7 backing_dev:/dev/sda disk:UpToDate client:no open:no quorum:yes size:200 read:1 written:2 al-writes:3 bm-writes:4 upper-pending:0 lower-pending:0 al-suspended:no");
    assert_eq!(objects(&out).len(), 1);
    let out = feed(&mut s, "change device name:r volume:0 minor:7 backing_dev:/dev/sda disk:UpToDate client:no open:no quorum:yes size:200 read:100 written:200 al-writes:3 bm-writes:4 upper-pending:1 lower-pending:1 al-suspended:no");
    assert!(out.is_empty());
}

#[test]
fn q16_destroy_updates_carry_defaults_in_new_and_the_conn_name_for_connections() {
    let mut s = full_state();
    let out = feed(
        &mut s,
        "destroy peer-device name:r peer-node-id:1 conn-name:peer volume:0\ndestroy connection name:r peer-node-id:1 conn-name:peer\ndestroy device name:r volume:0",
    );
    let u = objects(&out);
    assert_eq!(u.len(), 3);
    match &u[0].change {
        Change::PeerDevice { diff, .. } => {
            assert_eq!(diff.old.peer_disk_state, DiskState::UpToDate);
            assert_eq!(diff.new, PeerDeviceFields::default());
        }
        c => panic!("{c:?}"),
    }
    match &u[1].change {
        Change::Connection { diff, .. } => {
            assert_eq!(diff.old.connection_state, ConnectionState::Connected);
            assert_eq!(&*diff.new.conn_name, "peer");
            assert_eq!(diff.new.connection_state, ConnectionState::StandAlone);
        }
        c => panic!("{c:?}"),
    }
    match &u[2].change {
        Change::Device { diff, .. } => assert_eq!(diff.new, DeviceFields::default()),
        c => panic!("{c:?}"),
    }
}

#[test]
fn q17_a_placeholder_connection_takes_the_conn_name_of_the_child_line() {
    let mut s = State::new();
    feed(&mut s, RES);
    let out = feed(&mut s, PD);
    let c = s.resource("r").unwrap().connection(1).unwrap().clone();
    assert_eq!(&*c.conn_name, "peer");
    assert_eq!(c.connection_state, ConnectionState::StandAlone);
    assert_eq!(objects(&out).len(), 1, "only the peer-device update");
    // The connection's own line then reports a change from the placeholder values.
    let out = feed(&mut s, CONN);
    match &objects(&out)[0].change {
        Change::Connection { diff, .. } => {
            assert_eq!(&*diff.old.conn_name, "peer");
            assert_eq!(diff.old.connection_state, ConnectionState::StandAlone);
            assert_eq!(diff.new.connection_state, ConnectionState::Connected);
        }
        c => panic!("{c:?}"),
    }
}

/// The corpus' `create connection` lines carry `connection:StandAlone role:Unknown`: the
/// placeholder's own values. Its own line then changed nothing, and the connection was never
/// announced (the original announces it: its nameless placeholder differs in the name).
#[test]
fn q17_a_placeholder_is_announced_by_its_own_line_even_when_it_changes_nothing() {
    let mut s = State::new();
    feed(&mut s, RES);
    feed(&mut s, PD);
    let out = feed(
        &mut s,
        "exists connection name:r peer-node-id:1 conn-name:peer connection:StandAlone role:Unknown",
    );
    let u = objects(&out);
    assert_eq!(u.len(), 1, "one Connection update");
    match &u[0].change {
        Change::Connection { diff, .. } => {
            assert_eq!(&*diff.old.conn_name, "peer");
            assert_eq!(diff.new.connection_state, ConnectionState::StandAlone);
        }
        c => panic!("{c:?}"),
    }
    // Announced once: the same line again is no change.
    let out = feed(
        &mut s,
        "change connection name:r peer-node-id:1 conn-name:peer connection:StandAlone role:Unknown",
    );
    assert!(objects(&out).is_empty());
}

/// The flag is for placeholders only: a connection made by its own line is announced once,
/// and its next line that changes nothing (a statistics refresh) is no update.
#[test]
fn q17_a_connection_made_by_its_own_line_gets_no_update_for_an_unchanged_line() {
    let mut s = State::new();
    feed(&mut s, RES);
    let line = "exists connection name:r peer-node-id:1 conn-name:peer connection:Connected role:Secondary";
    assert_eq!(objects(&feed(&mut s, line)).len(), 1);
    let refresh = "change connection name:r peer-node-id:1 conn-name:peer connection:Connected role:Secondary ap-in-flight:8";
    assert!(objects(&feed(&mut s, refresh)).is_empty());
}

#[test]
fn q18_a_device_destroy_leaves_the_peer_devices_of_that_volume() {
    let mut s = full_state();
    feed(&mut s, "destroy device name:r volume:0");
    let r = s.resource("r").unwrap();
    assert!(r.device(0).is_none());
    assert!(r.peer_device(1, 0).is_some());
}

#[test]
fn q19_connection_and_resource_destroys_remove_children_silently() {
    let mut s = full_state();
    let out = feed(
        &mut s,
        "destroy connection name:r peer-node-id:1 conn-name:peer",
    );
    assert_eq!(objects(&out).len(), 1);
    assert!(s.resource("r").unwrap().connection(1).is_none());
    let mut s = full_state();
    let out = feed(&mut s, "destroy resource name:r");
    let u = objects(&out);
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].event_type, EventType::Destroy);
    assert_eq!(u[0].resource.devices.len(), 1, "pre-destroy snapshot");
    assert!(s.is_empty());
}

#[test]
fn q20_end_of_dump_emits_nothing_and_later_objects_are_create() {
    let mut s = State::new();
    let out = feed(&mut s, "exists -");
    assert!(out.is_empty());
    let out = feed(&mut s, &RES.replace("exists", "create"));
    assert_eq!(objects(&out)[0].event_type, EventType::Create);
}

#[test]
fn q21_duplicate_keys_last_wins_and_extra_keys_are_kept_aside_and_counted() {
    let l = parse_line("exists resource name:r role:Primary role:Secondary xxx:bla").unwrap();
    let Event::Object { object, .. } = &l.event else {
        panic!("{l:?}")
    };
    assert_eq!(
        object.unknown_keys(),
        &vec![("xxx".to_string(), "bla".to_string())]
    );
    let mut s = State::new();
    let mut out = Vec::new();
    s.apply(l.event, &mut out);
    assert_eq!(s.resource("r").unwrap().role, Role::Secondary);
    assert_eq!(s.counters().unknown_keys, 1);
}

#[test]
fn q21_a_token_without_a_colon_is_a_typed_error_not_ignored() {
    let e = parse_line("exists resource name:r bogus").unwrap_err();
    assert_eq!(e.token, "bogus");
    assert_eq!(e.problem, Problem::NotAPair);
}

#[test]
fn q22_short_change_lines_merge_into_the_known_state() {
    let mut s = full_state();
    let out = feed(
        &mut s,
        "change resource name:r may_promote:yes promotion_score:10102",
    );
    let r = s.resource("r").unwrap().clone();
    assert_eq!(r.role, Role::Secondary, "role not on the line, kept");
    assert_eq!(r.write_ordering, Some(WriteOrdering::Flush));
    assert!(r.may_promote);
    assert_eq!(objects(&out).len(), 1);
    feed(
        &mut s,
        "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:SyncSource",
    );
    let p = s.resource("r").unwrap().peer_device(1, 0).unwrap().clone();
    assert_eq!(p.replication_state, ReplicationState::SyncSource);
    assert_eq!(p.peer_disk_state, DiskState::UpToDate, "kept");
}
