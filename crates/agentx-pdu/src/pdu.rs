//! RFC 2741 §6 PDUs: the header and the payloads a subagent sends or answers.
//!
//! Decoding honours the byte order the header announces; encoding always uses network byte
//! order and sets that flag. Must never: trust `payload_length` beyond the bytes received.

use crate::encoding::*;

pub const HEADER_LEN: usize = 20;

const FLAG_NON_DEFAULT_CONTEXT: u8 = 0x08;
const FLAG_NETWORK_BYTE_ORDER: u8 = 0x10;

/// Session, transaction and packet ids of a PDU (RFC 2741 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ids {
    pub session_id: u32,
    pub transaction_id: u32,
    pub packet_id: u32,
}

/// Reasons for a Close PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Other,
    ParseError,
    ProtocolError,
    Timeouts,
    Shutdown,
    ByManager,
    Unknown(u8),
}

impl CloseReason {
    const fn code(self) -> u8 {
        match self {
            CloseReason::Other => 1,
            CloseReason::ParseError => 2,
            CloseReason::ProtocolError => 3,
            CloseReason::Timeouts => 4,
            CloseReason::Shutdown => 5,
            CloseReason::ByManager => 6,
            CloseReason::Unknown(c) => c,
        }
    }
    const fn from_code(c: u8) -> Self {
        match c {
            1 => CloseReason::Other,
            2 => CloseReason::ParseError,
            3 => CloseReason::ProtocolError,
            4 => CloseReason::Timeouts,
            5 => CloseReason::Shutdown,
            6 => CloseReason::ByManager,
            c => CloseReason::Unknown(c),
        }
    }
}

/// Error codes in Response PDUs: AgentX administrative errors (RFC 2741 §6.2.16) and the SNMP
/// errors a subagent reports for requests.
pub mod error {
    pub const NO_ERROR: u16 = 0;
    pub const TOO_BIG: u16 = 1;
    pub const GEN_ERR: u16 = 5;
    pub const NOT_WRITABLE: u16 = 17;
    pub const OPEN_FAILED: u16 = 256;
    pub const NOT_OPEN: u16 = 257;
    pub const UNSUPPORTED_CONTEXT: u16 = 262;
    pub const DUPLICATE_REGISTRATION: u16 = 263;
    pub const UNKNOWN_REGISTRATION: u16 = 264;
    pub const PARSE_ERROR: u16 = 266;
    pub const REQUEST_DENIED: u16 = 267;
    pub const PROCESSING_ERROR: u16 = 268;
}

/// What a PDU says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Open {
        timeout: u8,
        id: Oid,
        descr: Vec<u8>,
    },
    Close {
        reason: CloseReason,
    },
    Register {
        context: Option<Vec<u8>>,
        timeout: u8,
        priority: u8,
        subtree: Oid,
    },
    Get {
        context: Option<Vec<u8>>,
        ranges: Vec<SearchRange>,
    },
    GetNext {
        context: Option<Vec<u8>>,
        ranges: Vec<SearchRange>,
    },
    GetBulk {
        context: Option<Vec<u8>>,
        non_repeaters: u16,
        max_repetitions: u16,
        ranges: Vec<SearchRange>,
    },
    TestSet {
        context: Option<Vec<u8>>,
        varbinds: Vec<VarBind>,
    },
    CommitSet,
    UndoSet,
    CleanupSet,
    Ping {
        context: Option<Vec<u8>>,
    },
    Response {
        sys_uptime: u32,
        error: u16,
        index: u16,
        varbinds: Vec<VarBind>,
    },
    /// Any other PDU type (Notify, IndexAllocate, ...), kept raw; a subagent never receives
    /// these from a master.
    Other {
        pdu_type: u8,
        body: Vec<u8>,
    },
}

impl Payload {
    pub const fn pdu_type(&self) -> u8 {
        match self {
            Payload::Open { .. } => 1,
            Payload::Close { .. } => 2,
            Payload::Register { .. } => 3,
            Payload::Get { .. } => 5,
            Payload::GetNext { .. } => 6,
            Payload::GetBulk { .. } => 7,
            Payload::TestSet { .. } => 8,
            Payload::CommitSet => 9,
            Payload::UndoSet => 10,
            Payload::CleanupSet => 11,
            Payload::Ping { .. } => 13,
            Payload::Response { .. } => 18,
            Payload::Other { pdu_type, .. } => *pdu_type,
        }
    }

    fn context(&self) -> Option<&[u8]> {
        match self {
            Payload::Register { context, .. }
            | Payload::Get { context, .. }
            | Payload::GetNext { context, .. }
            | Payload::GetBulk { context, .. }
            | Payload::TestSet { context, .. }
            | Payload::Ping { context } => context.as_deref(),
            _ => None,
        }
    }
}

/// One AgentX PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub ids: Ids,
    pub payload: Payload,
}

/// The total length of the PDU that starts `bytes`, once its header is complete.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < HEADER_LEN {
        return None;
    }
    let raw: [u8; 4] = bytes[16..20].try_into().expect("four bytes");
    let len = if bytes[2] & FLAG_NETWORK_BYTE_ORDER != 0 {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    };
    Some(HEADER_LEN + len as usize)
}

impl Pdu {
    /// Encodes in network byte order.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Writer::default();
        let mut flags = FLAG_NETWORK_BYTE_ORDER;
        if let Some(c) = self.payload.context() {
            flags |= FLAG_NON_DEFAULT_CONTEXT;
            body.octets(c);
        }
        match &self.payload {
            Payload::Open { timeout, id, descr } => {
                body.u8(*timeout);
                body.bytes.extend_from_slice(&[0, 0, 0]);
                body.oid(id, false);
                body.octets(descr);
            }
            Payload::Close { reason } => {
                body.u8(reason.code());
                body.bytes.extend_from_slice(&[0, 0, 0]);
            }
            Payload::Register {
                timeout,
                priority,
                subtree,
                ..
            } => {
                body.u8(*timeout);
                body.u8(*priority);
                body.u8(0); // range_subid: no range registration
                body.u8(0);
                body.oid(subtree, false);
            }
            Payload::Get { ranges, .. } | Payload::GetNext { ranges, .. } => {
                ranges.iter().for_each(|r| body.search_range(r))
            }
            Payload::GetBulk {
                non_repeaters,
                max_repetitions,
                ranges,
                ..
            } => {
                body.u16(*non_repeaters);
                body.u16(*max_repetitions);
                ranges.iter().for_each(|r| body.search_range(r));
            }
            Payload::TestSet { varbinds, .. } => varbinds.iter().for_each(|v| body.varbind(v)),
            Payload::CommitSet | Payload::UndoSet | Payload::CleanupSet | Payload::Ping { .. } => {}
            Payload::Response {
                sys_uptime,
                error,
                index,
                varbinds,
            } => {
                body.u32(*sys_uptime);
                body.u16(*error);
                body.u16(*index);
                varbinds.iter().for_each(|v| body.varbind(v));
            }
            Payload::Other { body: raw, .. } => body.bytes.extend_from_slice(raw),
        }
        let mut out = Writer::default();
        out.u8(1);
        out.u8(self.payload.pdu_type());
        out.u8(flags);
        out.u8(0);
        out.u32(self.ids.session_id);
        out.u32(self.ids.transaction_id);
        out.u32(self.ids.packet_id);
        out.u32(body.bytes.len() as u32);
        out.bytes.extend_from_slice(&body.bytes);
        out.bytes
    }

    /// Decodes one complete PDU (see [`frame_len`]); trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Pdu, DecodeError> {
        let len = frame_len(bytes).ok_or(DecodeError::Truncated)?;
        if bytes.len() < len {
            return Err(DecodeError::Truncated);
        }
        if bytes.len() > len {
            return Err(DecodeError::Invalid("bytes after the payload"));
        }
        if bytes[0] != 1 {
            return Err(DecodeError::Invalid("version"));
        }
        let (pdu_type, flags) = (bytes[1], bytes[2]);
        let mut h = Reader::new(&bytes[4..HEADER_LEN], flags & FLAG_NETWORK_BYTE_ORDER != 0);
        let ids = Ids {
            session_id: h.u32()?,
            transaction_id: h.u32()?,
            packet_id: h.u32()?,
        };
        let body = &bytes[HEADER_LEN..];
        let mut r = Reader::new(body, flags & FLAG_NETWORK_BYTE_ORDER != 0);
        let context = if flags & FLAG_NON_DEFAULT_CONTEXT != 0 && has_context(pdu_type) {
            Some(r.octets()?)
        } else {
            None
        };
        let ranges = |r: &mut Reader| -> Result<Vec<SearchRange>, DecodeError> {
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(r.search_range()?);
            }
            Ok(v)
        };
        let varbinds = |r: &mut Reader| -> Result<Vec<VarBind>, DecodeError> {
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(r.varbind()?);
            }
            Ok(v)
        };
        let payload = match pdu_type {
            1 => {
                let timeout = r.u8()?;
                r.take(3)?;
                let (id, _) = r.oid()?;
                Payload::Open {
                    timeout,
                    id,
                    descr: r.octets()?,
                }
            }
            2 => {
                let reason = CloseReason::from_code(r.u8()?);
                r.take(3)?;
                Payload::Close { reason }
            }
            3 => {
                let timeout = r.u8()?;
                let priority = r.u8()?;
                let range_subid = r.u8()?;
                r.u8()?;
                let (subtree, _) = r.oid()?;
                if range_subid != 0 {
                    r.u32()?;
                }
                Payload::Register {
                    context,
                    timeout,
                    priority,
                    subtree,
                }
            }
            5 => Payload::Get {
                context,
                ranges: ranges(&mut r)?,
            },
            6 => Payload::GetNext {
                context,
                ranges: ranges(&mut r)?,
            },
            7 => Payload::GetBulk {
                context,
                non_repeaters: r.u16()?,
                max_repetitions: r.u16()?,
                ranges: ranges(&mut r)?,
            },
            8 => Payload::TestSet {
                context,
                varbinds: varbinds(&mut r)?,
            },
            9 => Payload::CommitSet,
            10 => Payload::UndoSet,
            11 => Payload::CleanupSet,
            13 => Payload::Ping { context },
            18 => Payload::Response {
                sys_uptime: r.u32()?,
                error: r.u16()?,
                index: r.u16()?,
                varbinds: varbinds(&mut r)?,
            },
            0 | 19.. => return Err(DecodeError::Invalid("PDU type")),
            other => {
                return Ok(Pdu {
                    ids,
                    payload: Payload::Other {
                        pdu_type: other,
                        body: body.to_vec(),
                    },
                })
            }
        };
        if !r.is_empty() {
            return Err(DecodeError::Invalid("bytes after the last field"));
        }
        Ok(Pdu { ids, payload })
    }
}

/// PDU types that may carry a context (RFC 2741 §6.1.1).
const fn has_context(pdu_type: u8) -> bool {
    matches!(pdu_type, 3..=8 | 12..=17)
}
