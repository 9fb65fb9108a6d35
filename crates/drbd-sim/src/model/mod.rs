//! The kernels of a simulated DRBD 9 cluster: node power, links, and per node and resource
//! the role, disks, connections, resyncs, quorum and I/O policy. Operations mirror DRBD
//! (primary/secondary, up/down, resource-options) and faults (crash, partition, detach,
//! writes while disconnected); time advances only through [`Cluster::tick`].
//!
//! Must never: do I/O or read a clock. Every derived value is recomputed by `settle`
//! (in `dynamics`); `faults` holds power, link, disk and open operations; `render` turns the
//! state into what each node's kernel reports.

mod dynamics;
mod faults;
mod generations;
mod render;

pub use render::progress;

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
    /// A refused state change, with drbdsetup's exit status for it: 17 for "no UpToDate
    /// data" (SS_NO_UP_TO_DATE_DISK), 11 for the others.
    fn state(res: &str, rv: i32, text: &str) -> Failure {
        let code = if rv == -2 { 17 } else { 11 };
        Failure::new(code, format!("{res}: State change failed: ({rv}) {text}"))
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
    /// Waiting for another resync of the same target volume (resync-suspended:dependency).
    paused: bool,
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
    /// The peer left while connected (`drbdadm down`): DRBD marks it Outdated and no
    /// longer counts it among the quorum's voters ("last man standing") until it connects
    /// again. A peer that crashed or was cut off still counts.
    departed: bool,
    /// The connection was dropped (split brain) and stays down until `connect`/`up`.
    standalone: bool,
    /// `connect --discard-my-data`: this side becomes SyncTarget at the next handshake.
    discard_my_data: bool,
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
    /// Data generations, oldest first; the last is the current one (see `generations`).
    uuids: Vec<u64>,
    /// While not attached: the lineage of the newest usable peer disk this node reached
    /// (empty: none reached yet). DRBD 9's current UUID of a diskless node; `uuids` stays
    /// what the detached disk, if any, holds.
    seen: Vec<u64>,
    outdated: bool,
    inconsistent: bool,
    /// Attached to a Primary that ran on its peers' data meanwhile: the Primary's data is
    /// theirs, this disk only catches up, so the Primary may become its SyncTarget.
    behind: bool,
    read: u64,
    written: u64,
    al_writes: u64,
}

impl Vol {
    fn current(&self) -> u64 {
        self.uuids.last().copied().unwrap_or_default()
    }

    /// Attached with data a peer may follow (not Inconsistent, not Outdated).
    fn usable(&self) -> bool {
        self.attached && !self.inconsistent && !self.outdated
    }

    /// The lineage this volume vouches for: its disk's when attached, else the newest it saw
    /// on its peers (or its detached disk's, if it saw none).
    fn known(&self) -> &[u64] {
        if self.attached || self.seen.is_empty() {
            &self.uuids
        } else {
            &self.seen
        }
    }
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

impl Res {
    /// A Primary found to have run on outdated data: with its I/O suspended and
    /// `on-suspended-primary-outdated force-secondary` it is forced Secondary (its openers get
    /// I/O errors) and true is returned; otherwise it stays as it is.
    fn force_secondary_when_outdated(&mut self) -> bool {
        if !(self.suspended.any() && self.opts.on_suspended_primary_outdated == "force-secondary") {
            return false;
        }
        self.role = Role::Secondary;
        self.fif_forced = self.vols.values().any(|v| v.open);
        self.suspended = Suspended::default();
        true
    }
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
                                uuids: vec![0],
                                seen: Vec::new(),
                                outdated: false,
                                inconsistent: false,
                                behind: false,
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
                                vols,
                                ..Default::default()
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
        if self.primary_in_reach(node, res) {
            return Err(Failure::state(
                res,
                -1,
                "Multiple primaries not allowed by config",
            ));
        }
        if r.opts.quorum_enabled() && !r.quorum && !force {
            return Err(Failure::state(res, -25, "No quorum"));
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
        for v in r.vols.values_mut() {
            v.behind = false;
        }
        self.new_generation(node, res);
        self.settle();
        Ok(())
    }

    /// True if a node reachable through connected peers (DRBD's cluster-wide state change
    /// asks them all) is Primary.
    fn primary_in_reach(&self, node: &str, res: &str) -> bool {
        let mut seen = BTreeSet::from([node.to_string()]);
        let mut todo = vec![node.to_string()];
        while let Some(n) = todo.pop() {
            for (p, r) in self.connected_peers(&n, res) {
                if seen.insert(p.clone()) {
                    if r.role == Role::Primary {
                        return true;
                    }
                    todo.push(p.clone());
                }
            }
        }
        false
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
    /// Also attaches configured disks that are detached, as `adjust` does.
    pub fn up(&mut self, node: &str, res: &str) -> Outcome {
        match self.nodes.get_mut(node).and_then(|n| n.res.get_mut(res)) {
            Some(r) => {
                r.running = true;
                // adjust also connects StandAlone connections.
                for p in r.peers.values_mut() {
                    p.standalone = false;
                }
                let mut attached = false;
                let primary = r.role == Role::Primary;
                for v in r.vols.values_mut() {
                    if v.backing.is_some() && !v.attached {
                        v.attached = true;
                        v.failed = false;
                        v.seen.clear();
                        v.behind = primary;
                        attached = true;
                    }
                }
                if attached {
                    self.renegotiate(node, res);
                }
                self.settle();
                Ok(())
            }
            None => Err(Failure::new(
                10,
                format!("'{res}' not defined in your config (for this host)."),
            )),
        }
    }

    /// Makes `settle` handshake again with every connected peer (after an attach).
    fn renegotiate(&mut self, node: &str, res: &str) {
        let peers: Vec<String> = match self.nodes.get(node).and_then(|n| n.res.get(res)) {
            Some(r) => r.peers.keys().cloned().collect(),
            None => return,
        };
        for p in peers {
            for (a, b) in [(node, p.as_str()), (p.as_str(), node)] {
                if let Some(peer) = self
                    .nodes
                    .get_mut(a)
                    .and_then(|n| n.res.get_mut(res))
                    .and_then(|r| r.peers.get_mut(b))
                {
                    peer.connected = false;
                }
            }
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
        for v in r.vols.values_mut() {
            v.seen.clear();
        }
        let mut told = Vec::new();
        for (peer, p) in r.peers.iter_mut() {
            if p.connected {
                told.push(peer.clone());
            }
            p.standalone = false;
            p.discard_my_data = false;
        }
        // The peers it was connected to saw it leave.
        for peer in told {
            self.peer_of(&peer, node, res).departed = true;
        }
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

    /// True if the resource is up on a running node (drbdsetup's view).
    pub fn is_running(&self, node: &str, res: &str) -> bool {
        self.nodes
            .get(node)
            .filter(|n| n.up)
            .and_then(|n| n.res.get(res))
            .is_some_and(|r| r.running)
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
