//! The invariants of issue 15 item 1, checked after every instant something happened:
//! one Primary with quorum, one node running the services (and only on a Primary), a
//! shutdown node without quorum stops within a bound, a freeze node without quorum freezes
//! and never stops, no start loop; and after every fault is repaired, exactly one node runs
//! each resource within the policy's bound, the most preferred available one where fail-back
//! applies.
//!
//! Must never: change the world.

use crate::world::{promoter_config, quorum, role, Event, World, NODES, RESOURCES, SLOW_MS};
use drbd::vocab::{ConnectionState, DiskState, Role};
use drbd_reactor_promoter::config::{PreferredNodesPolicy, QuorumLoss};
use drbd_reactor_promoter::policy::machine::{MAX_BACKOFF, TICK};
use drbd_reactor_promoter::policy::FAILBACK_HOLDOFF;
use drbd_sim::view::NodeView;

/// A shutdown node without quorum has stopped its services by then (a slow stop queued
/// behind another slow stop, and a second of slack).
pub const QUORUM_STOP_BOUND_MS: u64 = 2 * SLOW_MS + 1_000;
/// A freeze node without quorum has frozen its services by then.
pub const FREEZE_BOUND_MS: u64 = 2 * SLOW_MS + 1_000;
/// Starts of one resource on one node within any hour of virtual time.
pub const STARTS_PER_HOUR: usize = 30;
/// After every fault is repaired, exactly one node runs each resource by then, on its most
/// preferred available node: the longest backoff of the preferred node's failed starts, plus
/// a fail-back hold-off begun just before that backoff ended (a fail-back it could not take),
/// a tick, the longest promotion delay (diskless 6 s + 2 preferences + 2 s freeze), a slow
/// command in flight on each side of a fail-back, and a resync.
pub fn settle_bound_ms() -> u64 {
    (MAX_BACKOFF + FAILBACK_HOLDOFF + TICK).as_millis() as u64 + 10_000 + 2 * SLOW_MS + 30_000
}

#[derive(Default)]
pub struct Checker {
    /// Since when a node with a live daemon has run a resource without quorum.
    without_quorum: [[Option<u64>; 3]; 3],
    /// Since when a node with a live daemon has run a resource while Secondary.
    on_secondary: [[Option<u64>; 3]; 3],
    seen_events: usize,
    starts: [[Vec<u64>; 3]; 3],
}

impl Checker {
    /// The invariants that hold at every instant.
    pub fn check(&mut self, w: &World) -> Result<(), String> {
        let views = w.views();
        for r in 0..3 {
            self.check_resource(w, views, r)?;
        }
        self.check_events(w)
    }

    fn check_resource(&mut self, w: &World, views: &[NodeView; 3], r: usize) -> Result<(), String> {
        let res = RESOURCES[r];
        let primaries: Vec<&str> = (0..3)
            .filter(|n| {
                role(&views[*n], r) == Some(Role::Primary) && quorum(&views[*n], r) == Some(true)
            })
            .map(|n| NODES[n])
            .collect();
        if primaries.len() > 1 {
            return Err(format!("{res}: Primary with quorum on {primaries:?}"));
        }
        let running: Vec<usize> = (0..3)
            .filter(|n| w.up(*n) && w.services[*n][r].running && !w.services[*n][r].frozen)
            .collect();
        // Services on a node without quorum cannot write (DRBD suspends or fails their I/O);
        // the bounds below make the promoter stop or freeze them.
        let active: Vec<&str> = running
            .iter()
            .filter(|n| {
                quorum(&views[**n], r) == Some(true) && role(&views[**n], r) == Some(Role::Primary)
            })
            .map(|n| NODES[*n])
            .collect();
        if active.len() > 1 {
            return Err(format!("{res}: services run on {active:?}"));
        }
        // Services on a Secondary (forced to Secondary, demoted under them) get I/O errors;
        // a live promoter stops them within the bound.
        for n in 0..3 {
            let s = w.services[n][r];
            let exposed = w.up(n)
                && s.running
                && quorum(&views[n], r) == Some(true)
                && role(&views[n], r) != Some(Role::Primary);
            let since = track(&mut self.on_secondary[n][r], exposed, w, n);
            if since.is_some_and(|t| w.now - t > QUORUM_STOP_BOUND_MS) {
                return Err(format!(
                    "{res}: services run on {} which is {:?}",
                    NODES[n],
                    role(&views[n], r)
                ));
            }
        }
        let cfg = promoter_config(r);
        for n in 0..3 {
            let s = w.services[n][r];
            let exposed = w.up(n) && s.running && quorum(&views[n], r) == Some(false);
            let since = track(&mut self.without_quorum[n][r], exposed, w, n);
            let Some(since) = since else { continue };
            let age = w.now - since;
            match cfg.on_quorum_loss {
                QuorumLoss::Shutdown if age > QUORUM_STOP_BOUND_MS => {
                    return Err(format!(
                        "{res}: {} runs the services without quorum for {age} ms (on-quorum-loss = shutdown)",
                        NODES[n]
                    ));
                }
                QuorumLoss::Freeze if !s.frozen && age > FREEZE_BOUND_MS => {
                    return Err(format!(
                        "{res}: {} runs unfrozen services without quorum for {age} ms (on-quorum-loss = freeze)",
                        NODES[n]
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_events(&mut self, w: &World) -> Result<(), String> {
        for (t, e) in &w.events[self.seen_events..] {
            match *e {
                Event::Started { node, res, .. } => {
                    let starts = &mut self.starts[node][res];
                    starts.push(*t);
                    let hour_ago = t.saturating_sub(3_600_000);
                    let recent = starts.iter().filter(|s| **s > hour_ago).count();
                    if recent > STARTS_PER_HOUR {
                        return Err(format!(
                            "{}: {recent} starts on {} within an hour",
                            RESOURCES[res], NODES[node]
                        ));
                    }
                }
                Event::Stopped {
                    node,
                    res,
                    frozen_without_quorum,
                } => {
                    if frozen_without_quorum {
                        return Err(format!(
                            "{}: {} stopped frozen services without quorum (on-quorum-loss = freeze)",
                            RESOURCES[res], NODES[node]
                        ));
                    }
                }
            }
        }
        self.seen_events = w.events.len();
        Ok(())
    }
}

/// Since when a condition has held on a node with a live daemon (the later of the two).
fn track(since: &mut Option<u64>, holds: bool, w: &World, n: usize) -> Option<u64> {
    *since = match (holds, w.daemon_since[n]) {
        (true, Some(d)) => Some(since.unwrap_or(w.now).max(d)),
        _ => None,
    };
    *since
}

/// After every repair and the settle bound: each resource runs on exactly one node, and where
/// fail-back applies (`preferred-nodes-policy = "always"`) on its most preferred available
/// node: the first preferred node that is the running one, or that the running node sees
/// connected with every volume UpToDate (a node left in split brain, StandAlone, or without
/// UpToDate data is not available; nothing can move the services there). A failure of
/// either is a violation; the promoter fails back on its own (its bounded fail-back).
/// Returned when it passes: where the services run elsewhere than on the first preferred
/// node because that one is not available (counted as a fail-back gap, not a violation).
pub fn check_settled(w: &World) -> Result<Option<String>, String> {
    let mut unavailable = None;
    for r in 0..3 {
        let res = RESOURCES[r];
        let running: Vec<usize> = (0..3)
            .filter(|n| w.services[*n][r].running && !w.services[*n][r].frozen)
            .collect();
        if running.is_empty() && split_brain_without_quorum(w, r) {
            return Err(format!("{res}: after repair, {SPLIT_BRAIN}"));
        }
        if running.len() != 1 {
            let names: Vec<&str> = running.iter().map(|n| NODES[*n]).collect();
            return Err(format!(
                "{res}: after repair, services run on {names:?} (exactly one expected)"
            ));
        }
        let cfg = promoter_config(r);
        if cfg.preferred_nodes_policy != PreferredNodesPolicy::Always {
            continue;
        }
        let on = running[0];
        let best = cfg
            .preferred_nodes
            .iter()
            .find(|p| NODES[on] == p.as_str() || available(w, on, r, p));
        if let Some(best) = best.filter(|b| NODES[on] != b.as_str()) {
            return Err(format!(
                "{res}: after repair, services run on {} not on the preferred {best}, which is connected and UpToDate",
                NODES[on]
            ));
        }
        let first = cfg.preferred_nodes.first().map(String::as_str);
        if first.is_some_and(|f| f != NODES[on]) {
            let first = first.unwrap_or_default();
            unavailable = Some(format!(
                "{res}: after repair, services run on {}; the preferred {first} is not available to them ({})",
                NODES[on],
                seen_as(w, on, r, first)
            ));
        }
    }
    Ok(unavailable)
}

/// The end of a schedule where a split brain (DRBD's, left for an operator) cuts every node
/// off from a majority: nothing may run, and nothing can be done by the promoter.
pub const SPLIT_BRAIN: &str =
    "a split brain leaves no node with quorum: services run nowhere (needs an operator)";

/// Every node reports the resource without quorum (or down), and some connection of it is
/// StandAlone (a split brain found again after the repair's `drbdadm adjust`).
fn split_brain_without_quorum(w: &World, r: usize) -> bool {
    let views = w.views();
    (0..3).all(|n| quorum(&views[n], r) != Some(true))
        && (0..3).any(|n| {
            views[n].get(RESOURCES[r]).is_some_and(|rv| {
                rv.connections
                    .values()
                    .any(|c| c.conn.connection == Some(ConnectionState::StandAlone))
            })
        })
}

/// How the node running the services sees `peer`: its connection and peer disk states.
fn seen_as(w: &World, on: usize, r: usize, peer: &str) -> String {
    let conn = w.views()[on]
        .get(RESOURCES[r])
        .and_then(|rv| rv.connections.values().find(|c| c.conn.conn_name == peer));
    match conn {
        None => "no connection".into(),
        Some(c) => format!(
            "{:?}, {:?}",
            c.conn.connection.unwrap_or_default(),
            c.peer_devices
                .values()
                .map(|pd| pd.peer_disk.unwrap_or_default())
                .collect::<Vec<_>>()
        ),
    }
}

/// The node running the services sees `peer` connected with every volume UpToDate.
fn available(w: &World, on: usize, r: usize, peer: &str) -> bool {
    let Some(rv) = w.views()[on].get(RESOURCES[r]) else {
        return false;
    };
    rv.connections.values().any(|c| {
        c.conn.conn_name == peer
            && c.conn.connection == Some(ConnectionState::Connected)
            && !c.peer_devices.is_empty()
            && c.peer_devices
                .values()
                .all(|pd| pd.peer_disk == Some(DiskState::UpToDate))
    })
}
