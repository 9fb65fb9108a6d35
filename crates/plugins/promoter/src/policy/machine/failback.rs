//! Bounded fail-back (a difference from the original, docs/compat/promoter.md): with
//! `preferred-nodes-policy = "always"`, a Primary running the services hands them to a more
//! preferred peer that is connected with every volume UpToDate, whenever it sees one: on a
//! state update, when its own start completes, and on the ticker; not only when the peer
//! *becomes* UpToDate (spec §6.8, kept as it is). The HA campaign found ~7 % of schedules
//! ending on a less preferred node because the preferred one was UpToDate already when it
//! lost a race (a tie, its own failed or slow start, its daemon dead at the time).
//!
//! The hold-off bounds it: after failing back (either way) this node does not fail back
//! again on its own for [`FAILBACK_HOLDOFF`]. A preferred node whose start keeps failing
//! therefore costs one stop and one start here per hold-off, not a loop; the transition
//! rule of §6.8 (a peer that becomes UpToDate again) is not held off.
//!
//! Must never: start anything, fail back to a peer that is not more preferred than this
//! node, or fail back while a stop or a start is in flight.

use super::*;

/// How long after a fail-back this node does not fail back again on its own. Five minutes:
/// longer than the longest backoff of a preferred node's failed starts (320 s is reached
/// after it failed five times in a row, so it has tried for ten minutes by then) is not
/// needed: the preferred node's own backoff already spaces its attempts, and a hold-off of
/// that order caps the churn a broken preferred node causes at 12 stops per hour here
/// (under the campaign's 30 starts per hour), while a healthy one gets its services back
/// within five minutes and a tick of whatever race it lost.
pub const FAILBACK_HOLDOFF: Duration = Duration::from_secs(300);

impl Machine {
    /// The most preferred connected peer, more preferred than this node, whose every
    /// volume is UpToDate.
    fn preferred_uptodate_peer(&self, r: &Resource) -> Option<String> {
        let prefs = &self.cfg.preferred_nodes;
        let own = preference_position(prefs, self.node.as_deref());
        facts::uptodate_peers(r)
            .into_iter()
            .filter_map(|p| Some((prefs.iter().position(|x| *x == p)?, p)))
            .filter(|(pos, _)| (*pos as u64) < own)
            .min()
            .map(|(_, p)| p)
    }

    /// Fails back to a more preferred UpToDate peer if one is connected and the hold-off
    /// has passed; `when` says what made the machine look (for the log).
    pub(super) fn consider_failback(&mut self, now: Instant, when: &str, out: &mut Vec<Action>) {
        if self.services != Services::Running
            || self.node.is_none()
            || self.cfg.preferred_nodes.is_empty()
            || self.cfg.preferred_nodes_policy != PreferredNodesPolicy::Always
            || self.failback_held_until.is_some_and(|t| now < t)
        {
            return;
        }
        let Some(r) = self.resource.clone().filter(|r| r.role == Role::Primary) else {
            return;
        };
        let Some(peer) = self.preferred_uptodate_peer(&r) else {
            return;
        };
        let (name, node) = (self.name.clone(), self.node.clone().unwrap_or_default());
        let msg = format!(
            "run: resource '{name}' runs on '{node}' while the more preferred node '{peer}' is connected and UpToDate ({when}): stopping services locally so it takes over; no further fail-back from here for {}s",
            FAILBACK_HOLDOFF.as_secs()
        );
        self.log(out, Level::Info, msg);
        self.hold_failback(now);
        self.stop(out);
    }

    /// Starts the hold-off (also after a fail-back of the §6.8 transition rule).
    pub(super) fn hold_failback(&mut self, now: Instant) {
        self.failback_held_until = Some(now + FAILBACK_HOLDOFF);
    }
}
