//! A toy 3-node cluster for policy tests: DRBD's promotion race (the first start wins while
//! nobody else is Primary and the node has quorum), crashes and partitions; every node runs
//! one policy machine in the same virtual time.

use super::*;
use drbd::vocab::{ConnectionState, DiskState, Role};
use drbd_reactor_promoter::config::ResourceConfig;
use drbd_reactor_promoter::policy::{Action, Machine, Outcome, Services, SplitBrainPolicy};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

pub struct Node {
    pub m: Machine,
    pub alive: bool,
    pub disk: DiskState,
    /// The view last delivered, to send only changes.
    pub last: Option<drbd::Resource>,
    pub frozen: bool,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub primary: Option<usize>,
    /// Partition group of each node; nodes talk only within a group.
    pub group: [u8; 3],
    pub start: Instant,
    pub now: Instant,
    /// (time, node, action) of every command-running action.
    pub events: Vec<(Duration, usize, Action)>,
    /// Start commands of a node fail without a peer Primary (a broken service).
    pub broken: [bool; 3],
    /// Start commands of a node promote, then fail (a unit of the stack after the promotion;
    /// systemctl reports it once the job ends, after events2 showed the Primary).
    pub fails_after_promote: [bool; 3],
    /// At every step: nodes whose machines believe they run the services.
    pub max_running: usize,
    /// Actions decided but not yet executed: every node decides on the same view before any
    /// command runs, which is what makes starts race.
    queue: std::collections::VecDeque<(usize, Action)>,
}

impl Cluster {
    pub fn new(cfg: ResourceConfig) -> Cluster {
        let start = Instant::now();
        let cfg = Arc::new(cfg);
        let nodes = NAMES
            .iter()
            .map(|n| {
                let (m, _) = Machine::new("r0", cfg.clone(), Some(n.to_string()), start);
                Node {
                    m,
                    alive: true,
                    disk: DiskState::UpToDate,
                    last: None,
                    frozen: false,
                }
            })
            .collect();
        let mut c = Cluster {
            nodes,
            primary: None,
            group: [0, 0, 0],
            start,
            now: start,
            events: Vec::new(),
            broken: [false; 3],
            fails_after_promote: [false; 3],
            max_running: 0,
            queue: Default::default(),
        };
        for i in 0..3 {
            c.feed(i, Outcome::BackingDevices(Ok(vec![])));
            c.feed(i, Outcome::Adjusted(Ok(())));
        }
        c.flush();
        c
    }

    fn reach(&self, a: usize, b: usize) -> bool {
        self.nodes[a].alive && self.nodes[b].alive && self.group[a] == self.group[b]
    }

    fn quorum(&self, i: usize) -> bool {
        (0..3).filter(|j| self.reach(i, *j)).count() >= 2
    }

    /// What node `i`'s events2 shows.
    pub fn view(&self, i: usize) -> drbd::Resource {
        let visible_primary = self.primary.filter(|p| *p == i || self.reach(i, *p));
        let peers = (0..3)
            .filter(|j| *j != i)
            .map(|j| {
                let connected = self.reach(i, j);
                Peer {
                    id: j as u32,
                    name: NAMES[j],
                    conn: if connected {
                        ConnectionState::Connected
                    } else {
                        ConnectionState::Connecting
                    },
                    role: if !connected {
                        Role::Unknown
                    } else if self.primary == Some(j) {
                        Role::Primary
                    } else {
                        Role::Secondary
                    },
                    disks: vec![if connected {
                        self.nodes[j].disk
                    } else {
                        DiskState::DUnknown
                    }],
                }
            })
            .collect();
        View {
            role: if self.primary == Some(i) {
                Role::Primary
            } else {
                Role::Secondary
            },
            may_promote: visible_primary.is_none() && self.quorum(i),
            disks: vec![self.nodes[i].disk],
            quorum: self.quorum(i),
            peers,
        }
        .resource("r0")
    }

    fn feed(&mut self, i: usize, o: Outcome) {
        let a = self.nodes[i].m.on_outcome(self.now, o);
        self.run(i, a);
    }

    fn run(&mut self, i: usize, actions: Vec<Action>) {
        self.queue.extend(actions.into_iter().map(|a| (i, a)));
    }

    /// Executes queued actions in order (commands take no time here).
    fn flush(&mut self) {
        while let Some((i, a)) = self.queue.pop_front() {
            let at = self.now - self.start;
            match &a {
                Action::Start { id } => {
                    self.events.push((at, i, a.clone()));
                    let visible = self.primary.filter(|p| *p == i || self.reach(i, *p));
                    let ok = (visible.is_none()
                        && self.quorum(i)
                        && !self.broken[i]
                        && self.primary.is_none())
                        || self.primary == Some(i);
                    if ok {
                        self.primary = Some(i);
                    }
                    let ok = if ok && self.fails_after_promote[i] {
                        self.deliver_all();
                        false
                    } else {
                        ok
                    };
                    let result = if ok {
                        Ok(())
                    } else {
                        Err("Return code not status success".into())
                    };
                    self.feed(i, Outcome::Started { id: *id, result });
                }
                Action::Stop { id } => {
                    self.events.push((at, i, a.clone()));
                    if self.primary == Some(i) {
                        self.primary = None;
                    }
                    self.nodes[i].frozen = false;
                    self.feed(
                        i,
                        Outcome::Stopped {
                            id: *id,
                            result: Ok(()),
                        },
                    );
                }
                Action::Freeze(_) => {
                    self.events.push((at, i, a.clone()));
                    self.nodes[i].frozen = true;
                }
                Action::Thaw(_) => {
                    self.events.push((at, i, a.clone()));
                    self.nodes[i].frozen = false;
                }
                Action::Probe => {
                    let active = self.primary == Some(i);
                    self.feed(i, Outcome::Probed(Ok(active)));
                }
                Action::DetectPolicy => self.feed(i, Outcome::Policy(Ok(SplitBrainPolicy::Quorum))),
                _ => {}
            }
            let running = self
                .nodes
                .iter()
                .filter(|n| n.alive && n.m.services() == Services::Running)
                .count();
            self.max_running = self.max_running.max(running);
        }
        let running = self
            .nodes
            .iter()
            .filter(|n| n.alive && n.m.services() == Services::Running)
            .count();
        self.max_running = self.max_running.max(running);
    }

    /// Delivers every live node's view now, if it changed (in the middle of a command: the
    /// promotion is seen by all before the command fails).
    fn deliver_all(&mut self) {
        for i in 0..3 {
            let v = self.view(i);
            if !self.nodes[i].alive || self.nodes[i].last.as_ref() == Some(&v) {
                continue;
            }
            self.nodes[i].last = Some(v.clone());
            let a = self.nodes[i]
                .m
                .on_update(self.now, &update(v, drbd::EventType::Change));
            self.run(i, a);
        }
    }

    /// Node `i`'s services die and take the promotion with them (`target-as = "BindsTo"`).
    pub fn services_die(&mut self, i: usize) {
        if self.primary == Some(i) {
            self.primary = None;
        }
        self.settle();
    }

    /// Delivers changed views to every live node until nothing changes.
    pub fn settle(&mut self) {
        for _ in 0..20 {
            let mut changed = false;
            for i in 0..3 {
                if !self.nodes[i].alive {
                    continue;
                }
                let v = self.view(i);
                if self.nodes[i].last.as_ref() != Some(&v) {
                    changed = true;
                    let et = if self.nodes[i].last.is_none() {
                        drbd::EventType::Exists
                    } else {
                        drbd::EventType::Change
                    };
                    self.nodes[i].last = Some(v.clone());
                    let a = self.nodes[i].m.on_update(self.now, &update(v, et));
                    self.run(i, a);
                }
            }
            let busy = !self.queue.is_empty();
            self.flush();
            if !changed && !busy {
                return;
            }
        }
        panic!("views never settled");
    }

    /// Advances virtual time, firing every node's deadlines in order.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.settle();
        loop {
            let next = (0..3)
                .filter(|i| self.nodes[*i].alive)
                .filter_map(|i| self.nodes[i].m.next_deadline().map(|t| (t, i)))
                .filter(|(t, _)| *t <= end)
                .min();
            let Some((t, i)) = next else { break };
            self.now = t.max(self.now);
            let a = self.nodes[i].m.on_timer(self.now);
            self.run(i, a);
            self.settle();
        }
        self.now = end;
    }

    pub fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
        if self.primary == Some(i) {
            self.primary = None;
        }
        self.settle();
    }

    pub fn starts_after(&self, t: Duration) -> Vec<(Duration, usize)> {
        self.events
            .iter()
            .filter(|(at, _, a)| *at >= t && matches!(a, Action::Start { .. }))
            .map(|(at, i, _)| (*at, *i))
            .collect()
    }
}
