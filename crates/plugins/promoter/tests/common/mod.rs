//! Test helpers: DRBD resource snapshots in a few words, and a harness that drives one
//! policy machine in virtual time and records its actions.
#![allow(dead_code)]

pub mod cluster;

use drbd::update::{Diff, ResourceFields};
use drbd::vocab::{ConnectionState, DiskState, Role, Tristate};
use drbd::{Change, Connection, Device, EventType, ObjectUpdate, PeerDevice, Resource};
use drbd_reactor_promoter::config::ResourceConfig;
use drbd_reactor_promoter::policy::{Action, Machine, Outcome, SplitBrainPolicy};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A peer as the local node sees it.
#[derive(Clone)]
pub struct Peer {
    pub id: u32,
    pub name: &'static str,
    pub conn: ConnectionState,
    pub role: Role,
    pub disks: Vec<DiskState>,
}

pub fn peer(id: u32, name: &'static str) -> Peer {
    Peer {
        id,
        name,
        conn: ConnectionState::Connected,
        role: Role::Secondary,
        disks: vec![DiskState::UpToDate],
    }
}

/// The local view of one resource.
#[derive(Clone)]
pub struct View {
    pub role: Role,
    pub may_promote: bool,
    pub disks: Vec<DiskState>,
    pub quorum: bool,
    pub peers: Vec<Peer>,
}

pub fn secondary() -> View {
    View {
        role: Role::Secondary,
        may_promote: false,
        disks: vec![DiskState::UpToDate],
        quorum: true,
        peers: vec![peer(1, "beta"), peer(2, "gamma")],
    }
}

impl View {
    pub fn resource(&self, name: &str) -> Resource {
        let mut r = Resource::new(name);
        r.role = self.role;
        r.may_promote = self.may_promote;
        for (v, d) in self.disks.iter().enumerate() {
            r.devices.insert(Device {
                volume: v as u32,
                disk_state: *d,
                quorum: self.quorum,
                client: Tristate::No,
                ..Device::default()
            });
        }
        for p in &self.peers {
            let mut c = Connection {
                peer_node_id: p.id,
                conn_name: p.name.into(),
                connection_state: p.conn,
                peer_role: p.role,
                ..Connection::default()
            };
            for (v, d) in p.disks.iter().enumerate() {
                c.peer_devices.insert(PeerDevice {
                    volume: v as u32,
                    peer_disk_state: *d,
                    ..PeerDevice::default()
                });
            }
            r.connections.insert(c);
        }
        r
    }
    pub fn peer(&mut self, name: &str) -> &mut Peer {
        self.peers.iter_mut().find(|p| p.name == name).unwrap()
    }
}

pub fn update(r: Resource, event_type: EventType) -> ObjectUpdate {
    ObjectUpdate {
        event_type,
        change: Change::Resource(Diff {
            old: ResourceFields::default(),
            new: ResourceFields::from(&r),
        }),
        resource: Arc::new(r),
    }
}

pub struct Harness {
    pub m: Machine,
    pub start: Instant,
    pub now: Instant,
    pub log: Vec<(Duration, Action)>,
    pub view: View,
}

impl Harness {
    /// A constructed machine (devices ready, adjusted, policy detected) with `view` applied.
    /// Ready, with the first pass's probe (a Secondary) answered: nothing left running.
    pub fn ready(cfg: ResourceConfig, policy: SplitBrainPolicy, view: View) -> Harness {
        let mut h = Harness::ready_unanswered(cfg, policy, view);
        if h.took(|a| *a == Action::Probe) {
            h.outcome(Outcome::Probed(Ok(false)));
        }
        h
    }

    /// Ready, with the first pass's probe (if any) left for the test to answer.
    pub fn ready_unanswered(cfg: ResourceConfig, policy: SplitBrainPolicy, view: View) -> Harness {
        let start = Instant::now();
        let (m, first) = Machine::new("r0", Arc::new(cfg), Some("alpha".into()), start);
        let mut h = Harness {
            m,
            start,
            now: start,
            log: Vec::new(),
            view,
        };
        h.record(first);
        h.outcome(Outcome::BackingDevices(Ok(vec!["/dev/loop0".into()])));
        if h.took(|a| matches!(a, Action::CheckDevices(_))) {
            h.outcome(Outcome::DevicesReady(true));
            h.outcome(Outcome::Adjusted(Ok(())));
        }
        h.push_view_event(EventType::Exists);
        h.outcome(Outcome::Policy(Ok(policy)));
        h
    }

    pub fn record(&mut self, actions: Vec<Action>) {
        let at = self.now - self.start;
        self.log.extend(actions.into_iter().map(|a| (at, a)));
    }

    /// Whether an action matching `f` was recorded.
    pub fn took(&self, f: impl Fn(&Action) -> bool) -> bool {
        self.log.iter().any(|(_, a)| f(a))
    }

    pub fn clear(&mut self) {
        self.log.clear();
    }

    pub fn outcome(&mut self, o: Outcome) {
        let a = self.m.on_outcome(self.now, o);
        self.record(a);
    }

    pub fn push_view_event(&mut self, et: EventType) {
        let u = update(self.view.resource("r0"), et);
        let a = self.m.on_update(self.now, &u);
        self.record(a);
    }

    /// Changes the view and feeds it as a change update.
    pub fn set(&mut self, f: impl FnOnce(&mut View)) {
        f(&mut self.view);
        self.push_view_event(EventType::Change);
    }

    /// Advances virtual time by `d`, firing every deadline on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.m.next_deadline().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            let a = self.m.on_timer(self.now);
            self.record(a);
        }
        self.now = end;
    }

    pub fn starts(&self) -> Vec<(Duration, u64)> {
        self.log
            .iter()
            .filter_map(|(t, a)| match a {
                Action::Start { id } => Some((*t, *id)),
                _ => None,
            })
            .collect()
    }
    pub fn stops(&self) -> Vec<(Duration, u64)> {
        self.log
            .iter()
            .filter_map(|(t, a)| match a {
                Action::Stop { id } => Some((*t, *id)),
                _ => None,
            })
            .collect()
    }
    pub fn messages(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Log(d) => Some(d.message.clone()),
                _ => None,
            })
            .collect()
    }
    pub fn said(&self, needle: &str) -> bool {
        self.messages().iter().any(|m| m.contains(needle))
    }
    /// Completes the last start with `result`.
    pub fn finish_start(&mut self, result: Result<(), String>) {
        let (_, id) = *self.starts().last().expect("a start");
        self.outcome(Outcome::Started { id, result });
    }
    pub fn finish_stop(&mut self, result: Result<(), String>) {
        let (_, id) = *self.stops().last().expect("a stop");
        self.outcome(Outcome::Stopped { id, result });
    }
}

/// A machine that started its services and is Primary with them (the log cleared).
pub fn running(cfg: ResourceConfig, policy: SplitBrainPolicy) -> Harness {
    let mut h = Harness::ready(cfg, policy, secondary());
    h.set(|v| v.may_promote = true);
    h.advance(secs(2));
    h.finish_start(Ok(()));
    h.set(|v| {
        v.role = Role::Primary;
        v.may_promote = false;
    });
    h.clear();
    h
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
