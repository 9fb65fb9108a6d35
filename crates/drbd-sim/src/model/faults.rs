//! Faults and the outside world acting on the cluster: node power, network links, disks
//! attached, detached or failing, and devices opened by applications.
//!
//! Must never: do I/O or read a clock; every operation ends by recomputing the derived state.

use super::*;

impl Cluster {
    /// Power off a node: its kernel state is gone, its disks keep their data.
    pub fn crash(&mut self, node: &str) -> Outcome {
        let n = self.node_mut(node)?;
        n.up = false;
        for r in n.res.values_mut() {
            r.role = Role::Secondary;
            r.fif_forced = false;
            for v in r.vols.values_mut() {
                v.open = false;
                // What a diskless volume knew of its peers' data was kernel memory.
                v.seen.clear();
            }
            for p in r.peers.values_mut() {
                p.standalone = false;
                p.discard_my_data = false;
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
        let primary = self.running(node, res)?.role == Role::Primary;
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
                v.seen.clear();
                // On a Primary the applications ran on the peers' data meanwhile: the disk
                // catches up from them (it may become SyncTarget while Primary).
                v.behind = primary;
                // The disk comes back with the data and flags it had (its generations say
                // whether a connected peer moved on, which the handshake resyncs).
                self.renegotiate(node, res);
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
}
