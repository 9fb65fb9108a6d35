//! The plugin's entry point for the daemon: match every update against the rules and run
//! the commands of the rules that fire.
//!
//! Must never: kill commands that are running when the plugin stops (a reload must not cut a
//! script short; each is still bounded by its own timeout).

use crate::matcher::invocations;
use crate::rules::UmhConfig;
use crate::runner::{RunCounters, Runner};
use drbd::PluginUpdate;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

/// Where updates come from; `None` means the plugin must stop. An update is anything that
/// reads as a [`PluginUpdate`] (the daemon hands out places in shared batches, tests `Arc`s).
pub trait UpdateSource: Send {
    type Update: Deref<Target = PluginUpdate> + Send;
    fn next(&mut self) -> impl Future<Output = Option<Self::Update>> + Send;
}

pub async fn run(
    config: UmhConfig,
    mut updates: impl UpdateSource,
    counters: Arc<RunCounters>,
) -> Result<(), String> {
    let mut runner = Runner::with_counters(config.max_concurrent, counters);
    while let Some(update) = updates.next().await {
        for invocation in invocations(&config, &update) {
            log::info!(target: "drbd_reactor::plugin::umh", "match for rule '{}'", invocation.rule_name);
            runner.submit(invocation);
        }
    }
    tokio::spawn(async move { runner.drain().await });
    Ok(())
}
