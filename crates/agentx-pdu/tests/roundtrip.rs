//! AgentX PDUs against RFC 2741's wire layout: known encodings byte for byte, and property
//! tests that whatever a master (or an attacker) sends decodes or fails, never panics.

use agentx_pdu::*;
use proptest::prelude::*;

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

#[test]
fn register_pdu_encodes_to_the_rfc_layout_with_prefix_compression() {
    let pdu = Pdu {
        ids: Ids {
            session_id: 7,
            transaction_id: 0,
            packet_id: 2,
        },
        payload: Payload::Register {
            context: None,
            timeout: 0,
            priority: 127,
            subtree: oid("1.3.6.1.4.1.23302"),
        },
    };
    let bytes = pdu.encode();
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        1, 3, 0x10, 0,            // version, Register, NETWORK_BYTE_ORDER, reserved
        0, 0, 0, 7,               // session id
        0, 0, 0, 0,               // transaction id
        0, 0, 0, 2,               // packet id
        0, 0, 0, 16,              // payload length
        0, 127, 0, 0,             // timeout, priority, range_subid, reserved
        2, 4, 0, 0,               // n_subid 2, prefix 4 (1.3.6.1.4), include 0
        0, 0, 0, 1,
        0, 0, 0x5b, 0x06,         // 23302
    ];
    assert_eq!(bytes, expected);
    assert_eq!(Pdu::decode(&bytes).unwrap(), pdu);
}

#[test]
fn little_endian_pdus_from_a_master_decode() {
    // A GetNext from a little-endian master: no NETWORK_BYTE_ORDER flag.
    #[rustfmt::skip]
    let bytes: Vec<u8> = vec![
        1, 6, 0, 0,
        9, 0, 0, 0,  1, 0, 0, 0,  3, 0, 0, 0,
        16, 0, 0, 0,
        2, 4, 1, 0,  1, 0, 0, 0,  6, 0x5b, 0, 0,   // start 1.3.6.1.4.1.23302, include
        0, 0, 0, 0,                                // end: null OID
    ];
    let pdu = Pdu::decode(&bytes).unwrap();
    assert_eq!(pdu.ids.session_id, 9);
    assert_eq!(
        pdu.payload,
        Payload::GetNext {
            context: None,
            ranges: vec![SearchRange {
                start: oid("1.3.6.1.4.1.23302"),
                include: true,
                end: Oid::default(),
            }],
        }
    );
}

#[test]
fn frame_len_needs_the_whole_header() {
    let bytes = Pdu {
        ids: Ids::default(),
        payload: Payload::Ping { context: None },
    }
    .encode();
    assert_eq!(frame_len(&bytes[..19]), None);
    assert_eq!(frame_len(&bytes), Some(20));
}

#[test]
fn truncated_and_oversized_oids_are_errors_not_panics() {
    let mut bytes = Pdu {
        ids: Ids::default(),
        payload: Payload::Get {
            context: None,
            ranges: vec![SearchRange {
                start: oid("1.3.6.1.4.1.23302.1"),
                include: false,
                end: Oid::default(),
            }],
        },
    }
    .encode();
    assert!(Pdu::decode(&bytes[..bytes.len() - 1]).is_err());
    bytes[20] = 200; // n_subid beyond 128
    assert!(Pdu::decode(&bytes).is_err());
}

fn arb_oid() -> impl Strategy<Value = Oid> {
    prop::collection::vec(any::<u32>(), 0..20).prop_map(Oid)
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::OctetString),
        Just(Value::Null),
        arb_oid().prop_map(Value::ObjectIdentifier),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        any::<u64>().prop_map(Value::Counter64),
        Just(Value::NoSuchObject),
        Just(Value::NoSuchInstance),
        Just(Value::EndOfMibView),
    ]
}

fn arb_ranges() -> impl Strategy<Value = Vec<SearchRange>> {
    prop::collection::vec(
        (arb_oid(), any::<bool>(), arb_oid()).prop_map(|(start, include, end)| SearchRange {
            start,
            include,
            end,
        }),
        0..5,
    )
}

fn arb_context() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop::collection::vec(any::<u8>(), 0..10))
}

fn arb_varbinds() -> impl Strategy<Value = Vec<VarBind>> {
    prop::collection::vec(
        (arb_oid(), arb_value()).prop_map(|(name, value)| VarBind { name, value }),
        0..5,
    )
}

fn arb_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (
            any::<u8>(),
            arb_oid(),
            prop::collection::vec(any::<u8>(), 0..30)
        )
            .prop_map(|(timeout, id, descr)| Payload::Open { timeout, id, descr }),
        (1u8..=6).prop_map(|c| Payload::Close {
            reason: match c {
                1 => CloseReason::Other,
                2 => CloseReason::ParseError,
                3 => CloseReason::ProtocolError,
                4 => CloseReason::Timeouts,
                5 => CloseReason::Shutdown,
                _ => CloseReason::ByManager,
            }
        }),
        (arb_context(), any::<u8>(), any::<u8>(), arb_oid()).prop_map(
            |(context, timeout, priority, subtree)| Payload::Register {
                context,
                timeout,
                priority,
                subtree
            }
        ),
        (arb_context(), arb_ranges())
            .prop_map(|(context, ranges)| Payload::Get { context, ranges }),
        (arb_context(), arb_ranges())
            .prop_map(|(context, ranges)| Payload::GetNext { context, ranges }),
        (arb_context(), any::<u16>(), any::<u16>(), arb_ranges()).prop_map(
            |(context, non_repeaters, max_repetitions, ranges)| Payload::GetBulk {
                context,
                non_repeaters,
                max_repetitions,
                ranges
            }
        ),
        (arb_context(), arb_varbinds())
            .prop_map(|(context, varbinds)| Payload::TestSet { context, varbinds }),
        Just(Payload::CommitSet),
        Just(Payload::UndoSet),
        Just(Payload::CleanupSet),
        arb_context().prop_map(|context| Payload::Ping { context }),
        (any::<u32>(), any::<u16>(), any::<u16>(), arb_varbinds()).prop_map(
            |(sys_uptime, error, index, varbinds)| Payload::Response {
                sys_uptime,
                error,
                index,
                varbinds
            }
        ),
    ]
}

proptest! {
    #[test]
    fn every_pdu_decodes_to_what_was_encoded(
        session_id in any::<u32>(), transaction_id in any::<u32>(), packet_id in any::<u32>(),
        payload in arb_payload(),
    ) {
        let pdu = Pdu { ids: Ids { session_id, transaction_id, packet_id }, payload };
        let bytes = pdu.encode();
        prop_assert_eq!(frame_len(&bytes), Some(bytes.len()));
        prop_assert_eq!(Pdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Pdu::decode(&bytes);
        let _ = frame_len(&bytes);
    }

    #[test]
    fn mutated_valid_pdus_never_panic_the_decoder(
        payload in arb_payload(), at in any::<prop::sample::Index>(), byte in any::<u8>(),
    ) {
        let mut bytes = Pdu { ids: Ids::default(), payload }.encode();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = Pdu::decode(&bytes);
    }
}

proptest! {
    #[test]
    fn a_response_is_as_long_as_its_header_and_its_varbinds_say(
        varbinds in arb_varbinds(),
    ) {
        let expected = HEADER_LEN + 8 + varbinds.iter().map(VarBind::encoded_len).sum::<usize>();
        let pdu = Pdu {
            ids: Ids::default(),
            payload: Payload::Response { sys_uptime: 0, error: 0, index: 0, varbinds },
        };
        prop_assert_eq!(pdu.encode().len(), expected);
    }
}
