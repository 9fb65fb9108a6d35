//! [`Line`] → events2 text, in drbdsetup's exact key order (events2 spec §2.5), for the
//! simulator and for round-trip tests.
//!
//! Must never: print a key that is `None`, or reorder keys (consumers compare byte for byte).

use crate::event::*;
use crate::vocab::bool_str;
use std::fmt::{self, Display, Write};

/// Writes ` key:value` for a present value.
fn kv<W: Write, T: Display>(w: &mut W, key: &str, v: &Option<T>) -> fmt::Result {
    match v {
        Some(v) => write!(w, " {key}:{v}"),
        None => Ok(()),
    }
}

/// Writes ` key:value` for a vocabulary key: the original token when the parser did not know
/// it (kept in `unknown_values`), so `parse(print(line)) == line` holds for those too.
fn kvu<W: Write, T: Display>(
    w: &mut W,
    key: &str,
    v: &Option<T>,
    unknown_values: &[(String, String)],
) -> fmt::Result {
    if !unknown_values.is_empty() {
        if let Some((_, token)) = unknown_values.iter().find(|(k, _)| k == key) {
            return write!(w, " {key}:{token}");
        }
    }
    kv(w, key, v)
}

fn kb<W: Write>(w: &mut W, key: &str, v: Option<bool>) -> fmt::Result {
    match v {
        Some(v) => write!(w, " {key}:{}", bool_str(v)),
        None => Ok(()),
    }
}

fn unknown<W: Write>(w: &mut W, u: &UnknownKeys) -> fmt::Result {
    for (k, v) in u {
        write!(w, " {k}:{v}")?;
    }
    Ok(())
}

impl Display for BackingDev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackingDev::None => f.write_str("none"),
            BackingDev::Path(p) => f.write_str(p),
        }
    }
}

impl Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ts) = &self.timestamp {
            write!(f, "{ts} ")?;
        }
        self.event.fmt_with(f, &self.unknown_values)
    }
}

impl Display for Event {
    /// The event alone: a value the parser did not know prints as the vocabulary's unknown
    /// value (`?`, `other`) or not at all; [`Line`] prints the original token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_with(f, &[])
    }
}

impl Event {
    /// Prints the event, with the original tokens of the values in `u` (see [`UnknownValues`]).
    fn fmt_with(&self, f: &mut fmt::Formatter<'_>, u: &[(String, String)]) -> fmt::Result {
        match self {
            Event::Object { event_type, object } => {
                write!(f, "{} {}", event_type.verb(), object.kind())?;
                object.fmt_pairs(f, u)
            }
            Event::EndOfDump => f.write_str("exists -"),
            Event::Rename {
                resource,
                new_name,
                unknown: u,
            } => {
                write!(f, "rename resource name:{resource} new_name:{new_name}")?;
                unknown(f, u)
            }
            Event::Helper(h) => {
                write!(f, "{} helper name:{}", h.phase.verb(), h.name)?;
                kv(f, "peer-node-id", &h.peer_node_id)?;
                kv(f, "conn-name", &h.conn_name)?;
                kv(f, "local", &h.local)?;
                kv(f, "peer", &h.peer)?;
                kv(f, "volume", &h.volume)?;
                kv(f, "minor", &h.minor)?;
                write!(f, " helper:{}", h.helper)?;
                kv(f, "status", &h.status)?;
                unknown(f, &h.unknown)
            }
            Event::Skipped(n) => write!(f, "- skipped {n}"),
            Event::Unknown { verb, kind } => write!(f, "{verb} {kind}"),
        }
    }
}

impl ObjectLine {
    /// Writes the ` key:value` pairs (with their leading spaces).
    fn fmt_pairs<W: Write>(&self, f: &mut W, u: &[(String, String)]) -> fmt::Result {
        match self {
            ObjectLine::Resource(l) => {
                write!(f, " name:{}", l.name)?;
                kvu(f, "role", &l.role, u)?;
                kvu(f, "suspended", &l.suspended, u)?;
                kb(f, "force-io-failures", l.force_io_failures)?;
                kvu(f, "write-ordering", &l.write_ordering, u)?;
                kb(f, "may_promote", l.may_promote)?;
                kv(f, "promotion_score", &l.promotion_score)?;
                unknown(f, &l.unknown)
            }
            ObjectLine::Device(l) => {
                write!(f, " name:{} volume:{}", l.name, l.volume)?;
                kv(f, "minor", &l.minor)?;
                kv(f, "backing_dev", &l.backing_dev)?;
                kvu(f, "disk", &l.disk, u)?;
                kvu(f, "client", &l.client, u)?;
                kvu(f, "open", &l.open, u)?;
                kb(f, "quorum", l.quorum)?;
                kv(f, "size", &l.size)?;
                kv(f, "read", &l.read)?;
                kv(f, "written", &l.written)?;
                kv(f, "al-writes", &l.al_writes)?;
                kv(f, "bm-writes", &l.bm_writes)?;
                kv(f, "upper-pending", &l.upper_pending)?;
                kv(f, "lower-pending", &l.lower_pending)?;
                kb(f, "al-suspended", l.al_suspended)?;
                kvu(f, "blocked", &l.blocked, u)?;
                unknown(f, &l.unknown)
            }
            ObjectLine::Connection(l) => {
                write!(
                    f,
                    " name:{} peer-node-id:{} conn-name:{}",
                    l.name, l.peer_node_id, l.conn_name
                )?;
                kvu(f, "connection", &l.connection, u)?;
                kvu(f, "role", &l.role, u)?;
                kb(f, "congested", l.congested)?;
                kv(f, "ap-in-flight", &l.ap_in_flight)?;
                kv(f, "rs-in-flight", &l.rs_in_flight)?;
                unknown(f, &l.unknown)
            }
            ObjectLine::PeerDevice(l) => {
                write!(
                    f,
                    " name:{} peer-node-id:{} conn-name:{} volume:{}",
                    l.name, l.peer_node_id, l.conn_name, l.volume
                )?;
                kvu(f, "replication", &l.replication, u)?;
                kvu(f, "peer-disk", &l.peer_disk, u)?;
                kvu(f, "peer-client", &l.peer_client, u)?;
                kvu(f, "resync-suspended", &l.resync_suspended, u)?;
                let empty = ResyncProgress::default();
                let p = l.progress.as_deref().unwrap_or(&empty);
                kv(f, "done", &p.done)?;
                kv(f, "received", &l.received)?;
                kv(f, "sent", &l.sent)?;
                kv(f, "out-of-sync", &l.out_of_sync)?;
                kv(f, "pending", &l.pending)?;
                kv(f, "unacked", &l.unacked)?;
                kv(f, "rs-total", &p.rs_total)?;
                kv(f, "rs-dt-start-ms", &p.rs_dt_start_ms)?;
                kv(f, "rs-paused-ms", &p.rs_paused_ms)?;
                kv(f, "rs-dt0-ms", &p.rs_dt0_ms)?;
                kv(f, "rs-db0-sectors", &p.rs_db0_sectors)?;
                kv(f, "rs-dt1-ms", &p.rs_dt1_ms)?;
                kv(f, "rs-db1-sectors", &p.rs_db1_sectors)?;
                kv(f, "ov-start-sector", &p.ov_start_sector)?;
                kv(f, "ov-stop-sector", &p.ov_stop_sector)?;
                kv(f, "ov-position", &p.ov_position)?;
                kv(f, "ov-left", &p.ov_left)?;
                kv(f, "ov-skipped", &p.ov_skipped)?;
                kv(f, "rs-failed", &p.rs_failed)?;
                kv(f, "rs-same-csum", &p.rs_same_csum)?;
                kv(f, "want", &p.want)?;
                kv(f, "dbdt", &p.dbdt)?;
                kv(f, "dbdt0", &p.dbdt0)?;
                kv(f, "dbdt1", &p.dbdt1)?;
                kv(f, "eta", &p.eta)?;
                unknown(f, &l.unknown)
            }
            ObjectLine::Path(l) => {
                write!(
                    f,
                    " name:{} peer-node-id:{} conn-name:{} local:{} peer:{}",
                    l.name, l.peer_node_id, l.conn_name, l.local, l.peer
                )?;
                kb(f, "established", l.established)?;
                unknown(f, &l.unknown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::parse_line;

    #[test]
    fn every_line_of_the_plain_and_full_corpus_prints_back_byte_for_byte() {
        for text in [
            include_str!("../tests/fixtures/events2/events2-all-create-change--full.txt"),
            include_str!("../tests/fixtures/events2/events2-all-create-change.txt"),
            include_str!("../tests/fixtures/events2/events2-sync--statistics.txt"),
            include_str!("../tests/fixtures/events2/events2-all-create-helper.txt"),
            include_str!("../tests/fixtures/events2/events2-all-create-destroy.txt"),
            include_str!("../tests/fixtures/events2/ug-drbd-doc-events2-statistics-now.txt"),
        ] {
            for line in text.lines() {
                let parsed = parse_line(line).unwrap();
                assert_eq!(parsed.to_string(), line);
            }
        }
    }
}
