//! How change plugins receive updates: the updates of one core batch are shared by every
//! plugin (one queue entry per batch, so a burst costs one wake-up per plugin, not one per
//! update), first the replay of the current state, then live batches.
//!
//! Must never: copy an update per plugin, or let a plugin hold the core (the queue is bounded
//! and the host cuts off a plugin that falls behind).

use drbd::PluginUpdate;
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
    live: mpsc::Receiver<UpdateBatch>,
}

impl Updates {
    pub fn new(replay: Vec<PluginUpdate>, live: mpsc::Receiver<UpdateBatch>) -> Self {
        Updates {
            batch: Some((replay.into(), 0)),
            live,
        }
    }

    /// A stream that never yields (for plugins that read state instead); ends when `live`'s
    /// sender is dropped.
    pub fn none(live: mpsc::Receiver<UpdateBatch>) -> Self {
        Updates { batch: None, live }
    }

    /// Drops the replay: the run sees live updates only. Call before the first `next`.
    pub fn skip_replay(&mut self) {
        self.batch = None;
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

    #[tokio::test]
    async fn the_replay_comes_first_then_live_batches_in_order_then_the_end() {
        let (tx, rx) = mpsc::channel(4);
        let replay = batch(&["exists resource name:a role:Secondary"]);
        let live = batch(&["create resource name:b role:Secondary"]);
        let mut u = Updates::new(replay.clone(), rx);
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
    async fn skipping_the_replay_leaves_only_live_updates() {
        let (tx, rx) = mpsc::channel(4);
        let mut u = Updates::new(batch(&["exists resource name:a role:Secondary"]), rx);
        u.skip_replay();
        drop(tx);
        assert!(u.next().await.is_none());
    }
}
