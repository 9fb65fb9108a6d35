//! The `[[prometheus]]` plugin type for the daemon's host: serve the metrics of a snapshot of
//! the state, asked of the core when a scrape finds the state changed, until told to stop.
//!
//! Must never: take the daemon's state lock or queue (it only asks through the snapshot
//! cell, and waits for the answer on a blocking thread), or hold a scrape back on the core.

use crate::background::on_own_thread;
use crate::chunks::Frame;
use crate::config::PrometheusConfig;
use crate::render::{DrbdVersions, RenderContext};
use crate::server::{bind, serve, Endpoint, MetricsSource, Timeouts};
use drbd_reactor_config::PluginKind;
use drbd_reactor_plugin::contract::Finding;
use drbd_reactor_plugin::versions::first_probe;
use drbd_reactor_plugin::{
    Input, Plugin, PluginContext, PluginError, SelfMetrics, Snapshots, ANSWER_WAIT,
};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::watch;

/// The `[[prometheus]]` plugin type.
pub struct Prometheus;

impl Plugin for Prometheus {
    const KIND: PluginKind = PluginKind::Prometheus;
    const INPUT: Input = Input::State;
    // One address (one registration with the master): the new instance waits for the old.
    const SERIAL: bool = true;
    type Config = PrometheusConfig;

    fn check(config: &PrometheusConfig) -> Result<Vec<Finding>, Finding> {
        Ok(config
            .id
            .iter()
            .map(|_| Finding::at("id", "'id' is deprecated and ignored"))
            .collect())
    }

    async fn run(config: PrometheusConfig, mut ctx: PluginContext) -> Result<(), PluginError> {
        let inputs = Inputs {
            snapshots: ctx.take_snapshots()?,
            reactor: ctx.metrics,
            versions: ctx.versions.subscribe(),
            shutdown: ctx.shutdown,
        };
        run(config, inputs).await.map_err(PluginError::Failed)
    }
}

/// What the plugin reads.
pub struct Inputs {
    pub snapshots: Snapshots,
    /// The daemon's self-metrics, read at each scrape.
    pub reactor: Arc<SelfMetrics>,
    /// The DRBD versions, refreshed by the daemon.
    pub versions: watch::Receiver<DrbdVersions>,
    /// Turns true when the plugin must stop.
    pub shutdown: watch::Receiver<bool>,
}

struct Source {
    enums: bool,
    snapshots: Snapshots,
    reactor: Arc<SelfMetrics>,
    versions: watch::Receiver<DrbdVersions>,
}

impl MetricsSource for Source {
    /// Changes with the snapshot's generation, the versions and the self-metrics.
    fn generation(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.snapshots.generation().hash(&mut h);
        self.versions.borrow().hash(&mut h);
        for s in self.reactor.samples() {
            (s.name, &s.labels, s.value.to_bits()).hash(&mut h);
        }
        h.finish()
    }

    /// The references of a snapshot of the current state, asked of the core when the state
    /// changed since the last one (the core never waits for the render).
    fn frame(&self) -> Result<Frame, String> {
        let snapshot = self.snapshots.current(ANSWER_WAIT).ok_or_else(|| {
            format!(
                "the daemon's state was not available within {} s",
                ANSWER_WAIT.as_secs()
            )
        })?;
        Ok(Frame {
            resources: snapshot.resources.clone(),
            ctx: RenderContext {
                enums: self.enums,
                versions: self.versions.borrow().clone(),
                reactor: self.reactor.samples(),
            },
        })
    }
}

/// Binds the configured address and serves until `inputs.shutdown` turns true, on a thread of
/// its own at background priority (see [`crate::background`]). A bind failure is an error for
/// this plugin alone, naming the address.
pub async fn run(config: PrometheusConfig, inputs: Inputs) -> Result<(), String> {
    on_own_thread("prometheus", move || serve_config(config, inputs)).await?
}

async fn serve_config(config: PrometheusConfig, mut inputs: Inputs) -> Result<(), String> {
    // The first scrape carries the versions, not 0.0.0 (the original probes before binding).
    first_probe(&mut inputs.versions, ANSWER_WAIT).await;
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
        Endpoint::new(Arc::new(source), config.enums),
        Timeouts::default(),
        inputs.shutdown,
    )
    .await;
    Ok(())
}
