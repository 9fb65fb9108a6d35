//! The plugin's entry point for the daemon: serve the MIB of the latest published state
//! snapshot to the SNMP master until told to stop.
//!
//! Must never: fail because the master is not there (the session waits for it).

use crate::config::AgentxConfig;
use crate::mib::MibTable;
use crate::session::{run as session, SessionConfig, TableSource, Timing};
use drbd::Resource;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The daemon's published state: every resource by name.
pub type Snapshot = Arc<BTreeMap<String, Arc<Resource>>>;

/// The DRBD kernel module and drbd-utils versions (`major.minor.patch`, `0.0.0` if unknown).
pub type Versions = (String, String);

pub struct Inputs {
    pub snapshots: watch::Receiver<Snapshot>,
    pub versions: Arc<dyn Fn() -> Versions + Send + Sync>,
    pub shutdown: watch::Receiver<bool>,
}

struct Source {
    peer_states: bool,
    snapshots: watch::Receiver<Snapshot>,
    versions: Arc<dyn Fn() -> Versions + Send + Sync>,
}

impl TableSource for Source {
    fn generation(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (Arc::as_ptr(&self.snapshots.borrow()) as usize).hash(&mut h);
        (self.versions)().hash(&mut h);
        h.finish()
    }

    fn build(&self) -> MibTable {
        let snapshot = Arc::clone(&self.snapshots.borrow());
        let (kmod, utils) = (self.versions)();
        MibTable::build(
            snapshot.values().map(|r| &**r),
            &kmod,
            &utils,
            self.peer_states,
        )
    }
}

/// Runs the subagent until `inputs.shutdown` turns true.
pub async fn run(config: AgentxConfig, inputs: Inputs) -> Result<(), String> {
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
