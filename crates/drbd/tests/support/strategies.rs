//! Proptest strategies for typed events2 lines: any line (for round trips) and histories of
//! object lines over a few identities (so lines hit the same objects).

use drbd::event::*;
use drbd::values::{Address, AddressFamily, Eta, Hundredths};
use drbd::vocab::*;
use drbd::{parse_line, PluginUpdate, State};
use proptest::collection::vec;
use proptest::option::{of, weighted};
use proptest::prelude::*;
use proptest::sample::select;

// ---- strategies for typed lines ----

pub fn value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._/-]{1,12}"
}

pub fn state_of<T: Copy + std::fmt::Debug + 'static>(
    all: &'static [T],
) -> impl Strategy<Value = T> {
    select(all)
}

pub fn suspended() -> impl Strategy<Value = Suspended> {
    any::<[bool; 4]>().prop_map(|b| Suspended {
        user: b[0],
        no_data: b[1],
        fencing: b[2],
        quorum: b[3],
        other: false,
    })
}

pub fn resync_suspended() -> impl Strategy<Value = ResyncSuspended> {
    any::<[bool; 4]>().prop_map(|b| ResyncSuspended {
        user: b[0],
        peer: b[1],
        dependency: b[2],
        max_parallel: b[3],
        other: false,
    })
}

pub fn blocked() -> impl Strategy<Value = Blocked> {
    any::<[bool; 2]>().prop_map(|b| Blocked {
        upper: b[0],
        lower: b[1],
        other: false,
    })
}

pub fn address() -> impl Strategy<Value = Address> {
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
pub fn unknown_keys() -> impl Strategy<Value = UnknownKeys> {
    vec(("x-[a-z]{1,6}", "[a-z0-9]{0,6}"), 0..2)
}

pub fn progress() -> BoxedStrategy<Option<Box<ResyncProgress>>> {
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
pub struct Ids {
    resources: &'static [&'static str],
    peers: u32,
    volumes: u32,
}

pub const SMALL: Ids = Ids {
    resources: &["r0", "r1", "r2"],
    peers: 3,
    volumes: 2,
};

pub fn resource_line(ids: Ids) -> BoxedStrategy<ResourceLine> {
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

pub fn device_line(ids: Ids) -> BoxedStrategy<DeviceLine> {
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

pub fn conn_name() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "peer-[a-c]"]
}

pub fn connection_line(ids: Ids) -> BoxedStrategy<ConnectionLine> {
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

pub fn peer_device_line(ids: Ids) -> BoxedStrategy<PeerDeviceLine> {
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

pub fn path_line(ids: Ids, addresses: BoxedStrategy<Address>) -> BoxedStrategy<PathLine> {
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

pub fn object_line(ids: Ids, addresses: BoxedStrategy<Address>) -> BoxedStrategy<ObjectLine> {
    prop_oneof![
        resource_line(ids).prop_map(ObjectLine::Resource),
        device_line(ids).prop_map(ObjectLine::Device),
        connection_line(ids).prop_map(ObjectLine::Connection),
        peer_device_line(ids).prop_map(ObjectLine::PeerDevice),
        path_line(ids, addresses).prop_map(ObjectLine::Path),
    ]
    .boxed()
}

pub fn helper_line() -> BoxedStrategy<HelperLine> {
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

pub const ROUND_TRIP: Ids = Ids {
    resources: &["r", "some-resource", "pvc-1:2", "a.b_c"],
    peers: 32,
    volumes: 65535,
};

pub fn any_line() -> BoxedStrategy<Line> {
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
    let known = (timestamp, event, newer_kernel_tokens())
        .prop_map(|(timestamp, event, tokens)| newer_kernel(Line::new(timestamp, event), tokens));
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
        .prop_map(|(verb, kind)| Line::new(None, Event::Unknown { verb, kind }));
    prop_oneof![9 => known, 1 => unknown].boxed()
}

/// Spellings a newer kernel might print for a state and a flag list (or none).
fn newer_kernel_tokens() -> impl Strategy<Value = (Option<String>, Option<String>)> {
    (
        weighted(0.2, "[A-Z][A-Za-z]{1,10}"),
        weighted(0.2, "((user|peer),)?[a-z][a-z-]{0,8}(,dependency)?"),
    )
}

/// Puts the tokens into `line` as a newer kernel would print them: the state token into the
/// first state key of an object line, the flag token into its flag list, parsed leniently,
/// with the pairs the parser records for tokens it does not know, in key order.
fn newer_kernel(mut line: Line, (state, flags): (Option<String>, Option<String>)) -> Line {
    fn put<T: Lenient>(
        field: &mut Option<T>,
        key: &str,
        token: Option<String>,
        u: &mut UnknownValues,
    ) {
        if let Some(token) = token {
            let (value, known) = T::lenient(&token);
            *field = Some(value);
            if !known {
                u.push((key.to_string(), token));
            }
        }
    }
    let u = &mut line.unknown_values;
    if let Event::Object { object, .. } = &mut line.event {
        match object {
            ObjectLine::Resource(l) => {
                put(&mut l.role, "role", state, u);
                put(&mut l.suspended, "suspended", flags, u);
            }
            ObjectLine::Device(l) => {
                put(&mut l.disk, "disk", state, u);
                put(&mut l.blocked, "blocked", flags, u);
            }
            ObjectLine::Connection(l) => put(&mut l.connection, "connection", state, u),
            ObjectLine::PeerDevice(l) => {
                put(&mut l.replication, "replication", state, u);
                put(&mut l.resync_suspended, "resync-suspended", flags, u);
            }
            ObjectLine::Path(_) => {}
        }
    }
    line
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
pub fn history() -> BoxedStrategy<Vec<(EventType, ObjectLine)>> {
    let verb = prop_oneof![
        2 => Just(EventType::Exists),
        2 => Just(EventType::Create),
        5 => Just(EventType::Change),
        1 => Just(EventType::Destroy),
    ];
    vec((verb, object_line(SMALL, pool_address())), 0..60).boxed()
}

pub fn apply_printed(
    s: &mut State,
    lines: &[(EventType, ObjectLine)],
    out: &mut Vec<PluginUpdate>,
) {
    for (event_type, object) in lines {
        let line = Line::new(
            None,
            Event::Object {
                event_type: *event_type,
                object: object.clone(),
            },
        );
        let parsed = parse_line(&line.to_string()).expect("printed lines parse");
        s.apply(parsed.event, out);
    }
}
