//! Arbitrary bytes from an SNMP master: the decoder never panics, and whatever decodes
//! encodes back to bytes that decode to the same PDU.
#![no_main]
use agentx_pdu::{frame_len, Pdu};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame_len(data);
    if let Ok(pdu) = Pdu::decode(data) {
        let again = Pdu::decode(&pdu.encode()).expect("our own encoding decodes");
        assert_eq!(again, pdu);
    }
});
