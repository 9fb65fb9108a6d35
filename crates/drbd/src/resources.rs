//! The resources of a state: found by name through a hash index (one lookup per line is the
//! hottest path of the daemon), iterated in name order through a sorted list of positions that
//! is built when first needed after the set of names changed.
//!
//! The resources themselves sit in one dense list (the index maps a name to a position in it):
//! a snapshot walks the name order and clones each resource's `Arc`, and from a position that
//! is one cache miss per resource (its reference count); through the index it was three (the
//! name's bytes to hash, the bucket, the count), 1.0-1.2 ms of the core's time per snapshot
//! of 10k resources in the daemon.
//!
//! The order is lazy because it is needed rarely (snapshots, replays, dumps) while names
//! arrive in bulk: keeping a sorted set up to date cost a tenth of applying an initial dump.
//! Must never: iterate in an order other than the name order, or hash with a per-process
//! random seed; leave a name pointing at another resource's position.

use crate::model::Resource;
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

/// A resource's position in the dense list, by name (the name shared with the resource).
type Index = HashMap<Arc<str>, u32, BuildHasherDefault<NameHasher>>;

/// Resources by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resources {
    by_name: Index,
    /// Every resource once, in no particular order (a removal moves the last into the gap).
    list: Vec<Arc<Resource>>,
    /// Positions in `list` in name order; empty (unset) after the set of names changed.
    order: OnceLock<Vec<u32>>,
}

impl PartialEq for Resources {
    /// The same names with equal resources.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .list
                .iter()
                .all(|r| other.get(&r.name).is_some_and(|o| o == r))
    }
}

impl Resources {
    #[inline]
    pub fn get(&self, name: &str) -> Option<&Arc<Resource>> {
        let &at = self.by_name.get(name)?;
        Some(&self.list[at as usize])
    }

    #[inline]
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Arc<Resource>> {
        let &at = self.by_name.get(name)?;
        Some(&mut self.list[at as usize])
    }

    /// The resource under `name`, inserted as an empty resource first if absent.
    pub fn get_or_create(&mut self, name: String) -> &mut Arc<Resource> {
        let at = match self.by_name.get(name.as_str()) {
            Some(&at) => at,
            // One copy of the name, shared by the index and the resource.
            None => self.push(Arc::new(Resource::new(name))),
        };
        &mut self.list[at as usize]
    }

    /// Inserts (or replaces) a resource under its own name.
    pub fn insert(&mut self, resource: Arc<Resource>) {
        match self.by_name.get(&*resource.name) {
            Some(&at) => self.list[at as usize] = resource,
            None => {
                self.push(resource);
            }
        }
    }

    /// Appends a resource whose name is not known yet; returns its position.
    fn push(&mut self, resource: Arc<Resource>) -> u32 {
        let at = u32::try_from(self.list.len()).expect("fewer than 2^32 resources");
        self.by_name.insert(Arc::clone(&resource.name), at);
        self.list.push(resource);
        self.order = OnceLock::new();
        at
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<Resource>> {
        let at = self.by_name.remove(name)? as usize;
        let gone = self.list.swap_remove(at);
        if let Some(moved) = self.list.get(at) {
            *self.by_name.get_mut(&*moved.name).expect("an indexed name") = at as u32;
        }
        self.order = OnceLock::new();
        Some(gone)
    }

    /// Positions in name order, sorted now if the set changed since the last call.
    fn order(&self) -> &[u32] {
        self.order.get_or_init(|| {
            let mut at: Vec<u32> = (0..self.list.len() as u32).collect();
            at.sort_unstable_by(|&a, &b| {
                self.list[a as usize].name.cmp(&self.list[b as usize].name)
            });
            at
        })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Resources in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Resource>> {
        self.order().iter().map(|&at| &self.list[at as usize])
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
    fn every_name_finds_its_own_resource_after_any_mix_of_inserts_and_removals() {
        // Against a sorted map as the model; removals move the last resource into the gap.
        let mut r = Resources::default();
        let mut model: BTreeMap<String, Arc<Resource>> = BTreeMap::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..5_000 {
            let name = format!("r{}", next() % 64);
            match next() % 4 {
                0 => {
                    assert_eq!(r.remove(&name), model.remove(&name), "step {step}");
                }
                1 => {
                    let res = Arc::new(Resource::new(name.as_str()));
                    r.insert(Arc::clone(&res));
                    model.insert(name, res);
                }
                _ => {
                    let got = Arc::clone(r.get_or_create(name.clone()));
                    let want = model
                        .entry(name.clone())
                        .or_insert_with(|| Arc::clone(&got));
                    assert!(Arc::ptr_eq(&got, want), "step {step}: {name}");
                }
            }
            if step % 50 == 0 {
                for (name, want) in &model {
                    assert!(Arc::ptr_eq(r.get(name).expect(name), want), "step {step}");
                }
                assert_eq!(r.len(), model.len());
                let order: Vec<&str> = r.iter().map(|x| &*x.name).collect();
                let want: Vec<&str> = model.keys().map(String::as_str).collect();
                assert_eq!(order, want, "step {step}: name order");
            }
        }
        assert!(r.get("r64").is_none());
        assert!(!model.is_empty(), "the mix kept some resources");
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
