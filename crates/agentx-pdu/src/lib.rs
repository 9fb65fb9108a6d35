//! AgentX (RFC 2741) for a subagent: the PDUs it sends (Open, Register, Response, Ping,
//! Close) and the ones it answers (Get, GetNext, GetBulk, TestSet and the other Set phases),
//! encoded and decoded without I/O.
//!
//! Why our own: the one existing crate is unmaintained and overflows on a master up for more
//! than ~50 days (agentx spec §7). Must never: panic on any input, or do I/O.

pub mod encoding;
pub mod pdu;

pub use encoding::{DecodeError, Oid, SearchRange, Value, VarBind};
pub use pdu::{error, frame_len, CloseReason, Ids, Payload, Pdu, HEADER_LEN};
