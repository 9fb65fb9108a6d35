//! How change plugins receive updates: the updates of one core batch are shared by every
//! plugin (one queue entry per batch, so a burst costs one wake-up per plugin, not one per
//! update), first the replay of the current state, then live batches.
//!
//! Must never: copy an update per plugin, or let a plugin hold the core (the queue is bounded
//! and the host cuts off a plugin that falls behind).

use drbd::{EventType, PluginUpdate, Resource};
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The updates of one core batch.
pub type UpdateBatch = Arc<[PluginUpdate]>;

/// One update of a batch: reads as the [`PluginUpdate`] and keeps its batch alive.
#[derive(Clone)]
pub struct Update {
    batch: UpdateBatch,
    index: usize,
}

impl Deref for Update {
    type Target = PluginUpdate;
    fn deref(&self) -> &PluginUpdate {
        &self.batch[self.index]
    }
}

/// Where a plugin's updates come from; `None` means the plugin must stop. An update is anything
/// that reads as a [`PluginUpdate`] (the daemon hands out places in shared batches, tests
/// `Arc`s or plain values).
pub trait UpdateSource: Send {
    type Update: Deref<Target = PluginUpdate> + Send;
    fn next(&mut self) -> impl Future<Output = Option<Self::Update>> + Send;
}

/// The updates of one plugin run: first the replay of the current state (all `Exists`), then
/// the live updates. `None` = the host stopped this run.
pub struct Updates {
    /// The batch being handed out and the index of its next update.
    batch: Option<(UpdateBatch, usize)>,
    /// The resources still to be announced as `Exists` (in reverse: the next one is last).
    replay: Vec<Arc<Resource>>,
    live: mpsc::Receiver<UpdateBatch>,
}

impl Updates {
    /// Replays `resources` (the state when the run starts, in name order) as `Exists`
    /// updates, one resource at a time, then hands out the live batches.
    pub fn new(mut resources: Vec<Arc<Resource>>, live: mpsc::Receiver<UpdateBatch>) -> Self {
        resources.reverse();
        Updates {
            batch: None,
            replay: resources,
            live,
        }
    }

    /// A stream that never yields (for plugins that read state instead); ends when `live`'s
    /// sender is dropped.
    pub fn none(live: mpsc::Receiver<UpdateBatch>) -> Self {
        Updates {
            batch: None,
            replay: Vec::new(),
            live,
        }
    }

    /// Drops the replay: the run sees live updates only. Call before the first `next`.
    pub fn skip_replay(&mut self) {
        self.replay = Vec::new();
    }

    pub async fn next(&mut self) -> Option<Update> {
        loop {
            if let Some((batch, i)) = &mut self.batch {
                if *i < batch.len() {
                    *i += 1;
                    return Some(Update {
                        batch: Arc::clone(batch),
                        index: *i - 1,
                    });
                }
            }
            if let Some(resource) = self.replay.pop() {
                let mut announced = Vec::new();
                drbd::replay::announce(&resource, EventType::Exists, &mut announced);
                self.batch = Some((announced.into(), 0));
                continue;
            }
            self.batch = Some((self.live.recv().await?, 0));
        }
    }
}

impl UpdateSource for Updates {
    type Update = Update;
    fn next(&mut self) -> impl Future<Output = Option<Update>> + Send {
        Updates::next(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(lines: &[&str]) -> Vec<PluginUpdate> {
        let mut state = drbd::State::new();
        let mut out = Vec::new();
        for l in lines {
            state.apply(drbd::parse_line(l).unwrap().event, &mut out);
        }
        out
    }

    fn state(lines: &[&str]) -> drbd::State {
        let mut state = drbd::State::new();
        for l in lines {
            state.apply(drbd::parse_line(l).unwrap().event, &mut Vec::new());
        }
        state
    }

    #[tokio::test]
    async fn the_replay_comes_first_then_live_batches_in_order_then_the_end() {
        let (tx, rx) = mpsc::channel(4);
        let known = state(&[
            "exists resource name:a role:Secondary",
            "exists device name:a volume:0 minor:1 disk:UpToDate client:no quorum:yes",
            "exists connection name:a peer-node-id:1 conn-name:b connection:Connected role:Secondary",
            "exists peer-device name:a peer-node-id:1 conn-name:b volume:0 replication:Established peer-disk:UpToDate",
            "exists resource name:c role:Primary",
        ]);
        let mut replay = Vec::new();
        known.replay(&mut replay);
        assert_eq!(
            replay.len(),
            5,
            "every object of both resources is announced"
        );
        let live = batch(&["create resource name:b role:Secondary"]);
        let mut u = Updates::new(known.resources().cloned().collect(), rx);
        tx.send(live.clone().into()).await.unwrap();
        drop(tx);
        let mut seen = Vec::new();
        while let Some(x) = u.next().await {
            seen.push((*x).clone());
        }
        let expected: Vec<_> = replay.into_iter().chain(live).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn the_replay_holds_the_updates_of_one_resource_at_a_time() {
        let (_tx, rx) = mpsc::channel(4);
        let mut lines = Vec::new();
        for r in 0..100 {
            lines.push(format!("exists resource name:r{r:03} role:Secondary"));
            lines.push(format!(
                "exists device name:r{r:03} volume:0 minor:{r} disk:UpToDate"
            ));
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let known = state(&lines);
        let mut u = Updates::new(known.resources().cloned().collect(), rx);
        let first = u.next().await.unwrap();
        assert_eq!(first.resource_name(), "r000");
        let (batch, _) = u.batch.as_ref().unwrap();
        assert_eq!(
            batch.len(),
            2,
            "only r000's resource and device are materialised"
        );
        assert_eq!(u.replay.len(), 99);
    }

    #[tokio::test]
    async fn skipping_the_replay_leaves_only_live_updates() {
        let (tx, rx) = mpsc::channel(4);
        let known = state(&["exists resource name:a role:Secondary"]);
        let mut u = Updates::new(known.resources().cloned().collect(), rx);
        u.skip_replay();
        drop(tx);
        assert!(u.next().await.is_none());
    }
}
