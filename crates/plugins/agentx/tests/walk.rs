//! The MIB as an SNMP walk sees it, on the events2 fixture: the same rows and values as the
//! original's walk, and GET/GETNEXT edge cases (missing instances, ranges, newer kernels).

use agentx_pdu::{Oid, SearchRange, Value};
use drbd::{parse_line, State};
use drbd_reactor_agentx::mib::*;

fn fixture() -> State {
    let mut s = State::new();
    let mut out = Vec::new();
    for l in include_str!("fixtures/monitoring-example.events2").lines() {
        s.apply(parse_line(l).unwrap().event, &mut out);
    }
    s
}

/// net-snmp's `-On` rendering of a value.
fn show(v: &Value) -> String {
    match v {
        Value::Integer(i) => format!("INTEGER: {i}"),
        Value::OctetString(s) => format!("STRING: \"{}\"", String::from_utf8_lossy(s)),
        Value::Gauge32(g) => format!("Gauge32: {g}"),
        Value::Counter64(c) => format!("Counter64: {c}"),
        other => format!("{other:?}"),
    }
}

fn walk(t: &MibTable) -> Vec<String> {
    let mut out = Vec::new();
    let mut range = SearchRange {
        start: Oid(LINBIT.to_vec()),
        include: false,
        end: Oid::default(),
    };
    while let Some((oid, v)) = t.get_next(&range) {
        if !oid.starts_with(&Oid(LINBIT.to_vec())) {
            break;
        }
        out.push(format!(".{oid} = {}", show(v)));
        range.start = oid.clone();
    }
    out
}

#[test]
fn walk_of_the_fixture_equals_the_originals_line_for_line() {
    let s = fixture();
    let t = MibTable::build(s.resources().map(|r| &**r), "9.2.8", "9.28.0", true);
    let expected: Vec<&str> = include_str!("fixtures/agentx-example-snmpwalk.txt")
        .lines()
        .collect();
    assert_eq!(walk(&t), expected);
}

#[test]
fn scalars_answer_a_get_with_and_without_the_instance_suffix() {
    let t = MibTable::build(std::iter::empty(), "9.2.8", "9.28.0", true);
    let with: Oid = "1.3.6.1.4.1.23302.1.1.1.0".parse().unwrap();
    let without: Oid = "1.3.6.1.4.1.23302.1.1.1".parse().unwrap();
    assert_eq!(t.get(&with), Value::OctetString(b"9.2.8".to_vec()));
    assert_eq!(t.get(&without), Value::OctetString(b"9.2.8".to_vec()));
}

#[test]
fn getnext_from_a_scalar_goes_to_the_next_scalar_not_to_an_instance_suffix() {
    let t = MibTable::build(std::iter::empty(), "9.2.8", "9.28.0", true);
    let next = t
        .get_next(&SearchRange {
            start: "1.3.6.1.4.1.23302.1.1.1".parse().unwrap(),
            include: false,
            end: Oid::default(),
        })
        .unwrap();
    assert_eq!(next.0.to_string(), "1.3.6.1.4.1.23302.1.1.2");
    assert_eq!(
        t.get(&"1.3.6.1.4.1.23302.1.1.3.0".parse().unwrap()),
        Value::NoSuchObject
    );
}

#[test]
fn unknown_minor_of_a_served_column_is_no_such_instance() {
    let s = fixture();
    let t = MibTable::build(s.resources().map(|r| &**r), "9.2.8", "9.28.0", true);
    assert_eq!(
        t.get(&"1.3.6.1.4.1.23302.1.2.1.2.7".parse().unwrap()),
        Value::NoSuchInstance
    );
    assert_eq!(
        t.get(&"1.3.6.1.4.1.23302.1.2.1.99.1000".parse().unwrap()),
        Value::NoSuchObject
    );
    assert_eq!(
        t.get(&"1.3.6.1.4.1.23302.9".parse().unwrap()),
        Value::NoSuchObject
    );
}

#[test]
fn without_peer_states_columns_24_to_49_do_not_exist() {
    let s = fixture();
    let t = MibTable::build(s.resources().map(|r| &**r), "9.2.8", "9.28.0", false);
    assert_eq!(t.len(), 2 + 23);
}

#[test]
fn size_cells_follow_hr_storage_units() {
    assert_eq!(size_cells(1_048_576), Some((1_048_576, 1024)));
    assert_eq!(
        size_cells(8_589_934_592_000),
        Some((8_192_000, 1_073_741_824))
    );
    assert_eq!(
        size_cells(4_398_046_511_104),
        Some((4_194_304, 1_073_741_824))
    );
}

#[test]
fn get_next_respects_include_and_end() {
    let s = fixture();
    let t = MibTable::build(s.resources().map(|r| &**r), "9.2.8", "9.28.0", true);
    let start: Oid = "1.3.6.1.4.1.23302.1.2.1.1.1000".parse().unwrap();
    let inc = t
        .get_next(&SearchRange {
            start: start.clone(),
            include: true,
            end: Oid::default(),
        })
        .unwrap();
    assert_eq!(inc.0, start);
    let exc = t
        .get_next(&SearchRange {
            start: start.clone(),
            include: false,
            end: Oid::default(),
        })
        .unwrap();
    assert_eq!(exc.0.to_string(), "1.3.6.1.4.1.23302.1.2.1.2.1000");
    let end: Oid = "1.3.6.1.4.1.23302.1.2.1.2".parse().unwrap();
    assert!(t
        .get_next(&SearchRange {
            start: start.clone(),
            include: false,
            end
        })
        .is_none());
    // The end is exclusive (RFC 2741 §5.2): the next OID itself as end finds nothing.
    let end: Oid = "1.3.6.1.4.1.23302.1.2.1.2.1000".parse().unwrap();
    assert!(t
        .get_next(&SearchRange {
            start,
            include: false,
            end
        })
        .is_none());
}

#[test]
fn a_device_with_states_from_a_newer_kernel_keeps_its_row() {
    let mut s = fixture();
    let before = walk(&MibTable::build(
        s.resources().map(|r| &**r),
        "9.2.8",
        "9.28.0",
        true,
    ))
    .len();
    let mut out = Vec::new();
    let line = "change device name:r0 volume:0 minor:1000 disk:Frozen blocked:upper,sideways";
    s.apply(parse_line(line).unwrap().event, &mut out);
    let rows = walk(&MibTable::build(
        s.resources().map(|r| &**r),
        "9.2.8",
        "9.28.0",
        true,
    ));
    assert_eq!(rows.len(), before, "no cell lost");
    assert!(
        rows.iter().any(|r| r.ends_with("STRING: \"?\"")),
        "disk state out of range"
    );
    assert!(
        rows.iter().any(|r| r.ends_with("STRING: \"upper,other\"")),
        "blocked flags"
    );
}
