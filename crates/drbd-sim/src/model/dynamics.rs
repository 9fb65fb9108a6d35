//! How the cluster moves: writes, virtual time (resync progress), and `settle`, which
//! recomputes connections, handshakes (resync direction), quorum and the I/O policy.
//!
//! Must never: read a clock; time only advances through `tick`.

use super::generations::{compare, compare_lineages, Lineage};
use super::*;

impl Cluster {
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
                    v.written = v.written.saturating_add(kib);
                    v.al_writes = v.al_writes.saturating_add(1);
                    holders.push(n.clone());
                }
            }
            self.lineage_after_write(res, vnr, &holders);
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
                                s.left = s.left.saturating_add(kib).min(size);
                                s.total = s.total.max(s.left);
                            }
                            _ => pv.oos = pv.oos.saturating_add(kib).min(size),
                        }
                    }
                }
            }
            let nr = self.nodes.get_mut(node).unwrap().res.get_mut(res).unwrap();
            for p in &reached[1..] {
                if let Some(pv) = nr.peers.get_mut(p).and_then(|x| x.vols.get_mut(&vnr)) {
                    pv.sent = pv.sent.saturating_add(kib);
                }
            }
        }
        self.settle();
        Ok(())
    }

    /// Read `kib` KiB on a Primary: served by the local disk of every attached volume (the
    /// `read` counter of events2); reads change no state.
    pub fn read(&mut self, node: &str, res: &str, kib: u64) -> Outcome {
        let r = self.running(node, res)?;
        if r.role != Role::Primary {
            return Err(Failure::new(1, format!("{res}: read failed: not Primary")));
        }
        let vols = &mut self
            .nodes
            .get_mut(node)
            .unwrap()
            .res
            .get_mut(res)
            .unwrap()
            .vols;
        for v in vols.values_mut().filter(|v| v.attached) {
            v.read = v.read.saturating_add(kib);
        }
        Ok(())
    }

    /// Advance virtual time: resyncs progress at the resource's rate.
    pub fn tick(&mut self, ms: u64) {
        self.now_ms = self.now_ms.saturating_add(ms);
        // Without a resync, time changes nothing but the clock: every operation already
        // ended with `settle`, so there is nothing to recompute (drivers that step time
        // often, like the HA campaign, rely on this being cheap).
        if !self.resyncing() {
            return;
        }
        let mut finished = Vec::new();
        let rates: BTreeMap<String, u64> = self
            .config
            .resources
            .iter()
            .map(|r| (r.name.clone(), r.resync_rate))
            .collect();
        for (name, n) in self.nodes.iter_mut() {
            for (rname, r) in n.res.iter_mut() {
                let step = rates.get(rname).copied().unwrap_or(1).saturating_mul(ms) / 1000;
                for (peer, p) in r.peers.iter_mut() {
                    for (vnr, pv) in p.vols.iter_mut() {
                        if let Some(s) = pv.sync.as_mut().filter(|s| !s.paused) {
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
            let lineage = self.nodes[&src].res[&res].vols[&vnr].uuids.clone();
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
                v.uuids = lineage;
                v.inconsistent = false;
                v.outdated = false;
                v.behind = false;
            }
            // The target is up to date now: its paused resyncs from other peers end too
            // (`settle` compares their data again).
            let others: Vec<String> = self.nodes[&tgt].res[&res]
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.vols
                        .get(&vnr)
                        .is_some_and(|pv| pv.sync.as_ref().is_some_and(|s| !s.source))
                })
                .map(|(n, _)| n.clone())
                .collect();
            for other in others {
                self.set_sync(&tgt, &other, &res, vnr, None);
                self.set_sync(&other, &tgt, &res, vnr, None);
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
    pub(super) fn settle(&mut self) {
        // Taken out for the loop (nothing below reads it from `self`), not copied.
        let resources = std::mem::take(&mut self.config.resources);
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
                    if conn && !was {
                        // Connected by its handshake below, in order: a connection not
                        // established yet must not count as a path to a Primary for the
                        // handshakes before it (HA campaign seed 132427).
                        if a < b {
                            new_pairs.push((a.clone(), b.clone()));
                        }
                        continue;
                    }
                    if !conn && was {
                        self.disconnected(a, b, &rc.name);
                    }
                    self.peer_of(a, b, &rc.name).connected = conn;
                }
            }
            for (a, b) in new_pairs {
                for (x, y) in [(&a, &b), (&b, &a)] {
                    let peer = self.peer_of(x, y, &rc.name);
                    peer.connected = true;
                    peer.departed = false;
                }
                self.handshake(&a, &b, rc, true);
            }
            self.reconcile(rc, &members);
            self.resume_paused(rc, &members);
            self.diskless_follow(&rc.name, &members);
            for a in &members {
                self.derive(a, rc, &members);
            }
            // A second pass: outdated flags cleared by peers change what others see.
            for a in &members {
                self.derive(a, rc, &members);
            }
        }
        self.config.resources = resources;
    }

    /// A volume without a disk knows the data generation of the disks it reaches: it takes
    /// the lineage of a connected, usable peer disk whose data descends from what it knew
    /// (DRBD 9's current UUID of a diskless node), and keeps it when they go away. A disk
    /// that comes back with older data and meets only such a node learns from it that it is
    /// stale (see `derive`).
    fn diskless_follow(&mut self, res: &str, members: &[String]) {
        for t in members {
            let Some(rt) = self
                .nodes
                .get(t)
                .filter(|n| n.up)
                .and_then(|n| n.res.get(res))
                .filter(|r| r.running)
            else {
                continue;
            };
            let mut adopt: Vec<(u32, Vec<u64>)> = Vec::new();
            for (vnr, vt) in rt.vols.iter().filter(|(_, v)| !v.attached) {
                let mut known: &[u64] = vt.known();
                for (name, _) in rt.peers.iter().filter(|(_, p)| p.connected) {
                    let Some(pv) = self
                        .nodes
                        .get(name)
                        .and_then(|n| n.res.get(res))
                        .and_then(|r| r.vols.get(vnr))
                    else {
                        continue;
                    };
                    if pv.usable() && compare_lineages(&pv.uuids, known) == Lineage::Newer {
                        known = &pv.uuids;
                    }
                }
                if known != vt.known() {
                    adopt.push((*vnr, known.to_vec()));
                }
            }
            for (vnr, lineage) in adopt {
                self.vol_of(t, res, vnr).seen = lineage;
            }
        }
    }

    fn link_ok(&self, a: &str, b: &str, res: &str) -> bool {
        let ok = |n: &str| {
            self.nodes
                .get(n)
                .is_some_and(|n| n.up && n.res.get(res).is_some_and(|r| r.running))
        };
        let standalone = |x: &str, y: &str| self.nodes[x].res[res].peers[y].standalone;
        ok(a) && ok(b) && !self.cut.contains(&pair(a, b)) && !standalone(a, b) && !standalone(b, a)
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
        for vnr in &target_left {
            if let Some(v) = ra.vols.get_mut(vnr) {
                v.inconsistent = true;
            }
        }
        // A paused resync of the same volume from another peer takes over.
        for vnr in target_left {
            let next = self.nodes[a].res[res].peers.iter().find_map(|(n, p)| {
                p.vols
                    .get(&vnr)
                    .and_then(|pv| pv.sync.as_ref())
                    .filter(|s| s.paused && p.connected)
                    .map(|_| n.clone())
            });
            if let Some(n) = next {
                for (x, y) in [(a, n.as_str()), (n.as_str(), a)] {
                    if let Some(s) = self.sync_mut(x, y, res, vnr) {
                        s.paused = false;
                    }
                }
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

    /// DRBD's quorum for node `a` (simplified from the kernel's, compat S4): the voters are
    /// the members with a disk by configuration, less the peers `a` saw leave (last man
    /// standing); `a` has quorum with a majority of the voters present (itself, if it has a
    /// disk, and its connected peers), or with exactly half when a diskless member breaks
    /// the tie (one connected to it, or `a` itself).
    fn has_quorum(&self, a: &str, r: &Res, res: &str, members: &[String]) -> bool {
        let diskful = |n: &str| {
            self.nodes
                .get(n)
                .and_then(|n| n.res.get(res))
                .is_some_and(|r| r.vols.values().any(|v| v.backing.is_some()))
        };
        let (mut voters, mut present, mut tie_breaker) = (0, 0, !diskful(a));
        for m in members {
            if m == a {
                if diskful(a) {
                    voters += 1;
                    present += 1;
                }
                continue;
            }
            let Some(p) = r.peers.get(m) else { continue };
            if !diskful(m) {
                tie_breaker |= p.connected;
            } else if !p.departed {
                voters += 1;
                present += usize::from(p.connected);
            }
        }
        2 * present > voters || (present > 0 && 2 * present == voters && tie_breaker)
    }

    fn derive(&mut self, a: &str, rc: &ResourceConfig, members: &[String]) {
        let res = &rc.name;
        let Some(r) = self
            .nodes
            .get(a)
            .filter(|n| n.up)
            .and_then(|n| n.res.get(res))
            .filter(|r| r.running)
        else {
            return;
        };
        let quorum_now = self.has_quorum(a, r, res, members);
        // What the connected peers tell, read before anything here changes (no copies:
        // this runs for every node and resource at every change of the cluster).
        let mut diskful_peer = false;
        // Per volume: a peer has newer data, a peer is UpToDate with the same data, a peer
        // is UpToDate at all, a diskless peer knows newer data than this disk holds.
        let mut per_vol: Vec<(u32, bool, bool, bool, bool)> = r
            .vols
            .keys()
            .map(|vnr| (*vnr, false, false, false, false))
            .collect();
        for (name, p) in &r.peers {
            if !p.connected {
                continue;
            }
            let Some(pr) = self.nodes.get(name).and_then(|n| n.res.get(res)) else {
                continue;
            };
            diskful_peer |= pr.vols.values().any(|v| v.attached);
            for (vnr, newer, same, uptodate, stale) in per_vol.iter_mut() {
                let (Some(pv), Some(v)) = (pr.vols.get(vnr), r.vols.get(vnr)) else {
                    continue;
                };
                let peer_disk = disk_state(pv, pr, *vnr);
                *newer |= pv.attached && compare(pv, v) == Lineage::Newer;
                *stale |= !pv.attached && compare_lineages(pv.known(), &v.uuids) == Lineage::Newer;
                *same |= pv.current() == v.current() && peer_disk == DiskState::UpToDate;
                *uptodate |= peer_disk == DiskState::UpToDate;
            }
        }
        let r = self.nodes.get_mut(a).unwrap().res.get_mut(res).unwrap();
        let quorum_enabled = r.opts.quorum_enabled();
        r.quorum = !quorum_enabled || quorum_now;
        let (role, quorum) = (r.role, r.quorum);
        for (vnr, newer_peer, peer_uptodate_same, _, stale) in &per_vol {
            let v = r.vols.get_mut(vnr).unwrap();
            if !v.attached || v.inconsistent {
                continue;
            }
            if role == Role::Secondary && quorum_enabled && !quorum {
                v.outdated = true;
            } else if role == Role::Secondary && *stale {
                // Writes were made that this disk missed (a diskless peer saw them): it
                // stays Outdated until a disk holding them resyncs it.
                v.outdated = true;
            } else if v.outdated
                && !newer_peer
                && (*peer_uptodate_same || (quorum && diskful_peer && quorum_enabled))
            {
                v.outdated = false;
            }
        }
        if r.role == Role::Primary {
            let lost = quorum_enabled && !r.quorum;
            r.suspended.quorum = lost && r.opts.on_no_quorum == OnNoQuorum::SuspendIo;
            r.fif_quorum = lost && r.opts.on_no_quorum == OnNoQuorum::IoError;
            let here: &Res = r;
            let no_data = per_vol.iter().any(|(vnr, _, _, peer_uptodate, _)| {
                disk_state(&here.vols[vnr], here, *vnr) != DiskState::UpToDate && !peer_uptodate
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

    /// What node `a` keeps about volume `vnr` of its peer `b` in resource `res`.
    pub(super) fn peer_vol_mut(
        &mut self,
        a: &str,
        b: &str,
        res: &str,
        vnr: u32,
    ) -> Option<&mut PeerVol> {
        self.nodes
            .get_mut(a)?
            .res
            .get_mut(res)?
            .peers
            .get_mut(b)?
            .vols
            .get_mut(&vnr)
    }

    pub(super) fn sync_mut(&mut self, a: &str, b: &str, res: &str, vnr: u32) -> Option<&mut Sync> {
        self.peer_vol_mut(a, b, res, vnr)?.sync.as_mut()
    }

    fn set_sync(&mut self, a: &str, b: &str, res: &str, vnr: u32, sync: Option<Sync>) {
        if let Some(pv) = self
            .nodes
            .get_mut(a)
            .and_then(|n| n.res.get_mut(res))
            .and_then(|r| r.peers.get_mut(b))
            .and_then(|p| p.vols.get_mut(&vnr))
        {
            pv.sync = sync;
            pv.oos = 0;
        }
    }
}
