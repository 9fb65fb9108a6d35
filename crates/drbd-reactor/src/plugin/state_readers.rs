//! The plugins that read state snapshots instead of consuming updates: prometheus and agentx.
//! Each adapter hands its crate the snapshot watch, the daemon's counters, the DRBD versions
//! and the shutdown signal.
//!
//! Must never: consume updates (the host does not send them to state readers).

use super::{versions, PluginContext, PluginResult};
use drbd_reactor_agentx::config::AgentxConfig;
use drbd_reactor_prometheus::config::PrometheusConfig;
use drbd_reactor_prometheus::render::ReactorMetrics;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub async fn prometheus(config: PrometheusConfig, ctx: PluginContext) -> PluginResult {
    const TARGET: &str = "drbd_reactor::plugin::prometheus";
    let snapshots = ctx
        .snapshots
        .ok_or_else(|| anyhow::anyhow!("no state snapshots"))?;
    let metrics = Arc::clone(&ctx.metrics);
    let reactor = Arc::new(move || {
        let m = metrics.snapshot();
        let umh = &metrics.umh;
        ReactorMetrics {
            events_processed: m.events_processed,
            drbdsetup_restarts: m.drbdsetup_restarts,
            last_event_unix_seconds: (m.last_event_unix_ms > 0)
                .then(|| m.last_event_unix_ms as f64 / 1000.0),
            plugin_restarts: m.plugin_restarts,
            umh_runs: umh.runs.load(Ordering::Relaxed),
            umh_failures: umh.failures.load(Ordering::Relaxed),
            umh_timeouts: umh.timeouts.load(Ordering::Relaxed),
        }
    });
    let versions = versions::refreshed(TARGET, ctx.shutdown.clone());
    let inputs = drbd_reactor_prometheus::plugin::Inputs {
        snapshots,
        reactor,
        versions: Arc::new(move || versions.lock().expect("never poisoned").clone()),
        shutdown: ctx.shutdown,
    };
    drbd_reactor_prometheus::plugin::run(config, inputs)
        .await
        .map_err(anyhow::Error::msg)
}

pub async fn agentx(config: AgentxConfig, ctx: PluginContext) -> PluginResult {
    const TARGET: &str = "drbd_reactor::plugin::agentx";
    let snapshots = ctx
        .snapshots
        .ok_or_else(|| anyhow::anyhow!("no state snapshots"))?;
    let versions = versions::refreshed(TARGET, ctx.shutdown.clone());
    let inputs = drbd_reactor_agentx::plugin::Inputs {
        snapshots,
        versions: Arc::new(move || {
            let v = versions.lock().expect("never poisoned");
            let or_zero = |s: &Option<String>| s.clone().unwrap_or_else(|| "0.0.0".into());
            (or_zero(&v.kmod), or_zero(&v.utils))
        }),
        shutdown: ctx.shutdown,
    };
    drbd_reactor_agentx::plugin::run(config, inputs)
        .await
        .map_err(anyhow::Error::msg)
}
