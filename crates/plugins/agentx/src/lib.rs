//! The agentx plugin: DRBD state as the LINBIT DRBD MIB, served to an SNMP master (snmpd)
//! as an AgentX subagent over TCP or a unix socket.
//!
//! `mib` (snapshot → sorted OID table, Get/GetNext) and `cache` (when to rebuild) are pure;
//! `session` is the I/O shell that connects, registers, answers and reconnects. The daemon
//! supplies a [`session::TableSource`] built on its latest state snapshot.

pub mod cache;
pub mod config;
pub mod mib;
pub mod plugin;
pub mod session;
