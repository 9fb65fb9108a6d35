//! Hostile and future input: a value a newer kernel adds never makes an object vanish, a
//! control character in a name never makes a phantom object, and `- skipped` notifications
//! reach the caller. Each difference from the original is listed in docs/compat/core.md.

use drbd::event::{ObjectLine, UnknownValues};
use drbd::parse::Problem;
use drbd::vocab::*;
use drbd::Line;
use drbd::{parse_line, Event, PluginUpdate, SeenUnknowns, State};

const RES: &str = "exists resource name:r role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10101";
const DEV: &str = "exists device name:r volume:0 minor:7 backing_dev:/dev/sda disk:UpToDate client:no open:no quorum:yes size:100 read:1 written:2 al-writes:3 bm-writes:4 upper-pending:0 lower-pending:0 al-suspended:no blocked:no";
const CONN: &str = "exists connection name:r peer-node-id:1 conn-name:peer connection:Connected role:Secondary congested:no ap-in-flight:0 rs-in-flight:0";
const PD: &str = "exists peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no received:0 sent:0 out-of-sync:0 pending:0 unacked:0";

/// Applies each line (which must parse) to `state`; returns the updates.
fn feed(state: &mut State, lines: &[&str]) -> Vec<PluginUpdate> {
    let mut out = Vec::new();
    for line in lines {
        let parsed = parse_line(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        state.apply(parsed.event, &mut out);
    }
    out
}

fn unknown_values(line: &str) -> UnknownValues {
    parse_line(line).unwrap().unknown_values
}

fn pair(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn an_unknown_resync_suspended_reason_keeps_the_peer_device_and_records_the_value() {
    let line = "exists peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:PausedSyncT peer-disk:UpToDate peer-client:no resync-suspended:user,future-reason received:0 sent:0 out-of-sync:0 pending:0 unacked:0";
    let mut s = State::new();
    feed(&mut s, &[RES, DEV, CONN, line]);
    let p = s.resource("r").unwrap().peer_device(1, 0).unwrap().clone();
    assert_eq!(p.replication_state, ReplicationState::PausedSyncT);
    assert!(p.resync_suspended.user && p.resync_suspended.other);
    assert!(p.resync_suspended.any());
    assert_eq!(
        unknown_values(line),
        vec![pair("resync-suspended", "user,future-reason")]
    );
}

#[test]
fn an_unknown_state_name_is_stored_as_out_of_range_and_keeps_each_object() {
    let lines = [
        "exists resource name:r role:Tertiary suspended:no",
        "exists device name:r volume:0 minor:7 disk:Frozen client:maybe blocked:upper,sideways",
        "exists connection name:r peer-node-id:1 conn-name:peer connection:Handshaking role:Primary",
        "exists peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:Teleporting peer-disk:Melted",
    ];
    let mut s = State::new();
    feed(&mut s, &lines);
    let counted: usize = lines.iter().map(|l| unknown_values(l).len()).sum();
    assert_eq!(
        counted, 7,
        "each unknown value is on its line, for the daemon to count"
    );
    let r = s.resource("r").expect("resource kept");
    assert_eq!(r.role, Role::OutOfRange);
    let d = r.device(0).expect("device kept");
    assert_eq!(d.disk_state, DiskState::OutOfRange);
    assert_eq!(
        d.client,
        Tristate::default(),
        "no out-of-range value: unreported"
    );
    assert!(d.blocked.upper && d.blocked.other);
    let c = r.connection(1).expect("connection kept");
    assert_eq!(c.connection_state, ConnectionState::OutOfRange);
    assert_eq!(c.peer_role, Role::Primary);
    let p = r.peer_device(1, 0).expect("peer device kept");
    assert_eq!(p.replication_state, ReplicationState::OutOfRange);
    assert_eq!(p.peer_disk_state, DiskState::OutOfRange);
}

#[test]
fn a_line_with_unknown_values_prints_back_its_original_tokens() {
    for line in [
        "exists resource name:r role:Tertiary suspended:user,later write-ordering:fua",
        "change device name:r volume:0 disk:Frozen client:maybe open:perhaps blocked:",
        "change connection name:r peer-node-id:1 conn-name:peer connection:Handshaking role:?",
        "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:Teleporting peer-disk:? peer-client:maybe resync-suspended:future",
    ] {
        let parsed = parse_line(line).unwrap();
        assert_eq!(parsed.to_string(), line);
        assert_eq!(parse_line(&parsed.to_string()).unwrap(), parsed);
    }
}

#[test]
fn a_repeated_key_replaces_an_unknown_value_before_it_and_the_order_stays_printed_order() {
    // Found by the parse_apply fuzz target: the earlier unknown token used to stay recorded
    // and was printed instead of the value that won.
    for (line, printed, unknown) in [
        (
            "change connection name:r peer-node-id:1 conn-name:p connection:bogus connection:StandAlone",
            "change connection name:r peer-node-id:1 conn-name:p connection:StandAlone",
            vec![],
        ),
        (
            "change connection name:r peer-node-id:1 conn-name:p connection:bogus connection:worse",
            "change connection name:r peer-node-id:1 conn-name:p connection:worse",
            vec![pair("connection", "worse")],
        ),
        (
            "change connection name:r peer-node-id:1 conn-name:p connection:Connected role:Tertiary connection:bogus",
            "change connection name:r peer-node-id:1 conn-name:p connection:bogus role:Tertiary",
            vec![pair("connection", "bogus"), pair("role", "Tertiary")],
        ),
    ] {
        let parsed = parse_line(line).unwrap();
        assert_eq!(parsed.unknown_values, unknown, "{line}");
        assert_eq!(parsed.to_string(), printed);
        assert_eq!(parse_line(printed).unwrap(), parsed);
    }
}

#[test]
fn known_values_and_the_question_mark_record_no_unknown_value() {
    for line in [
        RES,
        DEV,
        CONN,
        PD,
        "change connection name:r peer-node-id:1 conn-name:peer connection:? role:?",
    ] {
        assert!(unknown_values(line).is_empty(), "{line}");
    }
}

#[test]
fn an_unknown_flag_appears_in_the_json_form_only_when_set() {
    let known: ResyncSuspended = "user".parse().unwrap();
    assert_eq!(
        serde_json::to_string(&known).unwrap(),
        r#"{"user":true,"peer":false,"dependency":false,"max_parallel":false}"#
    );
    let (with_other, all_known) = ResyncSuspended::lenient("user,future");
    assert!(!all_known);
    let json = serde_json::to_string(&with_other).unwrap();
    assert!(json.contains(r#""other":true"#), "{json}");
    let back: ResyncSuspended = serde_json::from_str(&json).unwrap();
    assert_eq!(back, with_other);
    assert_eq!(with_other.to_string(), "user,other");
}

#[test]
fn a_coloured_state_value_is_still_its_state_not_an_unknown_value() {
    let line = "change peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:\x1b[1;33mSyncSource\x1b[0m peer-disk:\x1b[1;31mInconsistent\x1b[0m";
    let parsed = parse_line(line).unwrap();
    assert!(parsed.unknown_values.is_empty());
    let ObjectLine::PeerDevice(p) = (match parsed.event {
        Event::Object { object, .. } => object,
        e => panic!("{e:?}"),
    }) else {
        panic!("not a peer device")
    };
    assert_eq!(p.replication, Some(ReplicationState::SyncSource));
    assert_eq!(p.peer_disk, Some(DiskState::Inconsistent));
    let caret = "change resource name:r role:^[[1;32mPrimary^[[0m";
    assert!(parse_line(caret).unwrap().unknown_values.is_empty());
}

#[test]
fn the_daemon_can_warn_once_per_unknown_key_and_value() {
    let mut seen = SeenUnknowns::default();
    let line = "change device name:r volume:0 disk:Frozen";
    let first: Line = parse_line(line).unwrap();
    assert_eq!(seen.news(&first.unknown_values), vec![("disk", "Frozen")]);
    let again = parse_line(line).unwrap();
    assert!(seen.news(&again.unknown_values).is_empty());
}

#[test]
fn a_control_character_in_a_name_rejects_the_line() {
    for (line, key) in [
        ("exists resource name:r\0 role:Primary", "name"),
        ("exists resource name:\x01r role:Primary", "name"),
        ("exists resource name:r\x7f", "name"),
        ("exists resource name:r\u{85}x", "name"),
        ("exists resource name:\x1br role:Primary", "name"),
        ("exists resource name:r role:Primary bogus:\0", "bogus"),
        ("exists connection name:r peer-node-id:1 conn-name:pe\0er", "conn-name"),
        ("exists path name:r peer-node-id:1 conn-name:peer local:ipv4:10.0.0.1\0:7000 peer:ipv4:10.0.0.2:7000", "local"),
        ("exists device name:r volume:0 backing_dev:/dev/s\x02da", "backing_dev"),
        ("call helper name:r helper:fence\0-peer", "helper"),
        ("rename resource name:r new_name:s\0", "new_name"),
    ] {
        let e = parse_line(line).expect_err(line);
        assert_eq!(
            e.problem,
            Problem::ControlCharacter { key: key.to_string() },
            "{line:?}"
        );
        let shown = e.to_string();
        assert!(!shown.chars().any(char::is_control), "shown raw: {shown:?}");
    }
}

#[test]
fn a_nul_in_a_resource_name_makes_no_phantom_resource() {
    let mut s = State::new();
    feed(&mut s, &[RES]);
    let mut out = Vec::new();
    if let Ok(line) = parse_line("change resource name:r\0 role:Primary") {
        s.apply(line.event, &mut out);
    }
    assert_eq!(
        s.resources()
            .map(|r| r.name.to_string())
            .collect::<Vec<_>>(),
        ["r"]
    );
}

#[test]
fn the_event_alone_prints_unknown_values_as_the_vocabularys_unknown_value() {
    let line =
        parse_line("change device name:r volume:0 disk:Frozen client:maybe blocked:upper,later")
            .unwrap();
    assert_eq!(
        line.event.to_string(),
        "change device name:r volume:0 disk:? blocked:upper,other"
    );
}

#[test]
fn non_ascii_names_without_control_characters_are_kept() {
    let line = parse_line("exists resource name:café-ü role:Primary").unwrap();
    assert_eq!(line.to_string(), "exists resource name:café-ü role:Primary");
}

#[test]
fn skipped_notifications_parse_to_an_event_the_state_counts() {
    assert_eq!(parse_line("- skipped 7").unwrap().event, Event::Skipped(7));
    let stamped = parse_line("2019-05-07T13:50:23.973595-07:00 - skipped 2").unwrap();
    assert_eq!(stamped.event, Event::Skipped(2));
    let mut s = State::new();
    let mut out = Vec::new();
    s.apply(Event::Skipped(7), &mut out);
    s.apply(stamped.event, &mut out);
    assert_eq!(s.counters().skipped_notifications, 9);
    assert!(out.is_empty());
    assert!(parse_line("- skipped many").is_err());
}

#[test]
fn a_control_character_in_an_unknown_verb_or_kind_is_an_error_not_a_logged_name() {
    for line in [
        "exists \u{1b}foo name:r",
        "frob\u{7} resource name:r",
        "frobnicate res\u{9b}ource name:r",
        "change\u{7f} device name:r",
    ] {
        let e = parse_line(line).unwrap_err();
        assert!(
            matches!(e.problem, Problem::ControlCharacter { .. }),
            "{line:?}: {e:?}"
        );
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
    }
    // Unknown but clean: still an unknown line.
    assert!(matches!(
        parse_line("exists gadget name:r").unwrap().event,
        Event::Unknown { .. }
    ));
}

#[test]
fn skipped_notifications_saturate_instead_of_overflowing() {
    let mut s = State::new();
    feed(&mut s, &[&format!("- skipped {}", u64::MAX), "- skipped 1"]);
    assert_eq!(s.counters().skipped_notifications, u64::MAX);
}

#[test]
fn an_empty_backing_dev_keeps_the_device_line() {
    let l = parse_line("exists device name:r volume:0 minor:1 backing_dev: disk:UpToDate").unwrap();
    let Event::Object {
        object: ObjectLine::Device(d),
        ..
    } = l.event
    else {
        panic!("not a device line: {:?}", l.event);
    };
    assert_eq!(d.disk, Some(DiskState::UpToDate));
    assert_eq!(
        d.backing_dev,
        Some(drbd::event::BackingDev::Path(String::new()))
    );
}
