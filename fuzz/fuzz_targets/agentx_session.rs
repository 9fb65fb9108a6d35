//! Arbitrary bytes as everything an SNMP master sends after the subagent connected: the
//! answers to its Open and Register, then requests (Get, GetNext, GetBulk, the Set phases,
//! Ping, Close, anything else; malformed, truncated, oversized, any session id), played into
//! the real session (`session_over`) against a fixed MIB table. Invariants, besides no panic:
//! - everything the session writes is a sequence of whole PDUs the agentx-pdu decoder accepts;
//! - it writes Open, then Register only after a successful Open answer (with its session id),
//!   then exactly one Response per request, in order, echoing the request's session,
//!   transaction and packet ids, and nothing for Responses, CleanupSets, unknown PDUs or
//!   after a Close;
//! - Get answers each name asked; GetNext and GetBulk answer, per range, the first served OID
//!   strictly after the start (or at it when included) and before the end, or endOfMibView;
//!   each GetBulk repeater walks strictly increasing OIDs; tooBig only when the full answer
//!   would not fit;
//! - no response carries more than `MAX_RESPONSE` bytes of varbinds, so the output is bounded
//!   by the number of requests in the input.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run agentx_session -O -s none corpus/agentx_session seeds/agentx_session`.
#![no_main]

use agentx_pdu::{error, frame_len, Oid, Payload, Pdu, SearchRange, Value, VarBind, HEADER_LEN};
use drbd_reactor_agentx::mib::MibTable;
use drbd_reactor_agentx::session::{
    session_over, MasterAddress, SessionConfig, TableSource, Timing, MAX_RESPONSE,
};
use libfuzzer_sys::fuzz_target;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The session's own limit on a PDU from the master (larger ones end the session).
const MAX_PDU: usize = 1 << 20;
/// A Response header plus its fixed fields (sysUpTime, error, index).
const RESPONSE_OVERHEAD: usize = HEADER_LEN + 8;

/// Three resources, one of them with two volumes and peers, so that every column is served.
fn table() -> &'static MibTable {
    static TABLE: OnceLock<MibTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let lines = [
            "exists resource name:r0 role:Primary suspended:no write-ordering:flush",
            "exists device name:r0 volume:0 minor:1000 disk:UpToDate client:no backing_dev:/dev/vg/r0 quorum:yes size:1048576 read:10 written:20 al-writes:1 bm-writes:2 upper-pending:0 lower-pending:0 al-suspended:no blocked:no",
            "exists device name:r0 volume:1 minor:1001 disk:Inconsistent client:no quorum:yes",
            "exists connection name:r0 peer-node-id:1 conn-name:b connection:Connected role:Secondary",
            "exists peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no",
            "exists peer-device name:r0 peer-node-id:1 conn-name:b volume:1 replication:SyncTarget peer-disk:UpToDate peer-client:no resync-suspended:no",
            "exists resource name:r1 role:Secondary suspended:no",
            "exists device name:r1 volume:0 minor:7 disk:Diskless client:yes quorum:no",
            "exists resource name:r2 role:Secondary",
        ];
        let mut state = drbd::State::new();
        let mut out = Vec::new();
        for l in lines {
            state.apply(drbd::parse_line(l).expect("a fixture line").event, &mut out);
        }
        let snapshot = state.snapshot();
        MibTable::build(snapshot.iter().map(|r| &**r), "9.2.8", "9.28.0", true)
    })
}

struct Fixed;
impl TableSource for Fixed {
    fn generation(&self) -> u64 {
        1
    }
    fn build(&self) -> Option<MibTable> {
        Some(table().clone())
    }
}

/// The master's side of the connection: reads return the input, then end of file; writes go
/// to a shared buffer.
struct Master {
    input: Vec<u8>,
    at: usize,
    written: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Master {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let rest = &self.input[self.at..];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Master {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.written.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

fn config() -> SessionConfig {
    SessionConfig {
        address: MasterAddress::Unix("/nonexistent".into()),
        agent_timeout: 60,
        cache_max: Duration::from_secs(60),
        // Pings never come due within one input.
        timing: Timing::default(),
    }
}

/// The PDUs of `bytes`, framed as the session frames them, up to the first it cannot read.
fn frames(bytes: &[u8]) -> Vec<Pdu> {
    let mut pdus = Vec::new();
    let mut rest = bytes;
    while let Some(len) = frame_len(rest) {
        if len > MAX_PDU || rest.len() < len {
            break;
        }
        let Ok(pdu) = Pdu::decode(&rest[..len]) else {
            break;
        };
        pdus.push(pdu);
        rest = &rest[len..];
    }
    pdus
}

/// Every PDU the session wrote; each must be whole and decode.
fn written(bytes: &[u8]) -> Vec<Pdu> {
    let mut pdus = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = frame_len(rest).expect("the session wrote a partial header");
        assert!(rest.len() >= len, "the session wrote a partial PDU");
        pdus.push(Pdu::decode(&rest[..len]).expect("the session wrote a PDU that does not decode"));
        rest = &rest[len..];
    }
    pdus
}

fn in_range(oid: &Oid, r: &SearchRange) -> bool {
    let after = if r.include {
        *oid >= r.start
    } else {
        *oid > r.start
    };
    after && (r.end.is_null() || *oid < r.end)
}

/// The table's entries, in the order it serves them (checked sorted once).
fn entries() -> &'static [(Oid, Value)] {
    static ENTRIES: OnceLock<Vec<(Oid, Value)>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let entries: Vec<_> = table().iter().cloned().collect();
        assert!(
            entries.windows(2).all(|w| w[0].0 < w[1].0),
            "table not sorted"
        );
        entries
    })
}

/// The index of the first served entry in the range, if any.
fn first_index(r: &SearchRange) -> Option<usize> {
    let entries = entries();
    let from = entries.partition_point(|(o, _)| *o < r.start);
    (from..entries.len().min(from + 2)).find(|&i| in_range(&entries[i].0, r))
}

/// The first served entry in the range, if any.
fn first_entry(r: &SearchRange) -> Option<&'static (Oid, Value)> {
    first_index(r).map(|i| &entries()[i])
}

/// Where one GetBulk repeater is in the table: the entry it must answer next (none once past
/// its range) and the last one it answered.
struct Walk {
    next: Option<usize>,
    last: Option<usize>,
}

/// The model's answer to one GetNext range: the first served OID in the range.
fn first_in(r: &SearchRange) -> VarBind {
    match first_entry(r) {
        Some((o, v)) => VarBind {
            name: o.clone(),
            value: v.clone(),
        },
        None => VarBind {
            name: r.start.clone(),
            value: Value::EndOfMibView,
        },
    }
}

fn bytes_of(vbs: &[VarBind]) -> usize {
    vbs.iter().map(VarBind::encoded_len).sum()
}

/// Checks one GetNext-style answer against its range.
fn check_next(vb: &VarBind, r: &SearchRange) {
    if vb.value != Value::EndOfMibView {
        assert!(
            in_range(&vb.name, r),
            "{} is not after {} (include {}) and before {}",
            vb.name,
            r.start,
            r.include,
            r.end
        );
    }
    // Compared in place: building the expected varbind would allocate per answer.
    let first = first_entry(r);
    let same = match first {
        Some((o, v)) => vb.name == *o && vb.value == *v,
        None => vb.name == r.start && vb.value == Value::EndOfMibView,
    };
    assert!(
        same,
        "{vb:?} is not the first served OID in the range: {first:?}"
    );
}

fn check_answer(request: &Pdu, answer: &Pdu) {
    assert_eq!(answer.ids, request.ids, "the ids are not the request's");
    let Payload::Response {
        error,
        index,
        varbinds,
        ..
    } = &answer.payload
    else {
        panic!("not a Response: {answer:?}");
    };
    assert!(
        bytes_of(varbinds) <= MAX_RESPONSE,
        "response over the limit"
    );
    match &request.payload {
        Payload::Get { ranges, .. } => {
            let full: Vec<VarBind> = ranges
                .iter()
                .map(|r| VarBind {
                    name: r.start.clone(),
                    value: table().get(&r.start),
                })
                .collect();
            if *error == error::TOO_BIG {
                assert!(varbinds.is_empty());
                assert!(
                    bytes_of(&full) > MAX_RESPONSE,
                    "tooBig for an answer that fits"
                );
            } else {
                assert_eq!(*error, error::NO_ERROR);
                assert_eq!(*varbinds, full);
            }
        }
        Payload::GetNext { ranges, .. } => {
            if *error == error::TOO_BIG {
                assert!(varbinds.is_empty());
                let full: Vec<VarBind> = ranges.iter().map(first_in).collect();
                assert!(
                    bytes_of(&full) > MAX_RESPONSE,
                    "tooBig for an answer that fits"
                );
            } else {
                assert_eq!(*error, error::NO_ERROR);
                assert_eq!(varbinds.len(), ranges.len());
                for (vb, r) in varbinds.iter().zip(ranges) {
                    check_next(vb, r);
                }
            }
        }
        Payload::GetBulk {
            non_repeaters,
            max_repetitions,
            ranges,
            ..
        } => check_bulk(*error, varbinds, *non_repeaters, *max_repetitions, ranges),
        Payload::TestSet { .. } => {
            assert_eq!((*error, *index), (error::NOT_WRITABLE, 1));
            assert!(varbinds.is_empty());
        }
        _ => {
            assert_eq!((*error, *index), (error::NO_ERROR, 0));
            assert!(varbinds.is_empty());
        }
    }
}

fn check_bulk(
    error: u16,
    varbinds: &[VarBind],
    non_repeaters: u16,
    max_repetitions: u16,
    ranges: &[SearchRange],
) {
    let n = usize::from(non_repeaters).min(ranges.len());
    if error == error::TOO_BIG {
        assert!(varbinds.is_empty());
        let full: Vec<VarBind> = ranges[..n].iter().map(first_in).collect();
        assert!(
            bytes_of(&full) > MAX_RESPONSE,
            "tooBig for an answer that fits"
        );
        return;
    }
    assert_eq!(error, error::NO_ERROR);
    assert!(varbinds.len() >= n, "non-repeaters missing");
    for (vb, r) in varbinds[..n].iter().zip(ranges) {
        check_next(vb, r);
    }
    let repeaters = &ranges[n..];
    let rest = &varbinds[n..];
    if repeaters.is_empty() {
        assert!(rest.is_empty(), "repetitions without repeaters");
        return;
    }
    assert!(
        rest.len() <= repeaters.len() * usize::from(max_repetitions),
        "more repetitions than asked for"
    );
    // Each repeater walks on from where it was: the table's next entry while it is before the
    // range's end, then endOfMibView at the last name answered. Walked by index into the
    // table, so that a 64 KB answer costs one comparison per varbind, not a search.
    let entries = entries();
    let mut walks: Vec<Walk> = repeaters
        .iter()
        .map(|r| Walk {
            next: first_index(r),
            last: None,
        })
        .collect();
    for (i, vb) in rest.iter().enumerate() {
        let column = i % repeaters.len();
        let (r, walk) = (&repeaters[column], &mut walks[column]);
        match walk.next {
            Some(at) => {
                let (name, value) = &entries[at];
                assert!(
                    vb.name == *name && vb.value == *value,
                    "repeater {column} answered {vb:?}, not the next served entry {name}"
                );
                walk.last = Some(at);
                walk.next = entries
                    .get(at + 1)
                    .filter(|(o, _)| r.end.is_null() || *o < r.end)
                    .map(|_| at + 1);
            }
            None => {
                let name = walk.last.map_or(&r.start, |at| &entries[at].0);
                assert!(
                    vb.value == Value::EndOfMibView && vb.name == *name,
                    "repeater {column} answered {vb:?} past the end of its range"
                );
            }
        }
    }
    // A row that is all endOfMibView ends the answer.
    let rows = rest.len() / repeaters.len();
    for row in 0..rows.saturating_sub(1) {
        let cells = &rest[row * repeaters.len()..(row + 1) * repeaters.len()];
        assert!(
            cells.iter().any(|vb| vb.value != Value::EndOfMibView),
            "went on after a row of endOfMibView"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let written_bytes = Arc::new(Mutex::new(Vec::new()));
    let master = Master {
        input: data.to_vec(),
        at: 0,
        written: Arc::clone(&written_bytes),
    };
    let ended = runtime().block_on(session_over(master, &config(), Fixed));
    assert!(
        ended.is_err(),
        "a session over finite bytes ends with an error"
    );
    let out = written(&written_bytes.lock().unwrap());
    let input = frames(data);

    // Open, then Register only after an Open answer that accepts it.
    assert!(
        matches!(out[0].payload, Payload::Open { .. }),
        "first PDU is not Open"
    );
    let accepted = |i: usize, packet_id: u32| {
        input.get(i).is_some_and(|p| {
            p.ids.packet_id == packet_id
                && matches!(
                    p.payload,
                    Payload::Response {
                        error: error::NO_ERROR,
                        ..
                    }
                )
        })
    };
    if !accepted(0, out[0].ids.packet_id) {
        assert_eq!(
            out.len(),
            1,
            "went on after a refused or missing Open answer"
        );
        return;
    }
    let register = out.get(1).expect("no Register after a successful Open");
    assert!(matches!(register.payload, Payload::Register { .. }));
    assert_eq!(register.ids.session_id, input[0].ids.session_id);
    if !accepted(1, register.ids.packet_id) {
        assert_eq!(
            out.len(),
            2,
            "went on after a refused or missing Register answer"
        );
        return;
    }

    // Then one answer per request, in order, until a Close.
    let mut answers = out[2..].iter();
    let mut requests = 0usize;
    for request in &input[2..] {
        match request.payload {
            Payload::Close { .. } => break,
            // RFC 2741 §7.2.4.4: no response to a CleanupSet.
            Payload::Response { .. }
            | Payload::CleanupSet
            | Payload::Other { .. }
            | Payload::Open { .. }
            | Payload::Register { .. } => {}
            _ => {
                requests += 1;
                let answer = answers.next().expect("a request without an answer");
                check_answer(request, answer);
            }
        }
    }
    assert!(answers.next().is_none(), "an answer without a request");
    let total: usize = written_bytes.lock().unwrap().len();
    let admin = out[0].encode().len() + out[1].encode().len();
    assert!(
        total <= admin + requests * (RESPONSE_OVERHEAD + MAX_RESPONSE),
        "{total} bytes written for {requests} requests"
    );
});
