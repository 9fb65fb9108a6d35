//! Grammar edge cases of events2 spec §2: key order, separators, empty values, colons in
//! values, `--diff` values, prefixes of expected keys and the keys newer drbd-utils print.

use drbd::event::*;
use drbd::parse::Problem;
use drbd::values::{Eta, Hundredths};
use drbd::vocab::*;
use drbd::{parse_line, Event, EventType};

fn object(line: &str) -> ObjectLine {
    match parse_line(line)
        .unwrap_or_else(|e| panic!("{e}: {line}"))
        .event
    {
        Event::Object { object, .. } => object,
        e => panic!("{e:?}"),
    }
}

const DEVICE: &str = "change device name:r volume:0 minor:7 backing_dev:/dev/sda disk:UpToDate client:no open:yes quorum:yes size:100 read:1 written:2 al-writes:3 bm-writes:4 upper-pending:5 lower-pending:6 al-suspended:no blocked:lower";

#[test]
fn keys_in_any_order_give_the_same_line() {
    let ordered = object(DEVICE);
    let mut tokens: Vec<&str> = DEVICE.split(' ').collect();
    tokens[2..].reverse();
    let reversed = object(&tokens.join(" "));
    assert_eq!(reversed, ordered);
    tokens[2..].rotate_left(5);
    assert_eq!(object(&tokens.join(" ")), ordered);
}

#[test]
fn tabs_and_repeated_blanks_separate_tokens_too() {
    let spaced = DEVICE.replace(' ', " \t  ");
    assert_eq!(object(&format!("  {spaced}  \r\n")), object(DEVICE));
}

#[test]
fn values_keep_colons_and_may_be_empty() {
    let ObjectLine::Path(p) = object("exists path name:r peer-node-id:1 conn-name: local:ipv6:[fe80::1%eth0]:7000 peer:ipv4:10.0.0.2:7000 established:yes") else {
        panic!()
    };
    assert_eq!(p.conn_name, "");
    assert_eq!(p.local.host, "[fe80::1%eth0]");
    assert_eq!(p.peer.port, 7000);
}

#[test]
fn diff_values_yield_their_new_side_on_expected_and_unexpected_keys() {
    let ObjectLine::Connection(c) = object("change connection name:r peer-node-id:1 conn-name:p connection:StandAlone->Connected congested:UNKNOWN->no role:Unknown->Secondary") else {
        panic!()
    };
    assert_eq!(c.connection, Some(ConnectionState::Connected));
    assert_eq!(c.role, Some(Role::Secondary));
    assert_eq!(c.congested, Some(false));
}

#[test]
fn a_key_that_extends_the_expected_key_is_not_mistaken_for_it() {
    let ObjectLine::PeerDevice(p) = object("change peer-device name:r peer-node-id:1 conn-name:p volume:0 replication:SyncTarget done:5.00 dbdt0:1.50 dbdt1:2.25 eta:nan") else {
        panic!()
    };
    let progress = p.progress.unwrap();
    assert_eq!(progress.dbdt, None);
    assert_eq!(progress.dbdt0, Some(Hundredths(150)));
    assert_eq!(progress.dbdt1, Some(Hundredths(225)));
    assert_eq!(progress.eta, Some(Eta::Unknown));
}

/// drbdsetup prints a rate that went backwards as negative (a signed difference) and a
/// wrapped unsigned counter past 64 bits: those statistics are not known, and the line keeps
/// its states instead of being rejected (a SyncTarget -> PausedSyncT would be lost with it).
#[test]
fn odd_resync_statistics_are_unknown_and_the_lines_states_still_apply() {
    let ObjectLine::PeerDevice(p) = object("change peer-device name:r peer-node-id:1 conn-name:p volume:0 replication:PausedSyncT peer-disk:UpToDate resync-suspended:user done:123456789012345678901234.00 dbdt1:-0.12 eta:184467440737095516160") else {
        panic!()
    };
    assert_eq!(p.replication, Some(ReplicationState::PausedSyncT));
    assert_eq!(p.peer_disk, Some(DiskState::UpToDate));
    assert_eq!(p.progress, None, "nothing known of the progress");
    // What it prints parses back to the same line (the fuzz target parse_apply's invariant).
    let line = parse_line(
        "change peer-device name:r peer-node-id:1 conn-name:p volume:0 done:x dbdt1:2.25",
    )
    .unwrap();
    assert_eq!(parse_line(&line.to_string()).unwrap(), line);
}

#[test]
fn verification_progress_and_newer_keys_are_typed() {
    let ObjectLine::PeerDevice(p) = object("change peer-device name:r peer-node-id:1 conn-name:p volume:0 replication:VerifyS peer-disk:UpToDate peer-client:no resync-suspended:user,max-parallel done:12.34 received:0 sent:0 out-of-sync:0 pending:0 unacked:0 rs-total:1000 rs-dt-start-ms:10 rs-paused-ms:0 rs-dt0-ms:5 rs-db0-sectors:6 rs-dt1-ms:7 rs-db1-sectors:8 ov-start-sector:0 ov-stop-sector:100 ov-position:50 ov-left:50 ov-skipped:0 dbdt:1.00 dbdt0:1.00 dbdt1:1.00 eta:42") else {
        panic!()
    };
    let s = p.resync_suspended.unwrap();
    assert!(s.user && s.max_parallel && !s.peer);
    let progress = p.progress.unwrap();
    assert_eq!(progress.ov_position, Some(50));
    assert_eq!(progress.eta, Some(Eta::Seconds(42)));
    let ObjectLine::Device(d) = object(DEVICE) else {
        panic!()
    };
    assert_eq!(d.open, Some(Tristate::Yes));
    let ObjectLine::Resource(r) = object("change resource name:r force-io-failures:yes") else {
        panic!()
    };
    assert_eq!(r.force_io_failures, Some(true));
}

#[test]
fn sentinel_counters_parse_and_larger_ones_are_errors() {
    let ObjectLine::Device(d) = object("change device name:r volume:0 read:18446744073709551615")
    else {
        panic!()
    };
    assert_eq!(d.read, Some(u64::MAX));
    let e = parse_line("change device name:r volume:0 read:18446744073709551616").unwrap_err();
    assert_eq!(e.token, "read:18446744073709551616");
}

#[test]
fn missing_identity_keys_are_typed_errors() {
    for (line, key) in [
        ("exists device name:r minor:1", "volume"),
        ("exists connection name:r conn-name:p", "peer-node-id"),
        (
            "exists peer-device name:r peer-node-id:1 volume:0",
            "conn-name",
        ),
        (
            "exists path name:r peer-node-id:1 conn-name:p local:ipv4:1.2.3.4:1",
            "peer",
        ),
        ("exists resource role:Primary", "name"),
        ("call helper name:r", "helper"),
        ("rename resource name:r", "new_name"),
    ] {
        let e = parse_line(line).unwrap_err();
        assert_eq!(e.problem, Problem::MissingKey(key), "{line}");
    }
    assert_eq!(parse_line("   ").unwrap_err().problem, Problem::Empty);
    assert_eq!(
        parse_line("exists").unwrap_err().problem,
        Problem::MissingKind
    );
}

#[test]
fn every_verb_and_kind_parses() {
    for verb in EventType::ALL {
        for line in [
            "resource name:r",
            "device name:r volume:0",
            "connection name:r peer-node-id:1 conn-name:p",
            "peer-device name:r peer-node-id:1 conn-name:p volume:0",
            "path name:r peer-node-id:1 conn-name:p local:ipv4:1.2.3.4:1 peer:ipv4:1.2.3.5:1",
        ] {
            let parsed = parse_line(&format!("{} {line}", verb.verb())).unwrap();
            assert!(
                matches!(parsed.event, Event::Object { event_type, .. } if event_type == *verb)
            );
        }
    }
    assert!(matches!(
        parse_line("exists -").unwrap().event,
        Event::EndOfDump
    ));
    assert!(matches!(
        parse_line("- skipped 3").unwrap().event,
        Event::Skipped(3)
    ));
    assert!(matches!(
        parse_line("rename resource name:a new_name:b")
            .unwrap()
            .event,
        Event::Rename { .. }
    ));
    assert!(matches!(
        parse_line("response helper name:r helper:fence-peer status:0")
            .unwrap()
            .event,
        Event::Helper(HelperLine {
            phase: HelperPhase::Response,
            status: Some(0),
            ..
        })
    ));
}
