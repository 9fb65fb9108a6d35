//! The invariants of issue 15 item 1, checked after every instant something happened:
//! one Primary with quorum, one node running the services (and only on a Primary), a
//! shutdown node without quorum stops within a bound, a freeze node without quorum freezes
//! and never stops, no start loop; and after every fault is repaired, exactly one node runs
//! each resource within the policy's bound, the most preferred one where fail-back applies.
//!
//! Must never: change the world.

use crate::world::{promoter_config, quorum, role, Event, World, NODES, RESOURCES, SLOW_MS};
use drbd::vocab::Role;
use drbd_reactor_promoter::config::{PreferredNodesPolicy, QuorumLoss};
use drbd_reactor_promoter::policy::machine::{MAX_BACKOFF, TICK};
use drbd_sim::view::NodeView;

/// A shutdown node without quorum has stopped its services by then (a slow stop queued
/// behind another slow stop, and a second of slack).
pub const QUORUM_STOP_BOUND_MS: u64 = 2 * SLOW_MS + 1_000;
/// A freeze node without quorum has frozen its services by then.
pub const FREEZE_BOUND_MS: u64 = 2 * SLOW_MS + 1_000;
/// Starts of one resource on one node within any hour of virtual time.
pub const STARTS_PER_HOUR: usize = 30;
/// After every fault is repaired, exactly one node runs each resource by then: the longest
/// backoff, a tick, the longest promotion delay (diskless 6 s + 2 preferences + 2 s freeze),
/// a slow command in flight on each side of a fail-back, and a resync.
pub fn settle_bound_ms() -> u64 {
    (MAX_BACKOFF + TICK).as_millis() as u64 + 10_000 + 2 * SLOW_MS + 30_000
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

/// After every repair and the settle bound: each resource runs on exactly one node (a
/// violation otherwise). Where fail-back is configured and the services run elsewhere than on
/// the most preferred node, that is returned as a fail-back gap: the promoter fails back only
/// when a more preferred peer *becomes* UpToDate while this node runs them (spec §6.8), so a
/// preferred node that was UpToDate already when it lost a race (a tie, a failed start) stays
/// passive. Counted and reported, not a violation.
pub fn check_settled(w: &World) -> Result<Option<String>, String> {
    let mut gap = None;
    for r in 0..3 {
        let res = RESOURCES[r];
        let running: Vec<usize> = (0..3)
            .filter(|n| w.services[*n][r].running && !w.services[*n][r].frozen)
            .collect();
        if running.len() != 1 {
            let names: Vec<&str> = running.iter().map(|n| NODES[*n]).collect();
            return Err(format!(
                "{res}: after repair, services run on {names:?} (exactly one expected)"
            ));
        }
        let cfg = promoter_config(r);
        if cfg.preferred_nodes_policy == PreferredNodesPolicy::Always {
            if let Some(best) = cfg.preferred_nodes.first() {
                if NODES[running[0]] != best {
                    gap = Some(format!(
                        "{res}: after repair, services run on {} not on the preferred {best}",
                        NODES[running[0]]
                    ));
                }
            }
        }
    }
    Ok(gap)
}
