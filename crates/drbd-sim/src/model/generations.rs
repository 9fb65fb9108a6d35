//! Data generations, DRBD's generation identifiers simplified: every volume keeps the lineage
//! of generations its data went through (oldest first, the last one current). A promotion,
//! and the first write that misses a peer still holding the current generation, start a new
//! one. When two nodes connect (or connected data drifts apart), comparing lineages decides:
//! same data; a resync from the newer side (an older Primary is forced Secondary per
//! `on-suspended-primary-outdated` if it is suspended, else refuses; but a Primary whose disk
//! was attached while it ran on its peers' data, or whose disk is Inconsistent, resyncs as
//! SyncTarget while Primary); or split brain, which
//! leaves the connection StandAlone on both sides until an operator reconnects.
//!
//! Must never: read a clock or do I/O; every decision is a function of the two lineages,
//! the disk flags, the out-of-sync amounts and the `--discard-my-data` flags.

use super::*;

/// How the data of two volumes relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lineage {
    Same,
    /// The first volume's data descends from the second's.
    Newer,
    /// The second volume's data descends from the first's.
    Older,
    /// Both moved on from a common past: split brain.
    Diverged,
}

/// Compares the lineages of two volumes.
pub(super) fn compare(a: &Vol, b: &Vol) -> Lineage {
    compare_lineages(&a.uuids, &b.uuids)
}

/// Compares two lineages (oldest first, the last current).
pub(super) fn compare_lineages(a: &[u64], b: &[u64]) -> Lineage {
    let (ca, cb) = (
        a.last().copied().unwrap_or_default(),
        b.last().copied().unwrap_or_default(),
    );
    if ca == cb {
        Lineage::Same
    } else if b.contains(&ca) {
        Lineage::Older
    } else if a.contains(&cb) {
        Lineage::Newer
    } else {
        Lineage::Diverged
    }
}

/// What a handshake decided for one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Same,
    /// Resync `total` KiB from `src` to `tgt` (0: nothing to copy, the target adopts the
    /// source's lineage at once, as a bitmap-based resync of an empty bitmap does).
    Sync {
        src: String,
        tgt: String,
        total: u64,
    },
    SplitBrain,
    /// The target is a SyncSource itself right now: compared again once that ends.
    Later,
}

impl Cluster {
    /// Starts a new data generation on `node` (a promotion): its attached volumes, and the
    /// connected peers that hold the same current generation, move on together.
    pub(super) fn new_generation(&mut self, node: &str, res: &str) {
        let vnrs: Vec<u32> = self.nodes[node].res[res].vols.keys().copied().collect();
        let peers: Vec<String> = self
            .connected_peers(node, res)
            .into_iter()
            .map(|(n, _)| n.clone())
            .collect();
        for vnr in vnrs {
            let holders: Vec<String> = std::iter::once(node.to_string())
                .chain(peers.iter().cloned())
                .filter(|n| {
                    let v = &self.nodes[n].res[res].vols[&vnr];
                    v.attached && !v.inconsistent
                })
                .collect();
            let Some(first) = holders.first() else {
                continue;
            };
            let base = self.nodes[first].res[res].vols[&vnr].uuids.clone();
            self.generation += 1;
            let mut next = base.clone();
            next.push(self.generation);
            for h in &holders {
                let v = self.vol_of(h, res, vnr);
                if v.current() == *base.last().unwrap() {
                    v.uuids = next.clone();
                }
            }
        }
    }

    /// The lineage after a write that reached `holders` (attached volumes): theirs, with a
    /// new generation if a member that missed the write still holds the current one.
    pub(super) fn lineage_after_write(&mut self, res: &str, vnr: u32, holders: &[String]) {
        // A holder catching up by resync (a Primary that is its SyncTarget) does not have
        // the data yet: the lineage is that of a consistent holder.
        let consistent = holders
            .iter()
            .find(|h| !self.nodes[*h].res[res].vols[&vnr].inconsistent);
        let Some(first) = consistent.or(holders.first()) else {
            return;
        };
        let mut lineage = self.nodes[first].res[res].vols[&vnr].uuids.clone();
        let current = *lineage.last().unwrap();
        let missed = self.nodes.iter().any(|(name, n)| {
            !holders.contains(name)
                && n.res.get(res).is_some_and(|r| {
                    r.vols
                        .get(&vnr)
                        .is_some_and(|v| v.backing.is_some() && v.current() == current)
                })
        });
        if missed {
            self.generation += 1;
            lineage.push(self.generation);
        }
        for h in holders {
            self.vol_of(h, res, vnr).uuids = lineage.clone();
        }
    }

    pub(super) fn vol_of(&mut self, node: &str, res: &str, vnr: u32) -> &mut Vol {
        self.nodes
            .get_mut(node)
            .unwrap()
            .res
            .get_mut(res)
            .unwrap()
            .vols
            .get_mut(&vnr)
            .unwrap()
    }

    pub(super) fn peer_of(&mut self, a: &str, b: &str, res: &str) -> &mut Peer {
        self.nodes
            .get_mut(a)
            .unwrap()
            .res
            .get_mut(res)
            .unwrap()
            .peers
            .get_mut(b)
            .unwrap()
    }

    /// True if a Primary is reachable from `from` (itself included) over connected peers
    /// without going through `skip`.
    fn primary_beyond(&self, from: &str, skip: &str, res: &str) -> bool {
        let mut seen = BTreeSet::from([from.to_string(), skip.to_string()]);
        let mut todo = vec![from.to_string()];
        while let Some(n) = todo.pop() {
            if self.nodes[&n]
                .res
                .get(res)
                .is_some_and(|r| r.role == Role::Primary)
            {
                return true;
            }
            for (p, _) in self.connected_peers(&n, res) {
                if seen.insert(p.clone()) {
                    todo.push(p.clone());
                }
            }
        }
        false
    }

    /// Both sides of the connection between `a` and `b` go StandAlone (split brain, or an
    /// older Primary that cannot become SyncTarget).
    fn stand_alone(&mut self, a: &str, b: &str, res: &str) {
        for (x, y) in [(a, b), (b, a)] {
            let p = self.peer_of(x, y, res);
            p.connected = false;
            p.standalone = true;
            p.discard_my_data = false;
        }
    }

    /// The plan for one volume of a connection between `a` and `b`.
    fn plan(&self, a: &str, b: &str, res: &str, vnr: u32, size: u64) -> Plan {
        let ra = &self.nodes[a].res[res];
        let rb = &self.nodes[b].res[res];
        let (va, vb) = (&ra.vols[&vnr], &rb.vols[&vnr]);
        if !va.attached || !vb.attached {
            return Plan::Same;
        }
        let oos_a = ra.peers[b].vols[&vnr].oos;
        let oos_b = rb.peers[a].vols[&vnr].oos;
        let sync = |src: &str, tgt: &str, total: u64| Plan::Sync {
            src: src.to_string(),
            tgt: tgt.to_string(),
            total: total.min(size),
        };
        let full = |oos: u64| if oos == 0 { size } else { oos };
        let busy_source = |n: &str| {
            self.nodes[n].res[res].peers.values().any(|p| {
                p.vols
                    .get(&vnr)
                    .and_then(|pv| pv.sync.as_ref())
                    .is_some_and(|s| s.source)
            })
        };
        let sync = |src: &str, tgt: &str, total: u64| {
            if busy_source(tgt) {
                Plan::Later
            } else {
                sync(src, tgt, total)
            }
        };
        match (ra.peers[b].discard_my_data, rb.peers[a].discard_my_data) {
            // The victim of a split brain takes the other side's data: what both wrote.
            (true, false) => return sync(b, a, oos_a + oos_b),
            (false, true) => return sync(a, b, oos_a + oos_b),
            _ => {}
        }
        match (va.inconsistent, vb.inconsistent) {
            (true, true) => return Plan::Same,
            (false, true) => return sync(a, b, full(oos_a.max(oos_b))),
            (true, false) => return sync(b, a, full(oos_a.max(oos_b))),
            (false, false) => {}
        }
        // A Primary's disk that only catches up (attached while the Primary ran on its
        // peers' data) holds none of the data its applications saw: where it diverged, it
        // is overwritten by a full resync instead of a split brain.
        let catching_up = |r: &Res, v: &Vol| v.behind && r.role == Role::Primary;
        match compare(va, vb) {
            Lineage::Same => Plan::Same,
            Lineage::Newer => sync(a, b, oos_a.max(oos_b)),
            Lineage::Older => sync(b, a, oos_a.max(oos_b)),
            Lineage::Diverged if catching_up(ra, va) => sync(b, a, size),
            Lineage::Diverged if catching_up(rb, vb) => sync(a, b, size),
            Lineage::Diverged => Plan::SplitBrain,
        }
    }

    /// True if `x` is a Primary without any attached disk whose known data generation is
    /// older than a usable disk of `y` (S23).
    fn diskless_primary_outdated_by(&self, x: &str, y: &str, res: &str) -> bool {
        let (rx, ry) = (&self.nodes[x].res[res], &self.nodes[y].res[res]);
        rx.role == Role::Primary
            && rx.vols.values().all(|v| !v.attached)
            && rx.vols.iter().any(|(vnr, vx)| {
                ry.vols.get(vnr).is_some_and(|vy| {
                    vy.usable() && compare_lineages(&vy.uuids, vx.known()) == Lineage::Newer
                })
            })
    }

    /// The handshake of a connection: compares every volume, then resyncs, forces an older
    /// suspended Primary Secondary, or drops the connection (StandAlone). `fresh`: the
    /// connection was just established (same data forgets the out-of-sync amounts).
    pub(super) fn handshake(&mut self, a: &str, b: &str, rc: &ResourceConfig, fresh: bool) {
        let res = &rc.name;
        let plans: Vec<(u32, Plan)> = rc
            .volumes
            .iter()
            .map(|vc| (vc.number, self.plan(a, b, res, vc.number, vc.size)))
            .collect();
        if plans.iter().any(|(_, p)| *p == Plan::SplitBrain) {
            self.stand_alone(a, b, res);
            return;
        }
        for (x, y) in [(a, b), (b, a)] {
            self.peer_of(x, y, res).discard_my_data = false;
        }
        // A Primary whose own data is older than a peer's (it kept its disk while the peer
        // moved on) never becomes SyncTarget: per on-suspended-primary-outdated a suspended
        // one is forced Secondary (its openers get I/O errors), otherwise the connection is
        // refused. A Primary whose disk only catches up (attached again while the Primary ran
        // on its peers' data, or Inconsistent) does become SyncTarget: its I/O goes to the
        // peers meanwhile, as DRBD resyncs an attaching Primary.
        let targets: BTreeSet<String> = plans
            .iter()
            .filter_map(|(vnr, p)| match p {
                Plan::Sync { tgt, .. } => {
                    let v = &self.nodes[tgt].res[res].vols[vnr];
                    (!(v.behind || v.inconsistent)).then(|| tgt.clone())
                }
                _ => None,
            })
            .collect();
        for tgt in targets {
            let tr = self.nodes.get_mut(&tgt).unwrap().res.get_mut(res).unwrap();
            if tr.role != Role::Primary {
                continue;
            }
            if !tr.force_secondary_when_outdated() {
                self.stand_alone(a, b, res);
                return;
            }
        }
        // The same for a diskless Primary: what it knows of the data (the generation it ran
        // on) is older than the peer's disk, so it ran on outdated data.
        for (x, y) in [(a, b), (b, a)] {
            if self.diskless_primary_outdated_by(x, y, res) {
                let xr = self.nodes.get_mut(x).unwrap().res.get_mut(res).unwrap();
                xr.force_secondary_when_outdated();
            }
        }
        // Two Primaries never stay connected (no allow-two-primaries): the connection is
        // dropped as after-sb-2pri=disconnect does.
        if self.nodes[a].res[res].role == Role::Primary
            && self.nodes[b].res[res].role == Role::Primary
        {
            self.stand_alone(a, b, res);
            return;
        }
        // Nor through a third node: a Primary joining a part of the cluster that has another
        // Primary is refused the same way (DRBD's cluster-wide state change sees both).
        let primary_behind = |x: &str, y: &str| {
            self.nodes[x].res[res].role == Role::Primary && self.primary_beyond(y, x, res)
        };
        if primary_behind(a, b) || primary_behind(b, a) {
            self.stand_alone(a, b, res);
            return;
        }
        for (vnr, plan) in plans {
            let Plan::Sync { src, tgt, total } = plan else {
                if fresh && plan == Plan::Same {
                    for (x, y) in [(a, b), (b, a)] {
                        self.peer_vol_mut(x, y, res, vnr).unwrap().oos = 0;
                    }
                }
                continue;
            };
            self.start_sync(&src, &tgt, res, vnr, total);
        }
    }

    fn start_sync(&mut self, src: &str, tgt: &str, res: &str, vnr: u32, total: u64) {
        if total == 0 {
            let from = self.nodes[src].res[res].vols[&vnr].clone();
            let tv = self.vol_of(tgt, res, vnr);
            tv.uuids = from.uuids;
            tv.outdated = from.outdated;
            tv.behind = false;
            for (x, y) in [(src, tgt), (tgt, src)] {
                self.peer_vol_mut(x, y, res, vnr).unwrap().oos = 0;
            }
            return;
        }
        let busy = self.nodes[tgt].res[res].peers.iter().any(|(n, p)| {
            n != src
                && p.vols
                    .get(&vnr)
                    .is_some_and(|pv| pv.sync.as_ref().is_some_and(|s| !s.source))
        });
        let start = self.now_ms;
        for (x, y, source) in [(src, tgt, true), (tgt, src, false)] {
            let pv = self.peer_vol_mut(x, y, res, vnr).unwrap();
            pv.oos = 0;
            pv.sync = Some(Sync {
                source,
                paused: busy,
                total,
                left: total,
                start_ms: start,
            });
        }
        let tv = self.vol_of(tgt, res, vnr);
        tv.inconsistent = true;
        tv.outdated = false;
    }

    /// Connected pairs whose consistent data drifted apart (a write that reached one but
    /// not the other, a resync that ended) are compared again, as if they reconnected.
    pub(super) fn reconcile(&mut self, rc: &ResourceConfig, members: &[String]) {
        let res = &rc.name;
        for a in members {
            for b in members {
                if a >= b || !self.nodes[a].res[res].peers[b].connected {
                    continue;
                }
                let drifted = rc.volumes.iter().any(|vc| {
                    let (ra, rb) = (&self.nodes[a].res[res], &self.nodes[b].res[res]);
                    let (va, vb) = (&ra.vols[&vc.number], &rb.vols[&vc.number]);
                    va.attached
                        && vb.attached
                        && !va.inconsistent
                        && !vb.inconsistent
                        && ra.peers[b].vols[&vc.number].sync.is_none()
                        && compare(va, vb) != Lineage::Same
                });
                if drifted {
                    self.handshake(a, b, rc, false);
                }
            }
        }
    }

    /// A target whose resyncs are all paused (the running one ended or went away) resumes
    /// one of them.
    pub(super) fn resume_paused(&mut self, rc: &ResourceConfig, members: &[String]) {
        let res = &rc.name;
        for n in members {
            for vc in &rc.volumes {
                let vnr = vc.number;
                let r = &self.nodes[n].res[res];
                let targets: Vec<(&String, bool)> = r
                    .peers
                    .iter()
                    .filter(|(_, p)| p.connected)
                    .filter_map(|(name, p)| {
                        let s = p.vols.get(&vnr)?.sync.as_ref()?;
                        (!s.source).then_some((name, s.paused))
                    })
                    .collect();
                if targets.is_empty() || targets.iter().any(|(_, paused)| !paused) {
                    continue;
                }
                let peer = targets[0].0.clone();
                for (x, y) in [(n.as_str(), peer.as_str()), (peer.as_str(), n.as_str())] {
                    if let Some(s) = self.sync_mut(x, y, res, vnr) {
                        s.paused = false;
                    }
                }
            }
        }
    }

    /// `drbdadm connect [--discard-my-data] RES`: StandAlone connections of `node` try
    /// again; with `discard`, this node gives up its data at the next handshake with each
    /// peer it is not connected to.
    pub fn connect(&mut self, node: &str, res: &str, discard: bool) -> Outcome {
        let r = self.running(node, res)?;
        for p in r.peers.values_mut().filter(|p| !p.connected) {
            p.standalone = false;
            p.discard_my_data = discard;
        }
        self.settle();
        Ok(())
    }

    /// The current data generation of a volume on a node (for tests and `ctl status`).
    pub fn current_generation(&self, node: &str, res: &str, vnr: u32) -> Option<u64> {
        Some(
            self.nodes
                .get(node)?
                .res
                .get(res)?
                .vols
                .get(&vnr)?
                .current(),
        )
    }
}
