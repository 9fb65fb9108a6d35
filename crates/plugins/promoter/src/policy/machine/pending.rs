//! A pending start follows the state it waits on: its deadline is the `may_promote` edge plus
//! the delay the *current* state gives. A node whose disk became UpToDate while it waited (a
//! resync that ended) no longer loses the race, on the delay of its stale state, to a node the
//! delay table ranks lower; fail-back would never repair that (it fires only when a preferred
//! peer *becomes* UpToDate). Found by the HA campaign, seed 13.
//!
//! Must never: shorten this node's backoff after its own failed starts, or start anything
//! but through `fire_start` once the moved deadline has passed.

use super::*;

impl Machine {
    pub(super) fn reschedule(&mut self, now: Instant, out: &mut Vec<Action>) {
        let (Some(at), Some(since)) = (self.pending_start, self.pending_since) else {
            return;
        };
        let (Some(r), PolicyState::Known(policy)) = (self.resource.clone(), self.policy) else {
            return;
        };
        let delay = promotion_delay(
            &self.cfg,
            policy,
            &r,
            self.node.as_deref(),
            self.configured_diskless,
        );
        let mut new_at = since + delay;
        if let Some(nb) = self.retry_not_before {
            new_at = new_at.max(nb);
        }
        if new_at == at {
            return;
        }
        self.pending_start = Some(new_at);
        let msg = format!(
            "run: resource '{}' may promote after {}ms (the delay follows the current state)",
            self.name,
            delay.as_millis()
        );
        // A start decision moved: said at info like the delay it replaces.
        self.log(out, Level::Info, msg);
        self.fire_due_start(now, out);
    }
}
