//! The state that state readers (prometheus, agentx, status) see: every resource, shared and
//! immutable, with a generation number that grows with every published change.
//!
//! Must never: be compared by address (a freed snapshot's address can be reused, and a change
//! would go unseen): compare generations.

use drbd::Resource;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// 0 for the empty start state; every published change gets the next number.
    pub generation: u64,
    pub resources: Arc<BTreeMap<String, Arc<Resource>>>,
}

impl Snapshot {
    pub fn new(generation: u64, resources: Arc<BTreeMap<String, Arc<Resource>>>) -> Self {
        Snapshot {
            generation,
            resources,
        }
    }

    /// Resources in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.resources.values().map(|r| &**r)
    }
}
