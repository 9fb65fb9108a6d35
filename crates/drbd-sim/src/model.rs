//! The kernels of a simulated DRBD 9 cluster: node power, links, and per node and resource
//! the role, disks, connections, resyncs, quorum and I/O policy. Operations mirror DRBD
//! (primary/secondary, up/down, resource-options) and faults (crash, partition, detach,
//! writes while disconnected); time advances only through [`Cluster::tick`].
//!
//! Must never: do I/O or read a clock. Every derived value is recomputed by `settle`.

use crate::config::{ClusterConfig, OnNoQuorum, ResourceConfig};
use crate::view::{ConnView, NodeView, ResView};
use drbd::event::*;
use drbd::values::{Eta, Hundredths};
use drbd::vocab::*;
use std::collections::{BTreeMap, BTreeSet};

/// A refused operation: drbdsetup's exit code and error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
    fn state(res: &str, rv: i32, text: &str) -> Failure {
        Failure::new(11, format!("{res}: State change failed: ({rv}) {text}"))
    }
    pub fn unknown_resource(res: &str) -> Failure {
        Failure::new(10, format!("{res}: Failure: (158) Unknown resource"))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Outcome = Result<(), Failure>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Sync {
    source: bool,
    total: u64,
    left: u64,
    start_ms: u64,
}

#[derive(Debug, Clone, Default)]
struct PeerVol {
    /// KiB written here that the peer does not have.
    oos: u64,
    sync: Option<Sync>,
    received: u64,
    sent: u64,
}

#[derive(Debug, Clone, Default)]
struct Peer {
    connected: bool,
    vols: BTreeMap<u32, PeerVol>,
}

#[derive(Debug, Clone)]
struct Vol {
    minor: u32,
    size: u64,
    /// None for a DRBD client (intentionally diskless).
    backing: Option<String>,
    attached: bool,
    failed: bool,
    open: bool,
    gen: u64,
    outdated: bool,
    inconsistent: bool,
    read: u64,
    written: u64,
    al_writes: u64,
}

#[derive(Debug, Clone)]
struct Res {
    opts: crate::config::ResourceOptions,
    running: bool,
    role: Role,
    quorum: bool,
    suspended: Suspended,
    fif_quorum: bool,
    fif_nodata: bool,
    fif_forced: bool,
    vols: BTreeMap<u32, Vol>,
    peers: BTreeMap<String, Peer>,
}

#[derive(Debug, Clone)]
struct Node {
    id: u32,
    address: String,
    up: bool,
    res: BTreeMap<String, Res>,
}

/// The whole simulated cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    config: ClusterConfig,
    nodes: BTreeMap<String, Node>,
    cut: BTreeSet<(String, String)>,
    now_ms: u64,
    generation: u64,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a < b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Resync progress keys for `total` KiB with `left` KiB to go at `rate` KiB/s.
pub fn progress(total: u64, left: u64, rate: u64, elapsed_ms: u64) -> ResyncProgress {
    let total = total.max(1);
    let done = (total - left.min(total)) * 10_000 / total;
    let rate = rate.max(1);
    let mib = Hundredths(rate * 100 / 1024);
    ResyncProgress {
        done: Some(Hundredths(done)),
        rs_total: Some(total * 2),
        rs_dt_start_ms: Some(elapsed_ms),
        rs_paused_ms: Some(0),
        rs_dt0_ms: Some(elapsed_ms),
        rs_db0_sectors: Some((total - left.min(total)) * 2),
        rs_dt1_ms: Some(elapsed_ms.min(3000)),
        rs_db1_sectors: Some((rate * elapsed_ms.min(3000) / 1000) * 2),
        rs_failed: Some(0),
        rs_same_csum: Some(0),
        dbdt: Some(mib),
        dbdt0: Some(mib),
        dbdt1: Some(mib),
        eta: Some(Eta::Seconds(left / rate)),
        ..Default::default()
    }
}

impl Cluster {
    /// A cluster as configured, every node up and every resource up and connected, data
    /// in sync (as after an initial `new-current-uuid --clear-bitmap`).
    pub fn new(config: ClusterConfig) -> Cluster {
        let mut nodes = BTreeMap::new();
        for n in &config.nodes {
            nodes.insert(
                n.name.clone(),
                Node {
                    id: n.id,
                    address: n
                        .address
                        .clone()
                        .unwrap_or_else(|| format!("10.0.0.{}", n.id + 1)),
                    up: true,
                    res: BTreeMap::new(),
                },
            );
        }
        for r in &config.resources {
            let members = members(&config, r);
            for m in &members {
                let client = r.clients.contains(m);
                let vols = r
                    .volumes
                    .iter()
                    .map(|v| {
                        (
                            v.number,
                            Vol {
                                minor: v.minor,
                                size: v.size,
                                backing: (!client).then(|| v.disk.clone()),
                                attached: !client,
                                failed: false,
                                open: false,
                                gen: 0,
                                outdated: false,
                                inconsistent: false,
                                read: 0,
                                written: 0,
                                al_writes: 0,
                            },
                        )
                    })
                    .collect();
                let peers = members
                    .iter()
                    .filter(|p| *p != m)
                    .map(|p| {
                        let vols = r
                            .volumes
                            .iter()
                            .map(|v| (v.number, PeerVol::default()))
                            .collect();
                        (
                            p.clone(),
                            Peer {
                                connected: false,
                                vols,
                            },
                        )
                    })
                    .collect();
                nodes.get_mut(m).unwrap().res.insert(
                    r.name.clone(),
                    Res {
                        opts: r.options.clone(),
                        running: true,
                        role: Role::Secondary,
                        quorum: true,
                        suspended: Suspended::default(),
                        fif_quorum: false,
                        fif_nodata: false,
                        fif_forced: false,
                        vols,
                        peers,
                    },
                );
            }
        }
        let mut c = Cluster {
            config,
            nodes,
            cut: BTreeSet::new(),
            now_ms: 0,
            generation: 0,
        };
        c.settle();
        c
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    pub fn is_up(&self, node: &str) -> bool {
        self.nodes.get(node).is_some_and(|n| n.up)
    }

    fn resource_config(&self, res: &str) -> Option<&ResourceConfig> {
        self.config.resources.iter().find(|r| r.name == res)
    }

    /// True if the node has the resource in its configuration (drbdadm's view).
    pub fn configured(&self, node: &str, res: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| n.res.contains_key(res))
    }

    /// Resources configured on a node, by name.
    pub fn configured_resources(&self, node: &str) -> Vec<String> {
        self.nodes
            .get(node)
            .map(|n| n.res.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn running(&mut self, node: &str, res: &str) -> Result<&mut Res, Failure> {
        match self.nodes.get_mut(node) {
            Some(n) if n.up => match n.res.get_mut(res) {
                Some(r) if r.running => Ok(r),
                _ => Err(Failure::unknown_resource(res)),
            },
            _ => Err(Failure::new(20, format!("node {node} is down"))),
        }
    }

    fn connected_peers<'a>(&'a self, node: &str, res: &str) -> Vec<(&'a String, &'a Res)> {
        let Some(r) = self.nodes.get(node).and_then(|n| n.res.get(res)) else {
            return Vec::new();
        };
        r.peers
            .iter()
            .filter(|(_, p)| p.connected)
            .filter_map(|(name, _)| Some((name, self.nodes.get(name)?.res.get(res)?)))
            .collect()
    }

    /// `drbdsetup primary [--force] RES`.
    pub fn primary(&mut self, node: &str, res: &str, force: bool) -> Outcome {
        let r = self.running(node, res)?.clone();
        if r.role == Role::Primary {
            return Ok(());
        }
        let peers = self.connected_peers(node, res);
        if peers.iter().any(|(_, p)| p.role == Role::Primary) {
            return Err(Failure::state(
                res,
                -1,
                "Multiple primaries not allowed by config",
            ));
        }
        if r.opts.quorum_enabled() && !r.quorum && !force {
            return Err(Failure::state(res, -23, "No quorum"));
        }
        for (vnr, v) in &r.vols {
            let local = disk_state(v, &r, *vnr) == DiskState::UpToDate;
            let remote = peers.iter().any(|(_, p)| {
                p.vols
                    .get(vnr)
                    .is_some_and(|pv| disk_state(pv, p, *vnr) == DiskState::UpToDate)
            });
            if !local && !remote {
                if force && v.attached {
                    continue;
                }
                return Err(Failure::state(res, -2, "Need access to UpToDate data"));
            }
        }
        let r = self.running(node, res)?;
        if force {
            for v in r.vols.values_mut() {
                if v.attached {
                    v.inconsistent = false;
                    v.outdated = false;
                }
            }
        }
        r.role = Role::Primary;
        self.settle();
        Ok(())
    }

    /// `drbdsetup secondary [--force=yes] RES`.
    pub fn secondary(&mut self, node: &str, res: &str, force: bool) -> Outcome {
        let r = self.running(node, res)?;
        if r.role != Role::Primary {
            return Ok(());
        }
        let open = r.vols.values().any(|v| v.open);
        if open && !force {
            return Err(Failure::state(res, -12, "Device is held open by someone"));
        }
        r.role = Role::Secondary;
        r.fif_forced = open;
        self.settle();
        Ok(())
    }

    /// `drbdadm up`/`adjust`: bring a configured resource up.
    pub fn up(&mut self, node: &str, res: &str) -> Outcome {
        match self.nodes.get_mut(node).and_then(|n| n.res.get_mut(res)) {
            Some(r) => {
                r.running = true;
                self.settle();
                Ok(())
            }
            None => Err(Failure::new(
                10,
                format!("'{res}' not defined in your config (for this host)."),
            )),
        }
    }

    /// `drbdsetup down RES`.
    pub fn down(&mut self, node: &str, res: &str) -> Outcome {
        let r = self.running(node, res)?;
        if r.role == Role::Primary && r.vols.values().any(|v| v.open) {
            return Err(Failure::state(res, -12, "Device is held open by someone"));
        }
        r.running = false;
        r.role = Role::Secondary;
        self.settle();
        Ok(())
    }

    /// `drbdsetup resource-options RES --on-no-quorum X --on-no-data-accessible Y --quorum Z`.
    pub fn resource_options(
        &mut self,
        node: &str,
        res: &str,
        on_no_quorum: Option<OnNoQuorum>,
        on_no_data: Option<OnNoQuorum>,
        quorum: Option<String>,
    ) -> Outcome {
        let r = self.running(node, res)?;
        if let Some(x) = on_no_quorum {
            r.opts.on_no_quorum = x;
        }
        if let Some(x) = on_no_data {
            r.opts.on_no_data_accessible = x;
        }
        if let Some(q) = quorum {
            r.opts.quorum = q;
        }
        self.settle();
        Ok(())
    }

    /// The options in force on a node (for `show --json`).
    pub fn options(&self, node: &str, res: &str) -> Option<crate::config::ResourceOptions> {
        Some(self.nodes.get(node)?.res.get(res)?.opts.clone())
    }

    /// Power off a node: its kernel state is gone, its disks keep their data.
    pub fn crash(&mut self, node: &str) -> Outcome {
        let n = self.node_mut(node)?;
        n.up = false;
        for r in n.res.values_mut() {
            r.role = Role::Secondary;
            r.fif_forced = false;
            for v in r.vols.values_mut() {
                v.open = false;
            }
        }
        self.settle();
        Ok(())
    }

    /// Power a node on again; its resources come up (as `drbd.service` would).
    pub fn restart(&mut self, node: &str) -> Outcome {
        let n = self.node_mut(node)?;
        n.up = true;
        for r in n.res.values_mut() {
            r.running = true;
        }
        self.settle();
        Ok(())
    }

    fn node_mut(&mut self, node: &str) -> Result<&mut Node, Failure> {
        self.nodes
            .get_mut(node)
            .ok_or_else(|| Failure::new(20, format!("no node named {node}")))
    }

    fn check_node(&self, node: &str) -> Outcome {
        if self.nodes.contains_key(node) {
            Ok(())
        } else {
            Err(Failure::new(20, format!("no node named {node}")))
        }
    }

    /// Cut or restore the link between two nodes.
    pub fn set_link(&mut self, a: &str, b: &str, up: bool) -> Outcome {
        self.check_node(a)?;
        self.check_node(b)?;
        if up {
            self.cut.remove(&pair(a, b));
        } else {
            self.cut.insert(pair(a, b));
        }
        self.settle();
        Ok(())
    }

    /// Cut every link between `side` and the other nodes.
    pub fn partition(&mut self, side: &[&str]) -> Outcome {
        for n in side {
            self.check_node(n)?;
        }
        let others: Vec<String> = self
            .nodes
            .keys()
            .filter(|n| !side.contains(&n.as_str()))
            .cloned()
            .collect();
        for a in side {
            for b in &others {
                self.cut.insert(pair(a, b));
            }
        }
        self.settle();
        Ok(())
    }

    /// Restore every link.
    pub fn heal(&mut self) -> Outcome {
        self.cut.clear();
        self.settle();
        Ok(())
    }

    fn vol_mut(&mut self, node: &str, res: &str, vol: u32) -> Result<&mut Vol, Failure> {
        self.running(node, res)?
            .vols
            .get_mut(&vol)
            .ok_or_else(|| Failure::new(10, format!("{res}: Failure: (162) Invalid volume number")))
    }

    /// Detach (`fail`: the disk failed) or attach a volume's backing device.
    pub fn set_disk(
        &mut self,
        node: &str,
        res: &str,
        vol: u32,
        attach: bool,
        fail: bool,
    ) -> Outcome {
        let v = self.vol_mut(node, res, vol)?;
        if v.backing.is_none() {
            return Err(Failure::new(
                10,
                format!("{res}: volume {vol} is diskless (a client)"),
            ));
        }
        if attach {
            if !v.attached {
                v.attached = true;
                v.failed = false;
                // After an attach, DRBD syncs from a peer if it is behind: mark it outdated
                // until a handshake says otherwise.
                v.outdated = true;
            }
        } else {
            v.attached = false;
            v.failed = fail;
        }
        self.settle();
        // A failed disk shows Failed, then is detached (Diskless).
        if fail {
            if let Ok(v) = self.vol_mut(node, res, vol) {
                v.failed = false;
            }
            self.settle();
        }
        Ok(())
    }

    /// Open or close a device (a mounted file system, a running VM).
    pub fn set_open(&mut self, node: &str, res: &str, vol: u32, open: bool) -> Outcome {
        let r = self.running(node, res)?;
        if open && r.role != Role::Primary && !r.opts.auto_promote {
            return Err(Failure::new(
                1,
                format!(
                    "{res}: cannot open /dev/drbd{}: Read-only file system (role Secondary)",
                    r.vols.get(&vol).map(|v| v.minor).unwrap_or(0)
                ),
            ));
        }
        self.vol_mut(node, res, vol)?.open = open;
        self.settle();
        Ok(())
    }

    /// Write `kib` KiB on a Primary: replicated to connected peers, out of sync for others.
    pub fn write(&mut self, node: &str, res: &str, kib: u64) -> Outcome {
        let r = self.running(node, res)?.clone();
        if r.role != Role::Primary {
            return Err(Failure::new(1, format!("{res}: write failed: not Primary")));
        }
        if r.suspended.any() {
            return Err(Failure::new(
                1,
                format!("{res}: write blocked: I/O suspended"),
            ));
        }
        if r.fif_quorum || r.fif_nodata || r.fif_forced {
            return Err(Failure::new(
                1,
                format!("{res}: write failed: Input/output error"),
            ));
        }
        self.generation += 1;
        let generation = self.generation;
        let peers: Vec<String> = r.peers.keys().cloned().collect();
        let vnrs: Vec<u32> = r.vols.keys().copied().collect();
        let mut reached = vec![node.to_string()];
        for p in &peers {
            if self.nodes[node].res[res].peers[p].connected {
                reached.push(p.clone());
            }
        }
        for vnr in vnrs {
            let mut holders = Vec::new();
            for n in &reached {
                let v = self
                    .nodes
                    .get_mut(n)
                    .unwrap()
                    .res
                    .get_mut(res)
                    .unwrap()
                    .vols
                    .get_mut(&vnr)
                    .unwrap();
                if v.attached {
                    v.gen = generation;
                    v.written += kib;
                    v.al_writes += 1;
                    holders.push(n.clone());
                }
            }
            let all: Vec<String> = self.nodes[node].res[res]
                .peers
                .keys()
                .cloned()
                .chain([node.to_string()])
                .collect();
            for h in &holders {
                let hr = self.nodes.get_mut(h).unwrap().res.get_mut(res).unwrap();
                for other in &all {
                    if holders.contains(other) || other == h {
                        continue;
                    }
                    if let Some(pv) = hr.peers.get_mut(other).and_then(|p| p.vols.get_mut(&vnr)) {
                        let size = hr.vols[&vnr].size;
                        match &mut pv.sync {
                            Some(s) if s.source => {
                                s.left = (s.left + kib).min(size);
                                s.total = s.total.max(s.left);
                            }
                            _ => pv.oos = (pv.oos + kib).min(size),
                        }
                    }
                }
            }
            let nr = self.nodes.get_mut(node).unwrap().res.get_mut(res).unwrap();
            for p in &reached[1..] {
                if let Some(pv) = nr.peers.get_mut(p).and_then(|x| x.vols.get_mut(&vnr)) {
                    pv.sent += kib;
                }
            }
        }
        self.settle();
        Ok(())
    }

    /// Advance virtual time: resyncs progress at the resource's rate.
    pub fn tick(&mut self, ms: u64) {
        self.now_ms += ms;
        let mut finished = Vec::new();
        let rates: BTreeMap<String, u64> = self
            .config
            .resources
            .iter()
            .map(|r| (r.name.clone(), r.resync_rate))
            .collect();
        for (name, n) in self.nodes.iter_mut() {
            for (rname, r) in n.res.iter_mut() {
                let step = rates.get(rname).copied().unwrap_or(1) * ms / 1000;
                for (peer, p) in r.peers.iter_mut() {
                    for (vnr, pv) in p.vols.iter_mut() {
                        if let Some(s) = pv.sync.as_mut() {
                            s.left = s.left.saturating_sub(step.max(1));
                            if s.left == 0 && s.source {
                                finished.push((name.clone(), rname.clone(), peer.clone(), *vnr));
                            }
                        }
                    }
                }
            }
        }
        for (src, res, tgt, vnr) in finished {
            let gen = self.nodes[&src].res[&res].vols[&vnr].gen;
            for (a, b) in [(&src, &tgt), (&tgt, &src)] {
                if let Some(pv) = self
                    .nodes
                    .get_mut(a)
                    .and_then(|n| n.res.get_mut(&res))
                    .and_then(|r| r.peers.get_mut(b))
                    .and_then(|p| p.vols.get_mut(&vnr))
                {
                    pv.sync = None;
                    pv.oos = 0;
                }
            }
            if let Some(v) = self
                .nodes
                .get_mut(&tgt)
                .and_then(|n| n.res.get_mut(&res))
                .and_then(|r| r.vols.get_mut(&vnr))
            {
                v.gen = gen;
                v.inconsistent = false;
                v.outdated = false;
            }
        }
        self.settle();
    }

    /// True while any resync runs.
    pub fn resyncing(&self) -> bool {
        self.nodes.values().any(|n| {
            n.res.values().any(|r| {
                r.peers
                    .values()
                    .any(|p| p.vols.values().any(|v| v.sync.is_some()))
            })
        })
    }

    /// Recomputes connections, handshakes, quorum and the I/O policy of every resource.
    fn settle(&mut self) {
        let resources: Vec<ResourceConfig> = self.config.resources.clone();
        for rc in &resources {
            let members = members(&self.config, rc);
            let mut new_pairs = Vec::new();
            for a in &members {
                for b in &members {
                    if a == b {
                        continue;
                    }
                    let conn = self.link_ok(a, b, &rc.name);
                    let was = self.nodes[a].res[&rc.name].peers[b].connected;
                    if conn && !was && a < b {
                        new_pairs.push((a.clone(), b.clone()));
                    }
                    if !conn && was {
                        self.disconnected(a, b, &rc.name);
                    }
                    self.nodes
                        .get_mut(a)
                        .unwrap()
                        .res
                        .get_mut(&rc.name)
                        .unwrap()
                        .peers
                        .get_mut(b)
                        .unwrap()
                        .connected = conn;
                }
            }
            for (a, b) in new_pairs {
                self.handshake(&a, &b, rc);
            }
            for a in &members {
                self.derive(a, rc, members.len());
            }
            // A second pass: outdated flags cleared by peers change what others see.
            for a in &members {
                self.derive(a, rc, members.len());
            }
        }
    }

    fn link_ok(&self, a: &str, b: &str, res: &str) -> bool {
        let ok = |n: &str| {
            self.nodes
                .get(n)
                .is_some_and(|n| n.up && n.res.get(res).is_some_and(|r| r.running))
        };
        ok(a) && ok(b) && !self.cut.contains(&pair(a, b))
    }

    fn disconnected(&mut self, a: &str, b: &str, res: &str) {
        let b_diskful = self.nodes[b].res[res]
            .vols
            .values()
            .any(|v| v.backing.is_some());
        let ra = self.nodes.get_mut(a).unwrap().res.get_mut(res).unwrap();
        let fencing = ra.opts.fencing != "dont-care" && !ra.opts.quorum_enabled();
        let primary = ra.role == Role::Primary;
        let mut target_left = Vec::new();
        for (vnr, pv) in ra.peers.get_mut(b).unwrap().vols.iter_mut() {
            if let Some(s) = pv.sync.take() {
                pv.oos = s.left;
                if !s.source {
                    target_left.push(*vnr);
                }
            }
        }
        for vnr in target_left {
            if let Some(v) = ra.vols.get_mut(&vnr) {
                v.inconsistent = true;
            }
        }
        // Fencing (two-node, quorum off): the Primary's fence-peer handler outdates the peer.
        if fencing && primary && b_diskful {
            for v in self
                .nodes
                .get_mut(b)
                .unwrap()
                .res
                .get_mut(res)
                .unwrap()
                .vols
                .values_mut()
            {
                if v.attached && !v.inconsistent {
                    v.outdated = true;
                }
            }
        }
    }

    fn handshake(&mut self, a: &str, b: &str, rc: &ResourceConfig) {
        let res = &rc.name;
        for vc in &rc.volumes {
            let vnr = vc.number;
            let va = self.nodes[a].res[res].vols[&vnr].clone();
            let vb = self.nodes[b].res[res].vols[&vnr].clone();
            if !va.attached || !vb.attached {
                continue;
            }
            let oos = self.nodes[a].res[res].peers[b].vols[&vnr]
                .oos
                .max(self.nodes[b].res[res].peers[a].vols[&vnr].oos);
            let (src, tgt) = if va.gen > vb.gen || (vb.inconsistent && !va.inconsistent) {
                (a, b)
            } else if vb.gen > va.gen || (va.inconsistent && !vb.inconsistent) {
                (b, a)
            } else {
                for (x, y) in [(a, b), (b, a)] {
                    let pv = self
                        .nodes
                        .get_mut(x)
                        .unwrap()
                        .res
                        .get_mut(res)
                        .unwrap()
                        .peers
                        .get_mut(y)
                        .unwrap()
                        .vols
                        .get_mut(&vnr)
                        .unwrap();
                    pv.oos = 0;
                }
                continue;
            };
            // on-suspended-primary-outdated: a suspended Primary that finds newer data
            // elsewhere becomes Secondary and fails the I/O of its openers.
            let tr = self.nodes.get_mut(tgt).unwrap().res.get_mut(res).unwrap();
            if tr.role == Role::Primary {
                if tr.opts.on_suspended_primary_outdated == "force-secondary" {
                    tr.role = Role::Secondary;
                    tr.fif_forced = tr.vols.values().any(|v| v.open);
                    tr.suspended = Suspended::default();
                } else {
                    continue;
                }
            }
            let total = if oos == 0 { vc.size } else { oos };
            let start = self.now_ms;
            for (x, y, source) in [(src, tgt, true), (tgt, src, false)] {
                let pv = self
                    .nodes
                    .get_mut(x)
                    .unwrap()
                    .res
                    .get_mut(res)
                    .unwrap()
                    .peers
                    .get_mut(y)
                    .unwrap()
                    .vols
                    .get_mut(&vnr)
                    .unwrap();
                pv.oos = 0;
                pv.sync = Some(Sync {
                    source,
                    total,
                    left: total,
                    start_ms: start,
                });
            }
            let tv = self
                .nodes
                .get_mut(tgt)
                .unwrap()
                .res
                .get_mut(res)
                .unwrap()
                .vols
                .get_mut(&vnr)
                .unwrap();
            tv.inconsistent = true;
            tv.outdated = false;
        }
    }

    fn derive(&mut self, a: &str, rc: &ResourceConfig, members: usize) {
        let res = &rc.name;
        if !self.nodes[a].up || !self.nodes[a].res[res].running {
            return;
        }
        let peers: Vec<(String, Res)> = self
            .connected_peers(a, res)
            .into_iter()
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        let r = self.nodes.get_mut(a).unwrap().res.get_mut(res).unwrap();
        let votes = 1 + peers.len();
        r.quorum = !r.opts.quorum_enabled() || 2 * votes > members;
        let diskful_peer = peers
            .iter()
            .any(|(_, p)| p.vols.values().any(|v| v.attached));
        let snapshot = r.clone();
        for (vnr, v) in r.vols.iter_mut() {
            if !v.attached || v.inconsistent {
                continue;
            }
            let newer_peer = peers.iter().any(|(_, p)| {
                p.vols
                    .get(vnr)
                    .is_some_and(|pv| pv.attached && pv.gen > v.gen)
            });
            let peer_uptodate_same = peers.iter().any(|(_, p)| {
                p.vols.get(vnr).is_some_and(|pv| {
                    pv.gen == v.gen && disk_state(pv, p, *vnr) == DiskState::UpToDate
                })
            });
            if snapshot.role == Role::Secondary
                && snapshot.opts.quorum_enabled()
                && !snapshot.quorum
            {
                v.outdated = true;
            } else if v.outdated
                && !newer_peer
                && (peer_uptodate_same
                    || (snapshot.quorum && diskful_peer && snapshot.opts.quorum_enabled()))
            {
                v.outdated = false;
            }
        }
        let snapshot = r.clone();
        if r.role == Role::Primary {
            let lost = r.opts.quorum_enabled() && !r.quorum;
            r.suspended.quorum = lost && r.opts.on_no_quorum == OnNoQuorum::SuspendIo;
            r.fif_quorum = lost && r.opts.on_no_quorum == OnNoQuorum::IoError;
            let no_data = snapshot.vols.iter().any(|(vnr, v)| {
                disk_state(v, &snapshot, *vnr) != DiskState::UpToDate
                    && !peers.iter().any(|(_, p)| {
                        p.vols
                            .get(vnr)
                            .is_some_and(|pv| disk_state(pv, p, *vnr) == DiskState::UpToDate)
                    })
            });
            r.suspended.no_data = no_data && r.opts.on_no_data_accessible == OnNoQuorum::SuspendIo;
            r.fif_nodata = no_data && r.opts.on_no_data_accessible == OnNoQuorum::IoError;
        } else {
            r.suspended = Suspended::default();
            r.fif_quorum = false;
            r.fif_nodata = false;
        }
        if !r.vols.values().any(|v| v.open) {
            r.fif_forced = false;
        }
    }

    /// What the kernel of `node` reports (empty while the node is down).
    pub fn view(&self, node: &str) -> NodeView {
        let mut out = NodeView::new();
        let Some(n) = self.nodes.get(node).filter(|n| n.up) else {
            return out;
        };
        for (name, r) in &n.res {
            if !r.running {
                continue;
            }
            let rc = self.resource_config(name).unwrap();
            let mut rv = ResView {
                resource: ResourceLine {
                    name: name.clone(),
                    role: Some(r.role),
                    suspended: Some(r.suspended),
                    force_io_failures: Some(r.fif_quorum || r.fif_nodata || r.fif_forced),
                    write_ordering: Some(WriteOrdering::Flush),
                    ..Default::default()
                },
                devices: BTreeMap::new(),
                connections: BTreeMap::new(),
            };
            for (vnr, v) in &r.vols {
                rv.devices.insert(
                    *vnr,
                    DeviceLine {
                        name: name.clone(),
                        volume: *vnr,
                        minor: Some(v.minor),
                        backing_dev: Some(match (&v.backing, v.attached || v.failed) {
                            (Some(p), true) => BackingDev::Path(p.clone()),
                            _ => BackingDev::None,
                        }),
                        disk: Some(disk_state(v, r, *vnr)),
                        client: Some(Tristate::from(v.backing.is_none())),
                        open: Some(Tristate::from(v.open)),
                        quorum: Some(r.quorum),
                        size: Some(v.size),
                        read: Some(v.read),
                        written: Some(v.written),
                        al_writes: Some(v.al_writes),
                        bm_writes: Some(0),
                        upper_pending: Some(0),
                        lower_pending: Some(0),
                        al_suspended: Some(false),
                        blocked: Some(Blocked::default()),
                        unknown: vec![],
                    },
                );
            }
            for (pname, p) in &r.peers {
                let pn = &self.nodes[pname];
                let pr = &pn.res[name];
                let conn = ConnectionLine {
                    name: name.clone(),
                    peer_node_id: pn.id,
                    conn_name: pname.clone(),
                    connection: Some(if p.connected {
                        ConnectionState::Connected
                    } else {
                        ConnectionState::Connecting
                    }),
                    role: Some(if p.connected { pr.role } else { Role::Unknown }),
                    congested: Some(false),
                    ap_in_flight: Some(0),
                    rs_in_flight: Some(0),
                    unknown: vec![],
                };
                let mut cv = ConnView {
                    conn,
                    peer_devices: BTreeMap::new(),
                    paths: vec![PathLine {
                        name: name.clone(),
                        peer_node_id: pn.id,
                        conn_name: pname.clone(),
                        local: format!("ipv4:{}:{}", n.address, rc.port).parse().unwrap(),
                        peer: format!("ipv4:{}:{}", pn.address, rc.port).parse().unwrap(),
                        established: Some(p.connected),
                        unknown: vec![],
                    }],
                };
                for (vnr, pv) in &p.vols {
                    let repl = match (&pv.sync, p.connected) {
                        (_, false) => ReplicationState::Off,
                        (Some(s), true) if s.source => ReplicationState::SyncSource,
                        (Some(_), true) => ReplicationState::SyncTarget,
                        (None, true) => ReplicationState::Established,
                    };
                    let peer_vol = &pr.vols[vnr];
                    cv.peer_devices.insert(
                        *vnr,
                        PeerDeviceLine {
                            name: name.clone(),
                            peer_node_id: pn.id,
                            conn_name: pname.clone(),
                            volume: *vnr,
                            replication: Some(repl),
                            peer_disk: Some(if p.connected {
                                disk_state(peer_vol, pr, *vnr)
                            } else {
                                DiskState::DUnknown
                            }),
                            peer_client: Some(Tristate::from(
                                p.connected && peer_vol.backing.is_none(),
                            )),
                            resync_suspended: Some(ResyncSuspended::default()),
                            received: Some(pv.received),
                            sent: Some(pv.sent),
                            out_of_sync: Some(pv.sync.as_ref().map_or(pv.oos, |s| s.left)),
                            pending: Some(0),
                            unacked: Some(0),
                            progress: pv.sync.as_ref().filter(|_| p.connected).map(|s| {
                                Box::new(progress(
                                    s.total,
                                    s.left,
                                    rc.resync_rate,
                                    self.now_ms - s.start_ms,
                                ))
                            }),
                            unknown: vec![],
                        },
                    );
                }
                rv.connections.insert(pn.id, cv);
            }
            rv.derive_promotion();
            out.insert(name.clone(), rv);
        }
        out
    }
}

fn members(config: &ClusterConfig, r: &ResourceConfig) -> Vec<String> {
    match &r.nodes {
        Some(n) => n.clone(),
        None => config.nodes.iter().map(|n| n.name.clone()).collect(),
    }
}

/// The local disk state of a volume.
fn disk_state(v: &Vol, r: &Res, vnr: u32) -> DiskState {
    if v.failed {
        return DiskState::Failed;
    }
    if !v.attached {
        return DiskState::Diskless;
    }
    let target = r.peers.values().any(|p| {
        p.connected
            && p.vols
                .get(&vnr)
                .and_then(|pv| pv.sync.as_ref())
                .is_some_and(|s| !s.source)
    });
    if target || v.inconsistent {
        DiskState::Inconsistent
    } else if v.outdated {
        DiskState::Outdated
    } else {
        DiskState::UpToDate
    }
}

impl Cluster {
    /// The node id of a node.
    pub fn node_id(&self, node: &str) -> Option<u32> {
        self.nodes.get(node).map(|n| n.id)
    }

    /// True if every connection of a running resource on `node` is Connected.
    pub fn all_connected(&self, node: &str, res: &str) -> bool {
        self.nodes
            .get(node)
            .and_then(|n| n.res.get(res))
            .is_some_and(|r| r.running && r.peers.values().all(|p| p.connected))
    }

    /// Backing devices of a resource on a node, `none` for diskless volumes.
    pub fn lower_devices(&self, node: &str, res: &str) -> Option<Vec<String>> {
        let r = self.nodes.get(node)?.res.get(res)?;
        Some(
            r.vols
                .values()
                .map(|v| v.backing.clone().unwrap_or_else(|| "none".into()))
                .collect(),
        )
    }
}
