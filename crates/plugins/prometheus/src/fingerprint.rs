//! What a block's series depend on, digested: its label sets, and per family the values it
//! shows. A block keeps these instead of the resources it rendered, and tells which of its
//! families a new state leaves as they were by digesting the new state the same way.
//!
//! Why: comparing with the previous resources meant the cache held a reference to every
//! resource it had rendered, and the core changes a shared resource by copying it first: a
//! statistics poll copied all of them (6 MB for 10k resources, and the copying itself) while
//! the cache kept the old ones. A fingerprint is 16 bytes per block plus 8 per family.
//!
//! Must never: leave out anything the text of a family depends on (its series would then be
//! kept stale), or depend on anything else (it would render what did not change). Two
//! different inputs give the same digest only by a hash collision (xxh3: 2^-128 for labels,
//! 2^-64 for one family's values of one block).

use crate::families::*;
use crate::render::{slots, Objects, Slot, Span};
use drbd::PeerDevice;
use std::hash::{Hash, Hasher};

/// The digests of one block's objects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    /// The label sets and how they are split into objects.
    pub objects: u128,
    /// Per slot: the values its series show (the labels aside).
    pub series: Vec<u64>,
}

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Bytes this thread's buffer holds (tests).
#[cfg(test)]
pub(crate) fn scratch_held() -> usize {
    BUFFER.with_borrow(Vec::capacity)
}

/// Frees this thread's buffer.
pub(crate) fn free_scratch() {
    let _ = BUFFER.try_with(|b| b.take());
}

/// Digests `o`: its labels, then every slot's values.
pub fn fingerprint(o: &Objects) -> Fingerprint {
    BUFFER.with_borrow_mut(|buf| {
        buf.clear();
        buf.extend_from_slice(o.arena.as_bytes());
        spans(buf, o.resources.iter().map(|(s, _)| s));
        spans(buf, o.connections.iter().map(|(s, _)| s));
        spans(buf, o.peer_devices.iter().map(|(s, _)| s));
        spans(buf, o.devices.iter().map(|(s, _)| s));
        spans(buf, o.paths.iter().map(|(s, _)| s));
        let objects = xxhash_rust::xxh3::xxh3_128(buf);
        let series = slots()
            .iter()
            .map(|slot| {
                buf.clear();
                values(*slot, o, buf);
                xxhash_rust::xxh3::xxh3_64(buf)
            })
            .collect();
        Fingerprint { objects, series }
    })
}

/// The number of spans, then where each ends (they follow each other in the arena, but not
/// across lists).
fn spans<'a>(buf: &mut Vec<u8>, list: impl ExactSizeIterator<Item = &'a Span>) {
    buf.extend_from_slice(&(list.len() as u64).to_le_bytes());
    for s in list {
        buf.extend_from_slice(&(s.start as u64).to_le_bytes());
        buf.extend_from_slice(&(s.end as u64).to_le_bytes());
    }
}

/// A hasher that only collects what it is fed, for values whose `Hash` is derived.
struct Feed<'a>(&'a mut Vec<u8>);

impl Hasher for Feed<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// Appends the values of `slot`'s series, in series order, to `buf`.
fn values(slot: Slot, o: &Objects, buf: &mut Vec<u8>) {
    fn numbers<T>(buf: &mut Vec<u8>, objects: &[(Span, &T)], value: fn(&T) -> u64) {
        for (_, x) in objects {
            buf.extend_from_slice(&value(x).to_le_bytes());
        }
    }
    fn hashed<T, V: Hash>(buf: &mut Vec<u8>, objects: &[(Span, &T)], value: impl Fn(&T) -> V) {
        let mut feed = Feed(buf);
        for (_, x) in objects {
            value(x).hash(&mut feed);
        }
    }
    let progress = |p: &PeerDevice| p.progress.as_deref().map(|g| (g.done, g.eta));
    match slot {
        Slot::ResourceRole => hashed(buf, &o.resources, |r| r.role),
        Slot::Resource(i) => numbers(buf, &o.resources, RESOURCE_FAMILIES[i].value),
        Slot::ConnectionState => hashed(buf, &o.connections, |c| c.connection_state),
        Slot::PeerDevice(i) => numbers(buf, &o.peer_devices, PEER_DEVICE_FAMILIES[i].value),
        Slot::Connection(i) => numbers(buf, &o.connections, CONNECTION_FAMILIES[i].value),
        Slot::DeviceState => hashed(buf, &o.devices, |d| d.disk_state),
        Slot::Device(i) => numbers(buf, &o.devices, DEVICE_FAMILIES[i].value),
        Slot::NewPeerDevice(i) => numbers(buf, &o.peer_devices, NEW_PEER_DEVICE_FAMILIES[i].value),
        Slot::ResyncDone | Slot::ResyncEta => hashed(buf, &o.peer_devices, progress),
        Slot::ReplicationInfo => hashed(buf, &o.peer_devices, |p| p.replication_state),
        Slot::PeerDiskInfo => hashed(buf, &o.peer_devices, |p| p.peer_disk_state),
        Slot::PeerRoleInfo => hashed(buf, &o.connections, |c| c.peer_role),
        Slot::PathEstablished => buf.extend(o.paths.iter().map(|(_, e)| u8::from(*e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{collect, render_slots};
    use drbd::synth::{full_change_lines, initial_dump};
    use drbd::{Resource, State};
    use std::sync::Arc;

    fn texts(resources: &[Arc<Resource>], enums: bool) -> (Fingerprint, Vec<String>) {
        let o = collect(resources.iter().map(|r| &**r));
        let mut out = vec![String::new(); slots().len()];
        render_slots(&o, enums, |_| true, &mut out);
        (fingerprint(&o), out)
    }

    #[test]
    fn a_family_whose_text_changed_always_has_a_changed_digest() {
        let mut state = State::new();
        for line in initial_dump(12, 2) {
            state.apply(line.event, &mut Vec::new());
        }
        let (mut kept, mut changed) = (0, 0);
        for (i, line) in full_change_lines(12, 2, 3_000, 5).into_iter().enumerate() {
            let enums = i % 2 == 0;
            let before: Vec<_> = state.resources().cloned().collect();
            state.apply(line.event, &mut Vec::new());
            let after: Vec<_> = state.resources().cloned().collect();
            let (p, t) = texts(&before, enums);
            let (q, u) = texts(&after, enums);
            for s in 0..slots().len() {
                let same_digests = p.objects == q.objects && p.series[s] == q.series[s];
                if t[s] != u[s] {
                    changed += 1;
                    assert!(
                        !same_digests,
                        "line {i}, slot {:?}: text changed, digests did not",
                        slots()[s]
                    );
                } else if same_digests {
                    kept += 1;
                }
            }
        }
        // Both cases happen: the test would pass vacuously otherwise.
        assert!(
            kept > 10_000 && changed > 1_000,
            "kept {kept} changed {changed}"
        );
    }

    #[test]
    fn the_same_objects_give_the_same_fingerprint() {
        let mut state = State::new();
        for line in initial_dump(5, 2) {
            state.apply(line.event, &mut Vec::new());
        }
        let resources: Vec<_> = state.resources().cloned().collect();
        let copies: Vec<_> = resources.iter().map(|r| Arc::new((**r).clone())).collect();
        assert_eq!(texts(&resources, true).0, texts(&copies, true).0);
        assert_ne!(texts(&resources, true).0, texts(&resources[1..], true).0);
    }
}
