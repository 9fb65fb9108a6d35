//! The resources of a state: found by name through a hash index (one lookup per line is the
//! hottest path of the daemon), iterated in name order through a sorted list of the names
//! that is built when first needed after the set of names changed.
//!
//! The order is lazy because it is needed rarely (snapshots, replays, dumps) while names
//! arrive in bulk: keeping a sorted set up to date cost a tenth of applying an initial dump.
//! Must never: iterate in an order other than the name order, or hash with a per-process
//! random seed.

use crate::model::Resource;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

/// A fast non-cryptographic hash for resource names (the Fx hash of rustc). Names come from
/// the node's own DRBD configuration, not from an attacker, so flooding is not a concern.
#[derive(Default, Clone, Copy)]
pub struct NameHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl NameHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("eight bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Names are shared between the index and the order (no copy per resource).
type Index = HashMap<Arc<str>, Arc<Resource>, BuildHasherDefault<NameHasher>>;

/// Resources by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resources {
    by_name: Index,
    /// The names in order; empty (unset) after the set of names changed.
    order: OnceLock<Vec<Arc<str>>>,
}

impl PartialEq for Resources {
    fn eq(&self, other: &Self) -> bool {
        self.by_name == other.by_name
    }
}

impl Resources {
    #[inline]
    pub fn get(&self, name: &str) -> Option<&Arc<Resource>> {
        self.by_name.get(name)
    }

    #[inline]
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Arc<Resource>> {
        self.by_name.get_mut(name)
    }

    /// The resource under `name`, inserted as an empty resource first if absent.
    pub fn get_or_create(&mut self, name: String) -> &mut Arc<Resource> {
        // Looked up first: the entry API would need the key as an `Arc<str>` (a copy of the
        // name) even for a known resource.
        if self.by_name.contains_key(name.as_str()) {
            return self.by_name.get_mut(name.as_str()).expect("just found");
        }
        self.order = OnceLock::new();
        // One copy of the name, shared by the index, the order and the resource.
        let key: Arc<str> = Arc::from(name);
        match self.by_name.entry(Arc::clone(&key)) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => new.insert(Arc::new(Resource::new(key))),
        }
    }

    /// Inserts (or replaces) a resource under its own name.
    pub fn insert(&mut self, resource: Arc<Resource>) {
        self.order = OnceLock::new();
        self.by_name.insert(Arc::clone(&resource.name), resource);
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<Resource>> {
        let gone = self.by_name.remove(name)?;
        self.order = OnceLock::new();
        Some(gone)
    }

    /// The names in order, sorted now if the set changed since the last call.
    fn order(&self) -> &[Arc<str>] {
        self.order.get_or_init(|| {
            let mut names: Vec<Arc<str>> = self.by_name.keys().cloned().collect();
            names.sort_unstable();
            names
        })
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Resources in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Resource>> {
        self.order().iter().map(|name| &self.by_name[name])
    }

    pub fn to_map(&self) -> BTreeMap<String, Arc<Resource>> {
        self.iter()
            .map(|r| (String::from(&*r.name), Arc::clone(r)))
            .collect()
    }

    pub fn from_map(map: BTreeMap<String, Arc<Resource>>) -> Self {
        let mut r = Resources::default();
        for resource in map.into_values() {
            r.insert(resource);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_iterate_in_name_order_whatever_the_insertion_order() {
        let mut r = Resources::default();
        for name in ["c", "a", "b"] {
            r.get_or_create(name.to_string());
        }
        r.insert(Arc::new(Resource::new("0")));
        let names: Vec<_> = r.iter().map(|x| x.name.to_string()).collect();
        assert_eq!(names, ["0", "a", "b", "c"]);
        assert!(r.remove("a").is_some());
        assert!(r.remove("a").is_none());
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().len(), 3);
        assert_eq!(Resources::from_map(r.to_map()), r);
    }

    #[test]
    fn the_name_hash_depends_on_every_byte() {
        let h = |s: &str| {
            let mut h = NameHasher::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_ne!(h("pvc-0000000a"), h("pvc-0000000b"));
        assert_ne!(h("abcdefgh1"), h("abcdefgh2"));
    }
}
