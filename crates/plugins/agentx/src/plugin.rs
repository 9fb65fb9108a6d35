//! The `[[agentx]]` plugin type for the daemon's host: serve the MIB of a snapshot of the
//! state, asked of the core when a request finds the state changed, to the SNMP master until
//! told to stop.
//!
//! Must never: fail because the master is not there (the session waits for it), or decide that
//! the state is unchanged by comparing addresses (a freed snapshot's address can be reused):
//! the snapshot's generation says it.

use crate::config::AgentxConfig;
use crate::mib::MibTable;
use crate::session::{run as session, SessionConfig, TableSource, Timing};
use drbd_reactor_config::PluginKind;
use drbd_reactor_plugin::versions::first_probe;
use drbd_reactor_plugin::{
    DrbdVersions, Input, Plugin, PluginContext, PluginError, Snapshots, ANSWER_WAIT,
};
use std::hash::{Hash, Hasher};
use std::time::Duration;
use tokio::sync::watch;

/// The `[[agentx]]` plugin type.
pub struct Agentx;

impl Plugin for Agentx {
    const KIND: PluginKind = PluginKind::Agentx;
    const INPUT: Input = Input::State;
    // One address (one registration with the master): the new instance waits for the old.
    const SERIAL: bool = true;
    type Config = AgentxConfig;

    async fn run(config: AgentxConfig, mut ctx: PluginContext) -> Result<(), PluginError> {
        let inputs = Inputs {
            snapshots: ctx.take_snapshots()?,
            versions: ctx.versions.subscribe(),
            shutdown: ctx.shutdown,
        };
        run(config, inputs).await.map_err(PluginError::Failed)
    }
}

pub struct Inputs {
    pub snapshots: Snapshots,
    pub versions: watch::Receiver<DrbdVersions>,
    pub shutdown: watch::Receiver<bool>,
}

/// The table's source: the snapshot cell and the versions.
pub struct Source {
    pub peer_states: bool,
    pub snapshots: Snapshots,
    pub versions: watch::Receiver<DrbdVersions>,
}

impl TableSource for Source {
    fn generation(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.snapshots.generation().hash(&mut h);
        self.versions.borrow().hash(&mut h);
        h.finish()
    }

    fn build(&self) -> Option<MibTable> {
        // Blocks for the core's answer (milliseconds): the session calls this on the blocking
        // pool, so no runtime worker that other plugins run on waits.
        let snapshot = self.snapshots.current(ANSWER_WAIT);
        let Some(snapshot) = snapshot else {
            log::warn!(
                target: crate::session::TARGET,
                "the daemon's state was not available within {} s: serving the previous table",
                ANSWER_WAIT.as_secs()
            );
            return None;
        };
        let v = self.versions.borrow().clone();
        let or_zero = |s: Option<String>| s.unwrap_or_else(|| "0.0.0".into());
        Some(MibTable::build(
            snapshot.iter(),
            &or_zero(v.kmod),
            &or_zero(v.utils),
            self.peer_states,
        ))
    }
}

/// Runs the subagent until `inputs.shutdown` turns true.
pub async fn run(config: AgentxConfig, mut inputs: Inputs) -> Result<(), String> {
    // The first walk carries the versions, not 0.0.0 (the original probes before it opens).
    first_probe(&mut inputs.versions, ANSWER_WAIT).await;
    let session_config = SessionConfig {
        address: config.address,
        agent_timeout: config.agent_timeout,
        cache_max: Duration::from_secs(config.cache_max),
        timing: Timing::default(),
    };
    let source = Source {
        peer_states: config.peer_states,
        snapshots: inputs.snapshots,
        versions: inputs.versions,
    };
    session(session_config, source, inputs.shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot whose map is freed and a new one allocated at the same address must still
    /// count as a change. With pointer identity it did not (the stale MIB was served).
    #[test]
    fn a_new_snapshot_at_a_reused_address_is_still_a_change() {
        let (core, rx) = drbd_reactor_plugin::snapshot_channel();
        let (_vtx, versions) = watch::channel(DrbdVersions::default());
        let source = Source {
            peer_states: true,
            snapshots: rx,
            versions,
        };
        let mut seen = Vec::new();
        let mut addresses = Vec::new();
        for generation in 1..=50 {
            // Each map is dropped before the next is made: the allocator hands out the same
            // address again, as it does in the daemon.
            let map = drbd::ResourceList::from_ordered(std::iter::empty());
            addresses.push(map.as_slice().as_ptr() as usize);
            drop(core.changed());
            core.publish(map);
            assert_eq!(core.generation(), generation);
            seen.push(source.generation());
        }
        addresses.sort();
        addresses.dedup();
        assert!(
            addresses.len() < 50,
            "the test needs a reused address to mean anything"
        );
        let mut distinct = seen.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), seen.len(), "a change went unseen");
    }
}
