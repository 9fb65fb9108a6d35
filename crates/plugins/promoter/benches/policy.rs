//! Cost of one policy step: a resource update through `Machine::on_update` (the work the
//! promoter does per events2 line of a managed resource), and a timer step. Plain bench:
//! `cargo bench -p drbd-reactor-promoter --bench policy`.

use drbd::update::{Diff, ResourceFields};
use drbd::vocab::{ConnectionState, DiskState, Role};
use drbd::{Change, Connection, Device, EventType, ObjectUpdate, PeerDevice, Resource};
use drbd_reactor_promoter::config::ResourceConfig;
use drbd_reactor_promoter::policy::{Machine, Outcome, SplitBrainPolicy};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn resource(may_promote: bool, quorum: bool) -> Resource {
    let mut r = Resource::new("r0");
    r.role = Role::Secondary;
    r.may_promote = may_promote;
    for v in 0..3 {
        r.devices.insert(Device {
            volume: v,
            disk_state: DiskState::Inconsistent,
            quorum,
            ..Device::default()
        });
    }
    for (id, name) in [(1, "beta"), (2, "gamma")] {
        let mut c = Connection {
            peer_node_id: id,
            conn_name: name.into(),
            connection_state: ConnectionState::Connected,
            peer_role: Role::Secondary,
            ..Connection::default()
        };
        for v in 0..3 {
            c.peer_devices.insert(PeerDevice {
                volume: v,
                peer_disk_state: DiskState::UpToDate,
                ..PeerDevice::default()
            });
        }
        r.connections.insert(c);
    }
    r
}

fn update(r: &Resource) -> ObjectUpdate {
    ObjectUpdate {
        event_type: EventType::Change,
        change: Change::Resource(Diff {
            old: ResourceFields::default(),
            new: ResourceFields::from(r),
        }),
        resource: Arc::new(r.clone()),
    }
}

fn main() {
    let cfg = ResourceConfig {
        start: vec!["a.service".into(), "b.service".into()],
        preferred_nodes: vec!["alpha".into(), "beta".into()],
        adjust_resource_on_start: false,
        ..ResourceConfig::default()
    };
    let t0 = Instant::now();
    let (mut m, _) = Machine::new("r0", Arc::new(cfg), Some("alpha".into()), t0);
    m.on_outcome(t0, Outcome::BackingDevices(Ok(vec![])));
    m.on_outcome(t0, Outcome::Policy(Ok(SplitBrainPolicy::Quorum)));
    // Quiet updates (nothing to decide) and updates that flip may_promote (a start is
    // scheduled 3 s out for Inconsistent data, then cancelled, each with its log line).
    let quiet = [
        update(&resource(false, true)),
        update(&resource(false, true)),
    ];
    let busy = [
        update(&resource(true, true)),
        update(&resource(false, true)),
    ];
    for (label, updates) in [("quiet update", &quiet), ("may_promote flip", &busy)] {
        let n = 2_000_000u32;
        let start = Instant::now();
        let mut now = t0;
        for i in 0..n {
            now += Duration::from_micros(1);
            let a = m.on_update(now, &updates[(i % 2) as usize]);
            black_box(a);
        }
        let per = start.elapsed() / n;
        println!("{label}: {per:?} per step");
    }
    let n = 1_000_000u32;
    let start = Instant::now();
    let mut now = t0;
    for _ in 0..n {
        now += Duration::from_secs(20);
        black_box(m.on_timer(now));
    }
    println!("timer step: {:?} per step", start.elapsed() / n);
}
