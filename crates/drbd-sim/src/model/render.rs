//! The state of one node rendered as its kernel reports it: complete events2 lines.
//!
//! Must never: change the cluster.

use super::*;

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
                        (Some(s), true) if s.source && s.paused => ReplicationState::PausedSyncS,
                        (Some(s), true) if s.paused => ReplicationState::PausedSyncT,
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
                            resync_suspended: Some(ResyncSuspended {
                                dependency: pv.sync.as_ref().is_some_and(|s| s.paused),
                                ..Default::default()
                            }),
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
