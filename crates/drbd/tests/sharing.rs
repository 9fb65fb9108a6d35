//! Copy on write: each resource sits behind an `Arc`; applying a line replaces only that
//! resource's `Arc`, snapshots and updates share the rest, and reconciliation keeps the
//! `Arc` of every resource that did not change.

use drbd::{parse_line, synth, PluginUpdate, State};
use std::sync::Arc;

fn state_of(resources: usize) -> State {
    let mut s = State::new();
    let mut out = Vec::new();
    for line in synth::initial_dump(resources, 2) {
        s.apply(line.event, &mut out);
    }
    s
}

#[test]
fn applying_a_line_replaces_only_its_resources_arc() {
    let mut s = state_of(3);
    let snapshot = s.snapshot();
    let (changed, other) = (synth::resource_name(0), synth::resource_name(1));
    let mut out = Vec::new();
    let line = format!("change resource name:{changed} role:Secondary may_promote:yes");
    s.apply(parse_line(&line).unwrap().event, &mut out);
    assert!(Arc::ptr_eq(
        &snapshot[other.as_str()],
        s.resource(&other).unwrap()
    ));
    assert!(!Arc::ptr_eq(
        &snapshot[changed.as_str()],
        s.resource(&changed).unwrap()
    ));
    assert!(
        !snapshot[changed.as_str()].may_promote,
        "the snapshot is unchanged"
    );
    assert!(s.resource(&changed).unwrap().may_promote);
    // The update carries the new resource itself, not a copy.
    let PluginUpdate::Object(u) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(Arc::ptr_eq(&u.resource, s.resource(&changed).unwrap()));
}

#[test]
fn a_line_that_changes_nothing_visible_still_keeps_other_resources_shared() {
    let mut s = state_of(2);
    let before = s.snapshot();
    let mut out = Vec::new();
    for line in synth::full_change_lines(2, 2, 50, 3) {
        s.apply(line.event, &mut out);
    }
    let after = s.snapshot();
    assert_eq!(before.len(), after.len());
    // Touched resources got new Arcs; the old snapshot still reads the old counters.
    for r in after.iter() {
        let old = &before[&*r.name];
        if !Arc::ptr_eq(r, old) {
            assert_ne!(**r, **old);
        }
    }
}

#[test]
fn reconciling_keeps_the_arc_of_every_unchanged_resource() {
    let mut s = state_of(4);
    let before = s.snapshot();
    let mut fresh = state_of(4);
    let name = synth::resource_name(2);
    let mut out = Vec::new();
    let line = format!("change resource name:{name} role:Primary");
    fresh.apply(parse_line(&line).unwrap().event, &mut out);
    let mut updates = Vec::new();
    s.reconcile(fresh, &mut updates);
    assert_eq!(updates.len(), 1, "{updates:?}");
    for r in before.iter() {
        let n = &*r.name;
        assert_eq!(Arc::ptr_eq(r, s.resource(n).unwrap()), *n != name, "{n}");
    }
}
