//! Property tests: any line prints and parses back to itself; random object histories,
//! printed, parsed and applied, equal a simple independent model; reconciling any state
//! with the dump of a target state gives the target state, and the updates it emits turn
//! the old view of matchable fields into the new one.

use drbd::event::*;
use drbd::update::*;
use drbd::values::{Address, AddressFamily, Eta, Hundredths};
use drbd::vocab::*;
use drbd::{parse_line, Connection, Device, Path, PeerDevice, PluginUpdate, Resource, State};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeMap;

// ---- strategies for typed lines ----

fn value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._/-]{1,12}"
}

fn state_of<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    select(all)
}

fn suspended() -> impl Strategy<Value = Suspended> {
    any::<[bool; 4]>().prop_map(|b| Suspended {
        user: b[0],
        no_data: b[1],
        fencing: b[2],
        quorum: b[3],
    })
}

fn resync_suspended() -> impl Strategy<Value = ResyncSuspended> {
    any::<[bool; 4]>().prop_map(|b| ResyncSuspended {
        user: b[0],
        peer: b[1],
        dependency: b[2],
        max_parallel: b[3],
    })
}

fn blocked() -> impl Strategy<Value = Blocked> {
    any::<[bool; 2]>().prop_map(|b| Blocked {
        upper: b[0],
        lower: b[1],
    })
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        (
            "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            any::<u16>()
        )
            .prop_map(|(host, port)| Address {
                family: AddressFamily::Ipv4,
                host,
                port
            }),
        ("\\[[0-9a-f:]{2,16}(%eth[0-9])?\\]", any::<u16>()).prop_map(|(host, port)| Address {
            family: AddressFamily::Ipv6,
            host,
            port
        }),
    ]
}

/// Keys a kind does not know, kept aside by the parser.
fn unknown_keys() -> impl Strategy<Value = UnknownKeys> {
    vec(("x-[a-z]{1,6}", "[a-z0-9]{0,6}"), 0..2)
}

fn progress() -> BoxedStrategy<Option<Box<ResyncProgress>>> {
    let h = || of(any::<u64>().prop_map(Hundredths));
    let n = || of(any::<u64>());
    (
        (h(), n(), n(), n(), n(), n(), n(), n()),
        (n(), n(), n(), n(), n(), n(), n()),
        (h(), h(), h(), h()),
        of(prop_oneof![
            any::<u64>().prop_map(Eta::Seconds),
            Just(Eta::Unknown)
        ]),
    )
        .prop_map(|(a, b, c, eta)| {
            let p = ResyncProgress {
                done: a.0,
                rs_total: a.1,
                rs_dt_start_ms: a.2,
                rs_paused_ms: a.3,
                rs_dt0_ms: a.4,
                rs_db0_sectors: a.5,
                rs_dt1_ms: a.6,
                rs_db1_sectors: a.7,
                ov_start_sector: b.0,
                ov_stop_sector: b.1,
                ov_position: b.2,
                ov_left: b.3,
                ov_skipped: b.4,
                rs_failed: b.5,
                rs_same_csum: b.6,
                want: c.0,
                dbdt: c.1,
                dbdt0: c.2,
                dbdt1: c.3,
                eta,
            };
            (!p.is_empty()).then(|| Box::new(p))
        })
        .boxed()
}

/// Identities drawn from small pools in histories, so lines hit the same objects.
#[derive(Clone, Copy)]
struct Ids {
    resources: &'static [&'static str],
    peers: u32,
    volumes: u32,
}

const SMALL: Ids = Ids {
    resources: &["r0", "r1", "r2"],
    peers: 3,
    volumes: 2,
};

fn resource_line(ids: Ids) -> BoxedStrategy<ResourceLine> {
    (
        select(ids.resources),
        of(state_of(Role::ALL)),
        of(suspended()),
        of(any::<bool>()),
        of(state_of(WriteOrdering::ALL)),
        of(any::<bool>()),
        of(any::<u32>()),
        unknown_keys(),
    )
        .prop_map(|(name, role, su, fio, wo, mp, ps, unknown)| ResourceLine {
            name: name.to_string(),
            role,
            suspended: su,
            force_io_failures: fio,
            write_ordering: wo,
            may_promote: mp,
            promotion_score: ps,
            unknown,
        })
        .boxed()
}

fn device_line(ids: Ids) -> BoxedStrategy<DeviceLine> {
    (
        (select(ids.resources), 0..ids.volumes, of(any::<u32>())),
        of(prop_oneof![
            Just(BackingDev::None),
            "/dev/[a-z0-9/]{1,10}".prop_map(BackingDev::Path)
        ]),
        (
            of(state_of(DiskState::ALL)),
            of(state_of(Tristate::ALL)),
            of(state_of(Tristate::ALL)),
            of(any::<bool>()),
        ),
        (
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
        ),
        (of(any::<bool>()), of(blocked()), unknown_keys()),
    )
        .prop_map(
            |(id, backing_dev, info, st, (als, bl, unknown))| DeviceLine {
                name: id.0.to_string(),
                volume: id.1,
                minor: id.2,
                backing_dev,
                disk: info.0,
                client: info.1,
                open: info.2,
                quorum: info.3,
                size: st.0,
                read: st.1,
                written: st.2,
                al_writes: st.3,
                bm_writes: st.4,
                upper_pending: st.5,
                lower_pending: st.6,
                al_suspended: als,
                blocked: bl,
                unknown,
            },
        )
        .boxed()
}

fn conn_name() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "peer-[a-c]"]
}

fn connection_line(ids: Ids) -> BoxedStrategy<ConnectionLine> {
    (
        (select(ids.resources), 1..=ids.peers, conn_name()),
        of(state_of(ConnectionState::ALL)),
        of(state_of(Role::ALL)),
        of(any::<bool>()),
        of(any::<u64>()),
        of(any::<u64>()),
        unknown_keys(),
    )
        .prop_map(|(id, cs, role, cg, ap, rs, unknown)| ConnectionLine {
            name: id.0.to_string(),
            peer_node_id: id.1,
            conn_name: id.2,
            connection: cs,
            role,
            congested: cg,
            ap_in_flight: ap,
            rs_in_flight: rs,
            unknown,
        })
        .boxed()
}

fn peer_device_line(ids: Ids) -> BoxedStrategy<PeerDeviceLine> {
    (
        (
            select(ids.resources),
            1..=ids.peers,
            conn_name(),
            0..ids.volumes,
        ),
        (
            of(state_of(ReplicationState::ALL)),
            of(state_of(DiskState::ALL)),
            of(state_of(Tristate::ALL)),
            of(resync_suspended()),
        ),
        (
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
            of(any::<u64>()),
        ),
        progress(),
        unknown_keys(),
    )
        .prop_map(|(id, st, c, progress, unknown)| PeerDeviceLine {
            name: id.0.to_string(),
            peer_node_id: id.1,
            conn_name: id.2,
            volume: id.3,
            replication: st.0,
            peer_disk: st.1,
            peer_client: st.2,
            resync_suspended: st.3,
            received: c.0,
            sent: c.1,
            out_of_sync: c.2,
            pending: c.3,
            unacked: c.4,
            progress,
            unknown,
        })
        .boxed()
}

fn path_line(ids: Ids, addresses: BoxedStrategy<Address>) -> BoxedStrategy<PathLine> {
    (
        (select(ids.resources), 1..=ids.peers, conn_name()),
        addresses.clone(),
        addresses,
        of(any::<bool>()),
        unknown_keys(),
    )
        .prop_map(|(id, local, peer, established, unknown)| PathLine {
            name: id.0.to_string(),
            peer_node_id: id.1,
            conn_name: id.2,
            local,
            peer,
            established,
            unknown,
        })
        .boxed()
}

fn object_line(ids: Ids, addresses: BoxedStrategy<Address>) -> BoxedStrategy<ObjectLine> {
    prop_oneof![
        resource_line(ids).prop_map(ObjectLine::Resource),
        device_line(ids).prop_map(ObjectLine::Device),
        connection_line(ids).prop_map(ObjectLine::Connection),
        peer_device_line(ids).prop_map(ObjectLine::PeerDevice),
        path_line(ids, addresses).prop_map(ObjectLine::Path),
    ]
    .boxed()
}

fn helper_line() -> BoxedStrategy<HelperLine> {
    (
        (
            prop_oneof![Just(HelperPhase::Call), Just(HelperPhase::Response)],
            value(),
        ),
        (
            of(any::<u32>()),
            of(conn_name()),
            of(address()),
            of(address()),
        ),
        (
            of(any::<u32>()),
            of(any::<u32>()),
            "[a-z-]{1,20}",
            of(any::<u32>()),
        ),
        unknown_keys(),
    )
        .prop_map(|(a, b, c, unknown)| HelperLine {
            phase: a.0,
            name: a.1,
            peer_node_id: b.0,
            conn_name: b.1,
            local: b.2,
            peer: b.3,
            volume: c.0,
            minor: c.1,
            helper: c.2,
            status: c.3,
            unknown,
        })
        .boxed()
}

const ROUND_TRIP: Ids = Ids {
    resources: &["r", "some-resource", "pvc-1:2", "a.b_c"],
    peers: 32,
    volumes: 65535,
};

fn any_line() -> BoxedStrategy<Line> {
    let event = prop_oneof![
        6 => (select(EventType::ALL), object_line(ROUND_TRIP, address().boxed()))
            .prop_map(|(event_type, object)| Event::Object { event_type, object }),
        1 => Just(Event::EndOfDump),
        1 => (value(), value(), unknown_keys()).prop_map(|(resource, new_name, unknown)| {
            Event::Rename { resource, new_name, unknown }
        }),
        1 => helper_line().prop_map(Event::Helper),
        1 => any::<u64>().prop_map(Event::Skipped),
    ];
    let timestamp = of("20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:.]{8,15}[+-][0-9]{2}:[0-9]{2}");
    let known = (timestamp, event).prop_map(|(timestamp, event)| Line { timestamp, event });
    // Unknown verbs cannot carry a timestamp: the timestamp would read as the verb.
    let unknown = (
        "x[a-z]{0,8}",
        "[a-z][a-z-]{0,7}".prop_filter("a kind, not a verb", |k| {
            ![
                "exists", "create", "change", "destroy", "call", "response", "rename",
            ]
            .contains(&k.as_str())
        }),
    )
        .prop_map(|(verb, kind)| Line {
            timestamp: None,
            event: Event::Unknown { verb, kind },
        });
    prop_oneof![9 => known, 1 => unknown].boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_line_prints_and_parses_back_to_itself(line in any_line()) {
        let printed = line.to_string();
        prop_assert_eq!(parse_line(&printed), Ok(line), "{}", printed);
    }
}

// ---- a simple independent model of the state ----

#[derive(Default, Clone)]
struct MConnection {
    fields: Connection,
    peer_devices: BTreeMap<u32, PeerDevice>,
    paths: BTreeMap<(Address, Address), Path>,
}

#[derive(Default, Clone)]
struct MResource {
    fields: Resource,
    devices: BTreeMap<u32, Device>,
    connections: BTreeMap<u32, MConnection>,
}

fn set<T>(field: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *field = v;
    }
}

/// How the spec says a line changes the state (§4.3 with merging, Q5 and Q17 decisions).
fn model_apply(m: &mut BTreeMap<String, MResource>, event_type: EventType, object: &ObjectLine) {
    let name = object.resource_name().to_string();
    if event_type == EventType::Destroy {
        let Some(r) = m.get_mut(&name) else { return };
        match object {
            ObjectLine::Resource(_) => {
                m.remove(&name);
            }
            ObjectLine::Device(l) => {
                r.devices.remove(&l.volume);
            }
            ObjectLine::Connection(l) => {
                r.connections.remove(&l.peer_node_id);
            }
            ObjectLine::PeerDevice(l) => {
                if let Some(c) = r.connections.get_mut(&l.peer_node_id) {
                    c.peer_devices.remove(&l.volume);
                }
            }
            ObjectLine::Path(l) => {
                if let Some(c) = r.connections.get_mut(&l.peer_node_id) {
                    c.paths.remove(&(l.local.clone(), l.peer.clone()));
                }
            }
        }
        return;
    }
    let r = m.entry(name.clone()).or_insert_with(|| MResource {
        fields: Resource::new(name),
        ..MResource::default()
    });
    let placeholder = |peer_node_id: u32, conn_name: &str| MConnection {
        fields: Connection {
            peer_node_id,
            conn_name: conn_name.to_string(),
            ..Connection::default()
        },
        ..MConnection::default()
    };
    match object {
        ObjectLine::Resource(l) => {
            let f = &mut r.fields;
            set(&mut f.role, l.role);
            set(&mut f.suspended, l.suspended);
            set(&mut f.force_io_failures, l.force_io_failures);
            if l.write_ordering.is_some() {
                f.write_ordering = l.write_ordering;
            }
            set(&mut f.may_promote, l.may_promote);
            set(&mut f.promotion_score, l.promotion_score);
        }
        ObjectLine::Device(l) => {
            let d = r.devices.entry(l.volume).or_insert_with(|| Device {
                volume: l.volume,
                ..Device::default()
            });
            set(&mut d.minor, l.minor);
            match &l.backing_dev {
                Some(BackingDev::None) => d.backing_dev = None,
                Some(BackingDev::Path(p)) => d.backing_dev = Some(p.clone()),
                None => {}
            }
            set(&mut d.disk_state, l.disk);
            set(&mut d.client, l.client);
            set(&mut d.open, l.open);
            set(&mut d.quorum, l.quorum);
            set(&mut d.size, l.size);
            set(&mut d.read, l.read);
            set(&mut d.written, l.written);
            set(&mut d.al_writes, l.al_writes);
            set(&mut d.bm_writes, l.bm_writes);
            set(&mut d.upper_pending, l.upper_pending);
            set(&mut d.lower_pending, l.lower_pending);
            set(&mut d.al_suspended, l.al_suspended);
            set(&mut d.blocked, l.blocked);
        }
        ObjectLine::Connection(l) => {
            let c = r
                .connections
                .entry(l.peer_node_id)
                .or_insert_with(|| placeholder(l.peer_node_id, ""));
            let f = &mut c.fields;
            f.conn_name = l.conn_name.clone();
            set(&mut f.connection_state, l.connection);
            set(&mut f.peer_role, l.role);
            set(&mut f.congested, l.congested);
            set(&mut f.ap_in_flight, l.ap_in_flight);
            set(&mut f.rs_in_flight, l.rs_in_flight);
        }
        ObjectLine::PeerDevice(l) => {
            let c = r
                .connections
                .entry(l.peer_node_id)
                .or_insert_with(|| placeholder(l.peer_node_id, &l.conn_name));
            let p = c
                .peer_devices
                .entry(l.volume)
                .or_insert_with(|| PeerDevice {
                    volume: l.volume,
                    ..PeerDevice::default()
                });
            set(&mut p.replication_state, l.replication);
            set(&mut p.peer_disk_state, l.peer_disk);
            set(&mut p.peer_client, l.peer_client);
            set(&mut p.resync_suspended, l.resync_suspended);
            set(&mut p.received, l.received);
            set(&mut p.sent, l.sent);
            set(&mut p.out_of_sync, l.out_of_sync);
            set(&mut p.pending, l.pending);
            set(&mut p.unacked, l.unacked);
            if l.has_statistics() {
                p.progress = l.progress.clone();
            }
        }
        ObjectLine::Path(l) => {
            let c = r
                .connections
                .entry(l.peer_node_id)
                .or_insert_with(|| placeholder(l.peer_node_id, &l.conn_name));
            let key = (l.local.clone(), l.peer.clone());
            let p = c.paths.entry(key).or_insert_with(|| Path {
                endpoints: drbd::model::PathEndpoints {
                    local: l.local.clone(),
                    peer: l.peer.clone(),
                },
                established: false,
            });
            set(&mut p.established, l.established);
        }
    }
}

fn model_resources(m: &BTreeMap<String, MResource>) -> Vec<Resource> {
    m.values()
        .map(|r| {
            let mut res = r.fields.clone();
            res.devices = r.devices.values().cloned().collect();
            res.connections = r
                .connections
                .values()
                .map(|c| {
                    let mut conn = c.fields.clone();
                    conn.peer_devices = c.peer_devices.values().cloned().collect();
                    conn.paths = c.paths.values().cloned().collect();
                    conn
                })
                .collect();
            res
        })
        .collect()
}

fn state_resources(s: &State) -> Vec<Resource> {
    s.resources().map(|r| (**r).clone()).collect()
}

/// Few addresses, so path lines hit the same paths.
fn pool_address() -> BoxedStrategy<Address> {
    (select(&["10.0.0.1", "10.0.0.2"][..]), 7000u16..7002)
        .prop_map(|(h, port)| Address {
            family: AddressFamily::Ipv4,
            host: h.to_string(),
            port,
        })
        .boxed()
}

/// A random history of object lines; destroys are rarer so objects live a while.
fn history() -> BoxedStrategy<Vec<(EventType, ObjectLine)>> {
    let verb = prop_oneof![
        2 => Just(EventType::Exists),
        2 => Just(EventType::Create),
        5 => Just(EventType::Change),
        1 => Just(EventType::Destroy),
    ];
    vec((verb, object_line(SMALL, pool_address())), 0..60).boxed()
}

fn apply_printed(s: &mut State, lines: &[(EventType, ObjectLine)], out: &mut Vec<PluginUpdate>) {
    for (event_type, object) in lines {
        let line = Line {
            timestamp: None,
            event: Event::Object {
                event_type: *event_type,
                object: object.clone(),
            },
        };
        let parsed = parse_line(&line.to_string()).expect("printed lines parse");
        s.apply(parsed.event, out);
    }
}

/// What change plugins know about each object: its matchable fields by identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Resource(String),
    Device(String, u32),
    Connection(String, u32),
    PeerDevice(String, u32, u32),
}

#[derive(Debug, Clone, PartialEq)]
enum Fields {
    Resource(ResourceFields),
    Device(DeviceFields),
    Connection(ConnectionFields),
    PeerDevice(PeerDeviceFields),
}

type View = BTreeMap<Key, Fields>;

fn view(s: &State) -> View {
    let mut v = View::new();
    for r in s.resources() {
        let n = r.name.clone();
        v.insert(Key::Resource(n.clone()), Fields::Resource((&**r).into()));
        for d in &r.devices {
            v.insert(Key::Device(n.clone(), d.volume), Fields::Device(d.into()));
        }
        for c in &r.connections {
            v.insert(
                Key::Connection(n.clone(), c.peer_node_id),
                Fields::Connection(c.into()),
            );
            for p in &c.peer_devices {
                v.insert(
                    Key::PeerDevice(n.clone(), c.peer_node_id, p.volume),
                    Fields::PeerDevice(p.into()),
                );
            }
        }
    }
    v
}

/// Applies updates to a view: checks each `old` against the view, then stores `new` (or
/// removes the object and, for resources and connections, its children on Destroy).
fn apply_updates(v: &mut View, updates: &[PluginUpdate]) -> Result<(), String> {
    for u in updates {
        let PluginUpdate::Object(o) = u else {
            return Err(format!("unexpected {u:?}"));
        };
        let n = o.resource_name().to_string();
        let (key, old, new) = match &o.change {
            Change::Resource(d) => (
                Key::Resource(n.clone()),
                Fields::Resource(d.old),
                Fields::Resource(d.new),
            ),
            Change::Device { volume, diff } => (
                Key::Device(n.clone(), *volume),
                Fields::Device(diff.old),
                Fields::Device(diff.new),
            ),
            Change::Connection { peer_node_id, diff } => (
                Key::Connection(n.clone(), *peer_node_id),
                Fields::Connection(diff.old.clone()),
                Fields::Connection(diff.new.clone()),
            ),
            Change::PeerDevice {
                volume,
                peer_node_id,
                diff,
            } => (
                Key::PeerDevice(n.clone(), *peer_node_id, *volume),
                Fields::PeerDevice(diff.old),
                Fields::PeerDevice(diff.new),
            ),
        };
        match o.event_type {
            EventType::Destroy => {
                if v.get(&key) != Some(&old) {
                    return Err(format!(
                        "destroy of {key:?}: old {old:?} is not {:?}",
                        v.get(&key)
                    ));
                }
                v.remove(&key);
                v.retain(|k, _| match (&key, k) {
                    (Key::Resource(r), k) => !matches!(k,
                        Key::Device(x, _) | Key::Connection(x, _) | Key::PeerDevice(x, _, _) if x == r),
                    (Key::Connection(r, c), Key::PeerDevice(x, y, _)) => !(x == r && y == c),
                    _ => true,
                });
            }
            EventType::Change => {
                if v.get(&key) != Some(&old) {
                    return Err(format!(
                        "change of {key:?}: old {old:?} is not {:?}",
                        v.get(&key)
                    ));
                }
                v.insert(key, new);
            }
            EventType::Create | EventType::Exists => {
                if v.contains_key(&key) {
                    return Err(format!("create of known {key:?}"));
                }
                v.insert(key, new);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_histories_printed_parsed_and_applied_equal_the_model(h in history()) {
        let mut state = State::new();
        let mut model = BTreeMap::new();
        let mut out = Vec::new();
        for (event_type, object) in &h {
            apply_printed(&mut state, &[(*event_type, object.clone())], &mut out);
            model_apply(&mut model, *event_type, object);
            // Every update carries the resource as it is now (or was, for a resource destroy).
            for u in out.drain(..) {
                if let PluginUpdate::Object(o) = u {
                    if let Some(r) = state.resource(o.resource_name()) {
                        prop_assert_eq!(&*o.resource, &**r);
                    } else {
                        prop_assert_eq!(o.event_type, EventType::Destroy);
                    }
                }
            }
        }
        prop_assert_eq!(state_resources(&state), model_resources(&model));
    }

    #[test]
    fn reconciling_any_history_with_a_new_dump_equals_replaying_the_dump(
        before in history(),
        target in history(),
    ) {
        let mut old = State::new();
        let mut ignored = Vec::new();
        apply_printed(&mut old, &before, &mut ignored);
        let mut target_state = State::new();
        apply_printed(&mut target_state, &target, &mut ignored);

        // The new drbdsetup's dump, printed and parsed.
        let mut fresh = State::new();
        for line in target_state.dump() {
            fresh.apply(parse_line(&line.to_string()).unwrap().event, &mut ignored);
        }
        prop_assert_eq!(&fresh, &target_state);

        let old_view = view(&old);
        let mut updates = Vec::new();
        old.reconcile(fresh, &mut updates);
        prop_assert_eq!(&old, &target_state);
        let mut v = old_view;
        let applied = apply_updates(&mut v, &updates);
        prop_assert!(applied.is_ok(), "{:?}", applied);
        prop_assert_eq!(v, view(&target_state));
    }

    #[test]
    fn reconciling_a_state_with_its_own_dump_emits_nothing(h in history()) {
        let mut s = State::new();
        let mut out = Vec::new();
        apply_printed(&mut s, &h, &mut out);
        let mut fresh = State::new();
        for line in s.dump() {
            fresh.apply(line.event, &mut out);
        }
        let mut updates = Vec::new();
        let before = s.clone();
        s.reconcile(fresh, &mut updates);
        prop_assert!(updates.is_empty(), "{:?}", updates);
        prop_assert_eq!(s, before);
    }
}
