//! The stored state of one DRBD resource (events2 spec §4.1): devices by volume, connections
//! by peer node id, each with its peer devices by volume and its paths.
//!
//! Children live in small vectors sorted by key: resources have a handful of volumes and
//! peers, so this is smaller and faster to clone (copy on write) than tree maps, and it
//! serialises as lists in key order. Must never: hold I/O or anything not derived from lines.

use crate::event::ResyncProgress;
use crate::values::Address;
use crate::vocab::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// A list of objects kept sorted by their key, with map-like access.
///
/// The list is shared between copies (`Arc`, copied on write): the daemon hands each update
/// the resource as it is after that line, so the next line on the same resource copies it,
/// and a copy then costs a reference count per list instead of a copy of every child.
/// Empty lists allocate nothing.
pub struct Keyed<T>(Option<Arc<Vec<T>>>);

/// Objects stored in a [`Keyed`] list.
pub trait HasKey {
    type Key: Ord + ?Sized;
    fn key(&self) -> &Self::Key;
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Keyed(None)
    }
}

impl<T> Clone for Keyed<T> {
    fn clone(&self) -> Self {
        Keyed(self.0.clone())
    }
}

impl<T: PartialEq> PartialEq for Keyed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for Keyed<T> {}

impl<T: fmt::Debug> fmt::Debug for Keyed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + HasKey + Clone> Deserialize<'de> for Keyed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Keyed::from_iter)
    }
}

impl<T: HasKey + Clone> Keyed<T> {
    fn position(&self, key: &T::Key) -> Result<usize, usize> {
        self.as_slice().binary_search_by(|o| o.key().cmp(key))
    }
    /// The list to change: copied first if another copy of the resource shares it.
    fn list_mut(&mut self) -> &mut Vec<T> {
        Arc::make_mut(
            self.0
                .get_or_insert_with(|| Arc::new(Vec::with_capacity(1))),
        )
    }
    pub fn get(&self, key: &T::Key) -> Option<&T> {
        self.position(key).ok().map(|i| &self.as_slice()[i])
    }
    pub fn get_mut(&mut self, key: &T::Key) -> Option<&mut T> {
        let i = self.position(key).ok()?;
        Some(&mut self.list_mut()[i])
    }
    /// Inserts or replaces the object with the same key; returns the old one.
    pub fn insert(&mut self, obj: T) -> Option<T> {
        match self.position(obj.key()) {
            Ok(i) => Some(std::mem::replace(&mut self.list_mut()[i], obj)),
            Err(i) => {
                self.insert_at(i, obj);
                None
            }
        }
    }
    /// Inserts at `i`, growing a short list by exactly one slot: most lists hold one to
    /// three objects, and the default doubling would leave most of each list unused.
    fn insert_at(&mut self, i: usize, obj: T) {
        let list = self.list_mut();
        if list.len() == list.capacity() && list.len() < 8 {
            list.reserve_exact(1);
        }
        list.insert(i, obj);
    }
    pub fn remove(&mut self, key: &T::Key) -> Option<T> {
        let i = self.position(key).ok()?;
        Some(self.list_mut().remove(i))
    }
    /// The object under `key`, inserted from `make` first if absent.
    pub fn get_or_insert_with(&mut self, key: &T::Key, make: impl FnOnce() -> T) -> &mut T {
        let i = match self.position(key) {
            Ok(i) => i,
            Err(i) => {
                self.insert_at(i, make());
                i
            }
        };
        &mut self.list_mut()[i]
    }
}

impl<T> Keyed<T> {
    pub fn as_slice(&self) -> &[T] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

impl<'a, T> IntoIterator for &'a Keyed<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: HasKey + Clone> FromIterator<T> for Keyed<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut k = Keyed::default();
        for o in iter {
            k.insert(o);
        }
        k
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Resource {
    pub name: Arc<str>,
    pub role: Role,
    pub suspended: Suspended,
    pub force_io_failures: bool,
    /// Absent until a line with statistics reports it.
    pub write_ordering: Option<WriteOrdering>,
    pub may_promote: bool,
    pub promotion_score: u32,
    pub devices: Keyed<Device>,
    pub connections: Keyed<Connection>,
}

impl Resource {
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Resource {
            name: name.into(),
            ..Resource::default()
        }
    }

    pub fn device(&self, volume: u32) -> Option<&Device> {
        self.devices.get(&volume)
    }

    pub fn connection(&self, peer_node_id: u32) -> Option<&Connection> {
        self.connections.get(&peer_node_id)
    }

    pub fn peer_device(&self, peer_node_id: u32, volume: u32) -> Option<&PeerDevice> {
        self.connection(peer_node_id)?.peer_devices.get(&volume)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Device {
    pub volume: u32,
    pub minor: u32,
    /// The backing block device; `None` for a diskless volume (`backing_dev:none`).
    pub backing_dev: Option<String>,
    pub disk_state: DiskState,
    /// Intentionally diskless ("DRBD client").
    pub client: Tristate,
    pub open: Tristate,
    pub quorum: bool,
    /// KiB
    pub size: u64,
    /// KiB
    pub read: u64,
    /// KiB
    pub written: u64,
    pub al_writes: u64,
    pub bm_writes: u64,
    pub upper_pending: u64,
    pub lower_pending: u64,
    pub al_suspended: bool,
    pub blocked: Blocked,
}

impl HasKey for Device {
    type Key = u32;
    fn key(&self) -> &u32 {
        &self.volume
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Connection {
    pub peer_node_id: u32,
    /// The peer's configured name (empty for a connection only known from a child line).
    pub conn_name: Arc<str>,
    pub connection_state: ConnectionState,
    pub peer_role: Role,
    pub congested: bool,
    /// 512-byte sectors
    pub ap_in_flight: u64,
    /// 512-byte sectors
    pub rs_in_flight: u64,
    pub peer_devices: Keyed<PeerDevice>,
    pub paths: Keyed<Path>,
    /// A placeholder made by a peer-device or path line whose own line has not come yet: it
    /// was not announced to plugins (Q17). False for every connection made by its own line.
    #[serde(skip)]
    pub placeholder: Placeholder,
}

/// Bookkeeping of the state machine, not DRBD state: equal whatever its value (two states
/// with the same DRBD objects are equal) and never serialized.
#[derive(Debug, Clone, Copy, Default)]
pub struct Placeholder(pub bool);

impl PartialEq for Placeholder {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Placeholder {}

impl HasKey for Connection {
    type Key = u32;
    fn key(&self) -> &u32 {
        &self.peer_node_id
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PeerDevice {
    pub volume: u32,
    pub replication_state: ReplicationState,
    pub peer_disk_state: DiskState,
    pub peer_client: Tristate,
    pub resync_suspended: ResyncSuspended,
    /// KiB
    pub received: u64,
    /// KiB
    pub sent: u64,
    /// KiB
    pub out_of_sync: u64,
    pub pending: u64,
    pub unacked: u64,
    /// Progress of a running resync or online verify (`done`, `eta`, ...); `None` otherwise.
    pub progress: Option<Box<ResyncProgress>>,
}

impl HasKey for PeerDevice {
    type Key = u32;
    fn key(&self) -> &u32 {
        &self.volume
    }
}

/// A network path of a connection, identified by its two endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Path {
    #[serde(flatten)]
    pub endpoints: PathEndpoints,
    pub established: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PathEndpoints {
    pub local: Address,
    pub peer: Address,
}

impl HasKey for Path {
    type Key = PathEndpoints;
    fn key(&self) -> &PathEndpoints {
        &self.endpoints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_lists_stay_sorted_and_replace_in_place() {
        let mut k: Keyed<Device> = Keyed::default();
        for v in [3, 1, 2] {
            k.insert(Device {
                volume: v,
                ..Device::default()
            });
        }
        assert_eq!(
            k.iter().map(|d| d.volume).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let old = k.insert(Device {
            volume: 2,
            minor: 9,
            ..Device::default()
        });
        assert_eq!(old.unwrap().minor, 0);
        assert_eq!(k.len(), 3);
        assert_eq!(k.get(&2).unwrap().minor, 9);
        assert!(k.remove(&7).is_none());
        assert_eq!(k.remove(&1).unwrap().volume, 1);
        assert_eq!(k.len(), 2);
    }
}
