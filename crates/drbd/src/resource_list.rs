//! The resources of a state at one moment, in name order, for readers (metrics, SNMP,
//! status): one shared list of the resources' `Arc`s.
//!
//! Why a list and not a map by name: a snapshot is made by the core between two batches of
//! lines whenever a reader asks; a map copied every name into a new string (10k allocations,
//! 1-2 ms of the core's time for 10k resources, freed later on the reader's thread). Lookups by
//! name are rare and a binary search over the name order serves them.
//!
//! Must never: hold resources in another order than the state's name order (lookups would
//! miss), or be changed after it was made.

use crate::model::Resource;
use std::sync::Arc;

/// Resources in name order, shared.
#[derive(Debug, Clone, Default)]
pub struct ResourceList(Arc<[Arc<Resource>]>);

impl ResourceList {
    /// `resources` must come in name order (a state's iteration order).
    pub fn from_ordered(resources: impl Iterator<Item = Arc<Resource>>) -> Self {
        let list: Vec<Arc<Resource>> = resources.collect();
        debug_assert!(list.windows(2).all(|w| w[0].name < w[1].name));
        ResourceList(list.into())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Arc<Resource>> {
        self.0.iter()
    }

    pub fn as_slice(&self) -> &[Arc<Resource>] {
        &self.0
    }

    /// The resource named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Resource>> {
        let i = self.0.binary_search_by(|r| (*r.name).cmp(name)).ok()?;
        Some(&self.0[i])
    }

    /// Whether both are the very same list (not only equal).
    pub fn ptr_eq(a: &ResourceList, b: &ResourceList) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl std::ops::Index<&str> for ResourceList {
    type Output = Arc<Resource>;
    fn index(&self, name: &str) -> &Arc<Resource> {
        self.get(name)
            .unwrap_or_else(|| panic!("no resource {name:?} in the list"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_by_name_find_every_resource_of_the_ordered_list_and_nothing_else() {
        let names = ["a", "b0", "b1", "c", "zz"];
        let list = ResourceList::from_ordered(names.iter().map(|n| Arc::new(Resource::new(*n))));
        assert_eq!(list.len(), 5);
        for n in names {
            assert_eq!(&*list[n].name, n);
        }
        for missing in ["", "b", "b2", "zzz"] {
            assert!(list.get(missing).is_none(), "{missing}");
        }
        assert!(ResourceList::ptr_eq(&list, &list.clone()));
        assert!(!ResourceList::ptr_eq(&list, &ResourceList::default()));
    }
}
