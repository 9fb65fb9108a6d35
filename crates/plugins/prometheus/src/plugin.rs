//! The plugin's entry point for the daemon: serve the metrics of the latest published state
//! snapshot until told to stop.
//!
//! Must never: take the daemon's state lock or queue (it only reads the snapshot watch), or
//! hold a scrape back on the core.

use crate::config::PrometheusConfig;
use crate::render::{render, DrbdVersions, ReactorMetrics, RenderContext};
use crate::server::{bind, serve, MetricsSource, Timeouts};
use drbd::Resource;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::watch;

/// The daemon's published state: every resource by name.
pub type Snapshot = Arc<BTreeMap<String, Arc<Resource>>>;

/// What the daemon provides.
pub struct Inputs {
    pub snapshots: watch::Receiver<Snapshot>,
    /// The daemon's own counters, read at each scrape.
    pub reactor: Arc<dyn Fn() -> ReactorMetrics + Send + Sync>,
    /// The DRBD versions, refreshed by the daemon.
    pub versions: Arc<dyn Fn() -> DrbdVersions + Send + Sync>,
    /// Turns true when the plugin must stop.
    pub shutdown: watch::Receiver<bool>,
}

struct Source {
    enums: bool,
    snapshots: watch::Receiver<Snapshot>,
    reactor: Arc<dyn Fn() -> ReactorMetrics + Send + Sync>,
    versions: Arc<dyn Fn() -> DrbdVersions + Send + Sync>,
}

impl MetricsSource for Source {
    /// Changes with the snapshot, the versions and the self-metrics.
    fn generation(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (Arc::as_ptr(&self.snapshots.borrow()) as usize).hash(&mut h);
        let v = (self.versions)();
        (v.kmod, v.utils, v.last_refresh_ok).hash(&mut h);
        let r = (self.reactor)();
        (
            r.events_processed,
            r.drbdsetup_restarts,
            r.plugin_restarts,
            r.umh_runs,
            r.umh_failures,
            r.umh_timeouts,
            r.last_event_unix_seconds.map(f64::to_bits),
        )
            .hash(&mut h);
        h.finish()
    }

    fn render(&self, out: &mut String) {
        let snapshot = Arc::clone(&self.snapshots.borrow());
        let ctx = RenderContext {
            enums: self.enums,
            versions: (self.versions)(),
            reactor: (self.reactor)(),
        };
        render(snapshot.values().map(|r| &**r), &ctx, out);
    }
}

/// Binds the configured address and serves until `inputs.shutdown` turns true. A bind failure
/// is an error for this plugin alone, naming the address.
pub async fn run(config: PrometheusConfig, inputs: Inputs) -> Result<(), String> {
    let listener = bind(&config.address.candidates())
        .await
        .map_err(|e| format!("[[prometheus]] address \"{}\": {e}", config.address))?;
    if let Ok(a) = listener.local_addr() {
        log::info!(target: "drbd_reactor::plugin::prometheus", "serving metrics on http://{a}/metrics");
    }
    let source = Source {
        enums: config.enums,
        snapshots: inputs.snapshots,
        reactor: inputs.reactor,
        versions: inputs.versions,
    };
    serve(
        listener,
        Arc::new(source),
        Timeouts::default(),
        inputs.shutdown,
    )
    .await;
    Ok(())
}
