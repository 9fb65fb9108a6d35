//! The umh plugin in the host: its rules see live updates only. The replay a run starts with
//! (after a reload or a restart) describes states that did not change, so no rule fires for it
//! (the original's replay made "became Primary" rules fire again).
//!
//! Must never: run commands for replayed state.

use super::{PluginContext, PluginResult, Update, Updates};
use drbd_reactor_umh::rules::UmhConfig;
use std::sync::Arc;

struct Live(Updates);

impl drbd_reactor_umh::plugin::UpdateSource for Live {
    type Update = Update;
    async fn next(&mut self) -> Option<Update> {
        self.0.next().await
    }
}

pub async fn run(config: UmhConfig, mut ctx: PluginContext) -> PluginResult {
    ctx.updates.skip_replay();
    let counters = Arc::clone(&ctx.metrics.umh);
    drbd_reactor_umh::plugin::run(config, Live(ctx.updates), counters)
        .await
        .map_err(anyhow::Error::msg)
}
