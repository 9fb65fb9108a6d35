//! Pure generators of realistic `drbdsetup events2 --full` streams, for benchmarks (here and
//! in the daemon) and the simulator: a large initial dump and long runs of change lines.
//!
//! Deterministic: the same arguments give the same lines. Must never: read a clock, use
//! global randomness, or produce a line drbdsetup would not print.

use crate::dump::{connection_line, device_line, dump_resource, path_line, peer_device_line};
use crate::event::*;
use crate::model::{Connection, Device, Path, PathEndpoints, PeerDevice, Resource};
use crate::values::{Address, AddressFamily, Eta, Hundredths};
use crate::vocab::*;

/// A small deterministic generator (splitmix64): enough for synthetic streams.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The name of synthetic resource `i`: `pvc-` and a UUID-like tag, as CSI drivers name them.
pub fn resource_name(i: usize) -> String {
    let mut rng = Rng::new(i as u64 ^ 0x005e_ed0f_d8bd);
    let (a, b) = (rng.next_u64(), rng.next_u64());
    format!(
        "pvc-{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

fn address(host: String, port: u16) -> Address {
    Address {
        family: AddressFamily::Ipv4,
        host,
        port,
    }
}

/// Synthetic resource `i` with one volume on the local node (node id 0) and `peers` peers
/// (node ids 1..=peers), all connected and up to date.
pub fn resource(i: usize, peers: u32) -> Resource {
    let name = resource_name(i);
    let port = 7000 + (i % 58_000) as u16;
    let mut r = Resource::new(name);
    r.role = if i % 3 == 0 {
        Role::Primary
    } else {
        Role::Secondary
    };
    r.write_ordering = Some(WriteOrdering::Flush);
    r.may_promote = false;
    r.promotion_score = 10101 + peers;
    r.devices.insert(Device {
        volume: 0,
        minor: 1000 + i as u32,
        backing_dev: Some(format!("/dev/drbdpool/{}_00000", r.name)),
        disk_state: DiskState::UpToDate,
        client: Tristate::No,
        open: Tristate::from(r.role == Role::Primary),
        quorum: true,
        size: 10_485_760 + (i as u64 % 7) * 1_048_576,
        read: 1_000 * i as u64,
        written: 2_000 * i as u64,
        al_writes: 17,
        bm_writes: 3,
        ..Device::default()
    });
    for peer in 1..=peers {
        let mut c = Connection {
            peer_node_id: peer,
            conn_name: format!("node-{peer:02}").into(),
            connection_state: ConnectionState::Connected,
            peer_role: Role::Secondary,
            ..Connection::default()
        };
        c.peer_devices.insert(PeerDevice {
            volume: 0,
            replication_state: ReplicationState::Established,
            peer_disk_state: DiskState::UpToDate,
            received: 100 * i as u64,
            sent: 2_000 * i as u64,
            ..PeerDevice::default()
        });
        c.paths.insert(Path {
            endpoints: PathEndpoints {
                local: address("10.0.0.1".into(), port),
                peer: address(format!("10.0.0.{}", peer + 1), port),
            },
            established: true,
        });
        r.connections.insert(c);
    }
    r
}

/// A `--full` initial dump of `resources` resources with `peers` peers each (for 2 peers:
/// 8 lines per resource), ending with `exists -`.
pub fn initial_dump(resources: usize, peers: u32) -> Vec<Line> {
    let mut lines = Vec::with_capacity(resources * (2 + 3 * peers as usize) + 1);
    for i in 0..resources {
        dump_resource(&resource(i, peers), &mut lines);
    }
    lines.push(Line::new(None, Event::EndOfDump));
    lines
}

fn change(object: ObjectLine) -> Line {
    Line {
        timestamp: None,
        event: Event::Object {
            event_type: EventType::Change,
            object,
        },
        unknown_values: Vec::new(),
    }
}

/// The `change peer-device` lines of a statistics poll that moves the received and sent
/// counters of every peer device of the resources `which` picks (by index in name order in
/// `state`) by `by`.
pub fn counter_moves(state: &crate::State, which: impl Fn(usize) -> bool, by: u64) -> Vec<String> {
    let mut lines = Vec::new();
    let picked = state.resources().enumerate().filter(|(i, _)| which(*i));
    for r in picked.map(|(_, r)| r) {
        for c in &r.connections {
            for p in &c.peer_devices {
                lines.push(format!(
                    "change peer-device name:{} peer-node-id:{} conn-name:{} volume:{} \
                     received:{} sent:{}",
                    r.name,
                    c.peer_node_id,
                    c.conn_name,
                    p.volume,
                    p.received + by,
                    p.sent + by
                ));
            }
        }
    }
    lines
}

/// `count` realistic `--full` change lines for the resources of [`initial_dump`]`(resources,
/// peers)`: mostly statistics counters moving, about one in fifty a state flip (a peer
/// disconnecting or reconnecting, a resync starting or ending, a role change).
pub fn full_change_lines(resources: usize, peers: u32, count: usize, seed: u64) -> Vec<Line> {
    let mut rng = Rng::new(seed);
    let mut model: Vec<Resource> = (0..resources).map(|i| resource(i, peers)).collect();
    let mut lines = Vec::with_capacity(count);
    if resources == 0 {
        return lines;
    }
    while lines.len() < count {
        let r = &mut model[rng.below(resources as u64) as usize];
        let flip = rng.below(50) == 0;
        let peer = 1 + rng.below(u64::from(peers.max(1))) as u32;
        match rng.below(20) {
            0 => {
                if flip {
                    r.role = match r.role {
                        Role::Primary => Role::Secondary,
                        _ => Role::Primary,
                    };
                }
                lines.push(change(ObjectLine::Resource(crate::dump::resource_line(r))));
            }
            1..=8 => {
                let d = r.devices.get_mut(&0).expect("volume 0");
                d.read += rng.below(4096);
                d.written += 4 * rng.below(1024);
                d.al_writes += rng.below(3);
                d.upper_pending = rng.below(4);
                d.lower_pending = rng.below(4);
                if flip {
                    d.quorum = !d.quorum;
                }
                let mut line = device_line(&r.name, d);
                // --full omits `blocked` unless it changed.
                line.blocked = None;
                lines.push(change(ObjectLine::Device(line)));
            }
            9..=16 if peers > 0 => {
                let c = r.connections.get_mut(&peer).expect("peer");
                let p = c.peer_devices.get_mut(&0).expect("volume 0");
                p.sent += 4 * rng.below(1024);
                p.received += rng.below(64);
                p.pending = rng.below(3);
                p.unacked = rng.below(3);
                if flip {
                    if p.replication_state == ReplicationState::SyncSource {
                        p.replication_state = ReplicationState::Established;
                        p.out_of_sync = 0;
                        p.progress = None;
                    } else {
                        p.replication_state = ReplicationState::SyncSource;
                        p.out_of_sync = 1 + rng.below(1 << 20);
                    }
                }
                if p.replication_state == ReplicationState::SyncSource {
                    p.out_of_sync -= p.out_of_sync.min(rng.below(4096));
                    p.progress = Some(Box::new(ResyncProgress {
                        done: Some(Hundredths(rng.below(10_000))),
                        dbdt1: Some(Hundredths(rng.below(50_000))),
                        eta: Some(Eta::Seconds(rng.below(600))),
                        ..ResyncProgress::default()
                    }));
                }
                let p = p.clone();
                let line = peer_device_line(&r.name, c, &p);
                lines.push(change(ObjectLine::PeerDevice(line)));
            }
            _ if peers > 0 => {
                let c = r.connections.get_mut(&peer).expect("peer");
                c.ap_in_flight = rng.below(256);
                c.rs_in_flight = rng.below(256);
                if flip {
                    let up = c.connection_state != ConnectionState::Connected;
                    c.connection_state = if up {
                        ConnectionState::Connected
                    } else {
                        ConnectionState::Connecting
                    };
                    c.peer_role = if up { Role::Secondary } else { Role::Unknown };
                    lines.push(change(ObjectLine::Connection(connection_line(&r.name, c))));
                    let p = c.paths.iter().next().expect("path").clone();
                    let mut path = path_line(&r.name, c, &p);
                    path.established = Some(up);
                    lines.push(change(ObjectLine::Path(path)));
                } else {
                    lines.push(change(ObjectLine::Connection(connection_line(&r.name, c))));
                }
            }
            _ => {}
        }
    }
    lines.truncate(count);
    lines
}

/// The lines as drbdsetup prints them, one per line.
pub fn render(lines: &[Line]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(lines.len() * 200);
    for l in lines {
        writeln!(text, "{l}").expect("writing to a String");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_line;
    use crate::state::State;

    #[test]
    fn counter_moves_are_change_lines_that_move_only_the_picked_peer_devices() {
        let mut s = State::new();
        for line in initial_dump(3, 2) {
            s.apply(line.event, &mut Vec::new());
        }
        // Per resource: what its first peer device sent.
        let sent = |s: &State| -> Vec<u64> {
            s.resources()
                .map(|r| {
                    let c = r.connections.iter().next().unwrap();
                    c.peer_devices.iter().next().unwrap().sent
                })
                .collect()
        };
        let before = sent(&s);
        let lines = counter_moves(&s, |i| i == 1, 5);
        assert_eq!(
            lines.len(),
            2,
            "one line per peer device of the picked resource"
        );
        for l in &lines {
            s.apply(
                parse_line(l).expect("drbdsetup's syntax").event,
                &mut Vec::new(),
            );
        }
        assert_eq!(sent(&s), [before[0], before[1] + 5, before[2]]);
    }

    #[test]
    fn the_initial_dump_has_eight_lines_per_resource_with_two_peers_and_ends_the_dump() {
        let lines = initial_dump(3, 2);
        assert_eq!(lines.len(), 3 * 8 + 1);
        assert_eq!(lines.last().unwrap().event, Event::EndOfDump);
    }

    #[test]
    fn generated_lines_parse_back_and_build_the_model() {
        let text = render(&initial_dump(5, 2));
        let mut state = State::new();
        let mut out = Vec::new();
        for line in text.lines() {
            state.apply(parse_line(line).unwrap().event, &mut out);
        }
        assert_eq!(state.len(), 5);
        for i in 0..5 {
            assert_eq!(**state.resource(&resource_name(i)).unwrap(), resource(i, 2));
        }
    }

    #[test]
    fn change_lines_are_deterministic_parse_back_and_apply_to_the_dump() {
        let a = full_change_lines(10, 2, 2_000, 7);
        assert_eq!(a, full_change_lines(10, 2, 2_000, 7));
        assert_eq!(a.len(), 2_000);
        let mut state = State::new();
        let mut out = Vec::new();
        for line in initial_dump(10, 2).into_iter().chain(a) {
            let printed = line.to_string();
            assert_eq!(parse_line(&printed).unwrap(), line, "{printed}");
            state.apply(line.event, &mut out);
        }
        assert_eq!(state.len(), 10, "change lines only touch dumped resources");
    }

    #[test]
    fn resource_names_are_unique_and_uuid_like() {
        let names: std::collections::BTreeSet<_> = (0..1000).map(resource_name).collect();
        assert_eq!(names.len(), 1000);
        assert_eq!(resource_name(0).len(), "pvc-".len() + 36);
    }
}
