//! The state of every DRBD resource and how each line changes it (events2 spec §4, §5.3).
//!
//! Each resource sits behind an `Arc`: applying a line replaces that one resource's `Arc`
//! (copy on write) and leaves the others shared with snapshots and updates. Lines are merged
//! into what is known, so short change lines (without `--full`) lose nothing.
//! Must never: do I/O, or emit an update for a change of a field plugins do not match on.

use crate::event::*;
use crate::model::*;
use crate::resource_list::ResourceList;
use crate::resources::Resources;
use crate::update::*;
use crate::values::Address;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Counts of what the state saw that did not change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Lines applied (all kinds).
    pub lines: u64,
    /// Keys on object lines that this version does not know.
    pub unknown_keys: u64,
    /// Lines with a verb or kind this version does not know.
    pub unknown_lines: u64,
    /// Kernel notifications lost (`- skipped N`).
    pub skipped_notifications: u64,
}

/// All resources, keyed (and iterated) by name.
#[derive(Debug, Clone, Default)]
pub struct State {
    resources: Resources,
    counters: Counters,
}

impl PartialEq for State {
    /// Two states are equal when they hold the same resources (counters aside).
    fn eq(&self, other: &Self) -> bool {
        self.resources == other.resources
    }
}

impl State {
    pub fn new() -> Self {
        State::default()
    }

    pub fn resource(&self, name: &str) -> Option<&Arc<Resource>> {
        self.resources.get(name)
    }

    /// Resources in name order.
    pub fn resources(&self) -> impl ExactSizeIterator<Item = &Arc<Resource>> {
        self.resources.iter()
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// A cheap immutable copy for readers (metrics, status): clones only the `Arc`s.
    pub fn snapshot(&self) -> ResourceList {
        ResourceList::from_ordered(self.resources.iter().cloned())
    }

    pub(crate) fn take_resources(&mut self) -> BTreeMap<String, Arc<Resource>> {
        std::mem::take(&mut self.resources).to_map()
    }

    pub(crate) fn set_resources(&mut self, resources: BTreeMap<String, Arc<Resource>>) {
        self.resources = Resources::from_map(resources);
    }

    /// Applies one event; pushes the updates it causes (usually none or one) to `out`.
    pub fn apply(&mut self, mut event: Event, out: &mut Vec<PluginUpdate>) {
        self.apply_in_place(&mut event, out);
    }

    /// Like [`State::apply`], for a caller that keeps the line: the strings the state keeps
    /// are taken out of it, the rest stays and is dropped by the caller. The daemon applies
    /// lines this way and hands them back to the thread that parsed (and allocated) them, so
    /// they are freed where they were allocated.
    pub fn apply_in_place(&mut self, event: &mut Event, out: &mut Vec<PluginUpdate>) {
        self.counters.lines += 1;
        match event {
            Event::Object { event_type, object } => {
                self.counters.unknown_keys += object.unknown_keys().len() as u64;
                self.apply_object(*event_type, object, out)
            }
            Event::Helper(h) => out.push(PluginUpdate::Helper(HelperUpdate {
                resource: self.resources.get(&h.name).cloned(),
                phase: h.phase,
                resource_name: std::mem::take(&mut h.name),
                helper: std::mem::take(&mut h.helper),
                volume: h.volume,
                minor: h.minor,
                peer_node_id: h.peer_node_id,
                conn_name: h.conn_name.take(),
                status: h.status,
            })),
            Event::Rename {
                resource, new_name, ..
            } => self.rename(resource, std::mem::take(new_name), out),
            Event::Skipped(n) => {
                self.counters.skipped_notifications =
                    self.counters.skipped_notifications.saturating_add(*n)
            }
            Event::Unknown { .. } => self.counters.unknown_lines += 1,
            Event::EndOfDump => {}
        }
    }

    fn apply_object(
        &mut self,
        event_type: EventType,
        object: &mut ObjectLine,
        out: &mut Vec<PluginUpdate>,
    ) {
        let destroy = event_type == EventType::Destroy;
        if let Some(slot) = self.resources.get_mut(object.resource_name()) {
            if destroy {
                if let ObjectLine::Resource(_) = *object {
                    let resource = Arc::clone(slot);
                    self.resources.remove(&resource.name);
                    out.push(object_update(
                        event_type,
                        Change::Resource(Diff {
                            old: ResourceFields::from(&*resource),
                            new: ResourceFields::default(),
                        }),
                        resource,
                    ));
                    return;
                }
            }
            apply_to(slot, event_type, object, out);
        } else if !destroy {
            // Any line but a destroy makes the resource known (a destroy for a resource we never
            // saw changes nothing: quirk Q5 fixed).
            // The line's name becomes the resource's (apply_to does not need it any more).
            let name = std::mem::take(object_name(object));
            let slot = self.resources.get_or_create(name);
            apply_to(slot, event_type, object, out);
        }
    }

    fn rename(&mut self, old: &str, new_name: String, out: &mut Vec<PluginUpdate>) {
        let Some(resource) = self.resources.remove(old) else {
            return;
        };
        out.push(object_update(
            EventType::Destroy,
            Change::Resource(Diff {
                old: ResourceFields::from(&*resource),
                new: ResourceFields::default(),
            }),
            Arc::clone(&resource),
        ));
        let mut renamed = Arc::unwrap_or_clone(resource);
        renamed.name = Arc::from(new_name);
        // The kernel refuses a rename onto a name in use; a stale resource of that name (a
        // lost destroy) is gone now, and said so, not overwritten silently.
        if let Some(stale) = self.resources.remove(&renamed.name) {
            out.push(object_update(
                EventType::Destroy,
                Change::Resource(Diff {
                    old: ResourceFields::from(&*stale),
                    new: ResourceFields::default(),
                }),
                stale,
            ));
        }
        let renamed = Arc::new(renamed);
        self.resources.insert(Arc::clone(&renamed));
        crate::replay::announce(&renamed, EventType::Create, out);
    }
}

/// The resource name a line carries.
fn object_name(object: &mut ObjectLine) -> &mut String {
    match object {
        ObjectLine::Resource(l) => &mut l.name,
        ObjectLine::Device(l) => &mut l.name,
        ObjectLine::Connection(l) => &mut l.name,
        ObjectLine::PeerDevice(l) => &mut l.name,
        ObjectLine::Path(l) => &mut l.name,
    }
}

/// Applies an object line to a stored resource (copy on write) and pushes its update.
fn apply_to(
    slot: &mut Arc<Resource>,
    event_type: EventType,
    object: &mut ObjectLine,
    out: &mut Vec<PluginUpdate>,
) {
    let destroy = event_type == EventType::Destroy;
    let resource = Arc::make_mut(slot);
    let change = match object {
        ObjectLine::Resource(l) => apply_resource(resource, l),
        ObjectLine::Device(l) => apply_device(resource, l, destroy),
        ObjectLine::Connection(l) => apply_connection(resource, l, destroy),
        ObjectLine::PeerDevice(l) => apply_peer_device(resource, l, destroy),
        ObjectLine::Path(l) => {
            apply_path(resource, l, destroy);
            None
        }
    };
    if let Some(change) = change {
        out.push(object_update(event_type, change, Arc::clone(slot)));
    }
}

pub(crate) fn object_update(
    event_type: EventType,
    change: Change,
    resource: Arc<Resource>,
) -> PluginUpdate {
    PluginUpdate::Object(ObjectUpdate {
        event_type,
        change,
        resource,
    })
}

/// Sets `field` when the line carries a value for it.
macro_rules! merge {
    ($($field:expr => $value:expr),+ $(,)?) => {
        $(if let Some(v) = $value { $field = v; })+
    };
}

fn apply_resource(r: &mut Resource, l: &ResourceLine) -> Option<Change> {
    let old = ResourceFields::from(&*r);
    merge!(
        r.role => l.role,
        r.suspended => l.suspended,
        r.force_io_failures => l.force_io_failures,
        r.may_promote => l.may_promote,
        r.promotion_score => l.promotion_score,
    );
    if l.write_ordering.is_some() {
        r.write_ordering = l.write_ordering;
    }
    let new = ResourceFields::from(&*r);
    // A new resource starts from the defaults, so it is announced as soon as it differs from
    // them (spec §5.3), which a real resource always does.
    (old != new).then_some(Change::Resource(Diff { old, new }))
}

fn apply_device(r: &mut Resource, l: &mut DeviceLine, destroy: bool) -> Option<Change> {
    if destroy {
        let gone = r.devices.remove(&l.volume)?;
        return Some(Change::Device {
            volume: l.volume,
            diff: Diff {
                old: DeviceFields::from(&gone),
                new: DeviceFields::default(),
            },
        });
    }
    let mut known = true;
    let d = r.devices.get_or_insert_with(&l.volume, || {
        known = false;
        Device {
            volume: l.volume,
            ..Device::default()
        }
    });
    let old = DeviceFields::from(&*d);
    if let Some(b) = l.backing_dev.take() {
        d.backing_dev = match b {
            BackingDev::None => None,
            BackingDev::Path(p) => Some(p),
        };
    }
    merge!(
        d.minor => l.minor,
        d.disk_state => l.disk,
        d.client => l.client,
        d.open => l.open,
        d.quorum => l.quorum,
        d.size => l.size,
        d.read => l.read,
        d.written => l.written,
        d.al_writes => l.al_writes,
        d.bm_writes => l.bm_writes,
        d.upper_pending => l.upper_pending,
        d.lower_pending => l.lower_pending,
        d.al_suspended => l.al_suspended,
        // drbdsetup prints `blocked` only when it changed, even with --full (quirk Q3 fixed).
        d.blocked => l.blocked,
    );
    let new = DeviceFields::from(&*d);
    (!known || old != new).then_some(Change::Device {
        volume: l.volume,
        diff: Diff {
            old: if known { old } else { DeviceFields::default() },
            new,
        },
    })
}

fn apply_connection(r: &mut Resource, l: &mut ConnectionLine, destroy: bool) -> Option<Change> {
    if destroy {
        let gone = r.connections.remove(&l.peer_node_id)?;
        return Some(Change::Connection {
            peer_node_id: l.peer_node_id,
            diff: Diff {
                old: ConnectionFields::from(&gone),
                new: ConnectionFields {
                    conn_name: Arc::from(l.conn_name.as_str()),
                    ..ConnectionFields::default()
                },
            },
        });
    }
    let mut known = true;
    let c = r.connections.get_or_insert_with(&l.peer_node_id, || {
        known = false;
        Connection {
            peer_node_id: l.peer_node_id,
            ..Connection::default()
        }
    });
    // A placeholder (Q17) was never announced: its first own line always is, with the
    // placeholder's values as `old`, even when it changes none of them.
    let placeholder = std::mem::take(&mut c.placeholder.0);
    // Compare without cloning the name: most connection lines are statistics refreshes.
    let before = (c.connection_state, c.peer_role, c.congested);
    let renamed = *c.conn_name != *l.conn_name;
    let old_name = if renamed {
        std::mem::replace(&mut c.conn_name, Arc::from(l.conn_name.as_str()))
    } else {
        Arc::clone(&c.conn_name)
    };
    merge!(
        c.connection_state => l.connection,
        c.peer_role => l.role,
        c.congested => l.congested,
        c.ap_in_flight => l.ap_in_flight,
        c.rs_in_flight => l.rs_in_flight,
    );
    if known && !placeholder && !renamed && before == (c.connection_state, c.peer_role, c.congested)
    {
        return None;
    }
    let old = if known {
        ConnectionFields {
            conn_name: old_name,
            connection_state: before.0,
            peer_role: before.1,
            congested: before.2,
        }
    } else {
        ConnectionFields::default()
    };
    Some(Change::Connection {
        peer_node_id: l.peer_node_id,
        diff: Diff {
            old,
            new: ConnectionFields::from(&*c),
        },
    })
}

/// The connection a peer-device or path line belongs to; created as a placeholder (with the
/// line's conn-name) if its own line has not been seen yet.
fn connection_for<'a>(
    r: &'a mut Resource,
    peer_node_id: u32,
    conn_name: &str,
) -> &'a mut Connection {
    r.connections
        .get_or_insert_with(&peer_node_id, || Connection {
            peer_node_id,
            conn_name: Arc::from(conn_name),
            placeholder: crate::model::Placeholder(true),
            ..Connection::default()
        })
}

fn apply_peer_device(r: &mut Resource, l: &mut PeerDeviceLine, destroy: bool) -> Option<Change> {
    if destroy {
        let c = r.connections.get_mut(&l.peer_node_id)?;
        let gone = c.peer_devices.remove(&l.volume)?;
        return Some(Change::PeerDevice {
            volume: l.volume,
            peer_node_id: l.peer_node_id,
            diff: Diff {
                old: PeerDeviceFields::from(&gone),
                new: PeerDeviceFields::default(),
            },
        });
    }
    let has_statistics = l.has_statistics();
    // Without --full the statistics group is not printed once `done` is gone: a replication
    // state outside resync and verify says the progress ended.
    let progress_ended = l
        .replication
        .is_some_and(|s| !(s.is_resync() || s.is_verify()));
    let c = connection_for(r, l.peer_node_id, &l.conn_name);
    let mut known = true;
    let p = c.peer_devices.get_or_insert_with(&l.volume, || {
        known = false;
        PeerDevice {
            volume: l.volume,
            ..PeerDevice::default()
        }
    });
    let old = PeerDeviceFields::from(&*p);
    merge!(
        p.replication_state => l.replication,
        p.peer_disk_state => l.peer_disk,
        p.peer_client => l.peer_client,
        p.resync_suspended => l.resync_suspended,
        p.received => l.received,
        p.sent => l.sent,
        p.out_of_sync => l.out_of_sync,
        p.pending => l.pending,
        p.unacked => l.unacked,
    );
    // The statistics group is printed as a whole: without progress keys, no resync runs.
    if has_statistics {
        p.progress = l.progress.take();
    } else if progress_ended {
        p.progress = None;
    }
    let new = PeerDeviceFields::from(&*p);
    (!known || old != new).then_some(Change::PeerDevice {
        volume: l.volume,
        peer_node_id: l.peer_node_id,
        diff: Diff {
            old: if known {
                old
            } else {
                PeerDeviceFields::default()
            },
            new,
        },
    })
}

fn apply_path(r: &mut Resource, l: &mut PathLine, destroy: bool) {
    let endpoints = PathEndpoints {
        local: take_address(&mut l.local),
        peer: take_address(&mut l.peer),
    };
    if destroy {
        if let Some(c) = r.connections.get_mut(&l.peer_node_id) {
            c.paths.remove(&endpoints);
        }
        return;
    }
    let c = connection_for(r, l.peer_node_id, &l.conn_name);
    match c.paths.get_mut(&endpoints) {
        Some(p) => {
            if let Some(e) = l.established {
                p.established = e;
            }
        }
        // A new path takes the line's endpoints (no copy of the addresses).
        None => {
            c.paths.insert(Path {
                endpoints,
                established: l.established.unwrap_or(false),
            });
        }
    }
}

/// Moves an address out of a line, leaving an empty one (no allocation).
fn take_address(a: &mut Address) -> Address {
    std::mem::replace(
        a,
        Address {
            family: a.family,
            host: String::new(),
            port: a.port,
        },
    )
}
