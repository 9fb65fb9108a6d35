//! The LINBIT DRBD MIB (agentx spec §4): a state snapshot → the sorted table of OIDs and
//! values the subagent serves, and the Get/GetNext lookups on it.
//!
//! Scalars are served without the `.0` instance suffix, as the original serves them (walks
//! and GetNext chains of existing monitoring depend on it, agentx spec §4.1 and §9); a Get
//! with the suffix is also answered, for tools that follow the MIB. Must never: do I/O, or
//! serve a value computed differently from the spec (the MIB is a published interface).

use agentx_pdu::{Oid, SearchRange, Value};
use drbd::vocab::{DiskState, ReplicationState};
use drbd::{Device, Resource};

/// `enterprises.linbit`
pub const LINBIT: &[u32] = &[1, 3, 6, 1, 4, 1, 23302];
/// `drbdMeta` scalars and `drbdEntry` columns.
const META: &[u32] = &[1, 3, 6, 1, 4, 1, 23302, 1, 1];
const ENTRY: &[u32] = &[1, 3, 6, 1, 4, 1, 23302, 1, 2, 1];

/// The disk states counted in columns 25–34, in column order.
const PEER_DISK_COLUMNS: [DiskState; 10] = [
    DiskState::Diskless,
    DiskState::Attaching,
    DiskState::Detaching,
    DiskState::Failed,
    DiskState::Negotiating,
    DiskState::Inconsistent,
    DiskState::Outdated,
    DiskState::DUnknown,
    DiskState::Consistent,
    DiskState::UpToDate,
];

/// The replication states counted in columns 35–49, in column order.
const PEER_REPL_COLUMNS: [ReplicationState; 15] = [
    ReplicationState::Off,
    ReplicationState::Established,
    ReplicationState::StartingSyncS,
    ReplicationState::StartingSyncT,
    ReplicationState::WFBitMapS,
    ReplicationState::WFBitMapT,
    ReplicationState::WFSyncUUID,
    ReplicationState::SyncSource,
    ReplicationState::SyncTarget,
    ReplicationState::VerifyS,
    ReplicationState::VerifyT,
    ReplicationState::PausedSyncS,
    ReplicationState::PausedSyncT,
    ReplicationState::Ahead,
    ReplicationState::Behind,
];

/// The served OIDs with their values, sorted by OID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MibTable {
    entries: Vec<(Oid, Value)>,
}

fn truth(b: bool) -> Value {
    Value::Integer(if b { 1 } else { 2 })
}

fn string(s: &str) -> Value {
    Value::OctetString(s.as_bytes().to_vec())
}

fn gauge_saturated(v: u64) -> Value {
    Value::Gauge32(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Size in KiB → (Size, SizeUnits) as hrStorageTable does; `None` beyond 32-bit units.
pub fn size_cells(size_kib: u64) -> Option<(u32, u32)> {
    let (mut size, mut unit) = (size_kib, 1024u64);
    while size > u64::from(u32::MAX) {
        size /= 1024;
        unit *= 1024;
    }
    Some((size as u32, u32::try_from(unit).ok()?))
}

fn int(v: u32) -> Value {
    Value::Integer(v as i32)
}

/// The cells of one row (column → value), for a local device of `r`.
fn row(r: &Resource, d: &Device, peer_states: bool, cells: &mut Vec<(u32, Value)>) {
    cells.push((1, int(d.minor)));
    cells.push((2, string(&r.name)));
    cells.push((3, string(r.role.as_str())));
    cells.push((4, truth(r.suspended.any())));
    cells.push((
        5,
        string(r.write_ordering.map(|w| w.as_str()).unwrap_or("")),
    ));
    cells.push((6, truth(r.force_io_failures)));
    cells.push((7, truth(r.may_promote)));
    cells.push((8, int(r.promotion_score)));
    cells.push((9, int(d.volume)));
    cells.push((10, string(d.disk_state.as_str())));
    cells.push((11, string(d.backing_dev.as_deref().unwrap_or("none"))));
    cells.push((12, truth(d.client.is_yes())));
    cells.push((13, truth(d.quorum)));
    if let Some((size, unit)) = size_cells(d.size) {
        cells.push((14, Value::Gauge32(size)));
        cells.push((15, Value::Gauge32(unit)));
    }
    cells.push((16, Value::Counter64(d.read)));
    cells.push((17, Value::Counter64(d.written)));
    cells.push((18, Value::Counter64(d.al_writes)));
    cells.push((19, Value::Counter64(d.bm_writes)));
    cells.push((20, gauge_saturated(d.upper_pending)));
    cells.push((21, gauge_saturated(d.lower_pending)));
    cells.push((22, truth(d.al_suspended)));
    cells.push((23, string(&d.blocked.to_string())));
    if peer_states {
        let mut counts = [0u32; 26];
        for c in &r.connections {
            if let Some(p) = c.peer_devices.get(&d.volume) {
                counts[0] += 1;
                if let Some(i) = PEER_DISK_COLUMNS
                    .iter()
                    .position(|s| *s == p.peer_disk_state)
                {
                    counts[1 + i] += 1;
                }
                if let Some(i) = PEER_REPL_COLUMNS
                    .iter()
                    .position(|s| *s == p.replication_state)
                {
                    counts[11 + i] += 1;
                }
            }
        }
        for (i, n) in counts.iter().enumerate() {
            cells.push((24 + i as u32, int(*n)));
        }
    }
}

impl MibTable {
    /// Builds the table for `resources` and the two version strings.
    pub fn build<'a>(
        resources: impl Iterator<Item = &'a Resource>,
        module_version: &str,
        utils_version: &str,
        peer_states: bool,
    ) -> MibTable {
        let meta = Oid(META.to_vec());
        let mut entries = vec![
            (meta.child(&[1]), string(module_version)),
            (meta.child(&[2]), string(utils_version)),
        ];
        let entry = Oid(ENTRY.to_vec());
        let mut cells = Vec::new();
        for r in resources {
            for d in &r.devices {
                cells.clear();
                row(r, d, peer_states, &mut cells);
                for (column, value) in cells.drain(..) {
                    entries.push((entry.child(&[column, d.minor]), value));
                }
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        MibTable { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Oid, Value)> {
        self.entries.iter()
    }

    /// The value of exactly `oid`: `noSuchObject` outside the served columns, `noSuchInstance`
    /// for a served column with an unknown index. The scalars also answer with `.0`.
    pub fn get(&self, oid: &Oid) -> Value {
        if let Ok(i) = self.entries.binary_search_by(|(o, _)| o.cmp(oid)) {
            return self.entries[i].1.clone();
        }
        let meta = Oid(META.to_vec());
        if oid.starts_with(&meta) && oid.0.len() == META.len() + 2 && oid.0.last() == Some(&0) {
            let scalar = Oid(oid.0[..META.len() + 1].to_vec());
            if let Ok(i) = self.entries.binary_search_by(|(o, _)| o.cmp(&scalar)) {
                return self.entries[i].1.clone();
            }
        }
        // The column's first cell, found in the sorted entries (a Get of many missing minors
        // must not scan the whole table for each).
        let column_known =
            oid.0.len() > ENTRY.len() + 1 && oid.starts_with(&Oid(ENTRY.to_vec())) && {
                let column = &oid.0[..ENTRY.len() + 1];
                let first = self
                    .entries
                    .partition_point(|(o, _)| o.0.as_slice() < column);
                self.entries
                    .get(first)
                    .is_some_and(|(o, _)| o.0.len() == ENTRY.len() + 2 && o.0.starts_with(column))
            };
        if column_known {
            Value::NoSuchInstance
        } else {
            Value::NoSuchObject
        }
    }

    /// The first served OID in `range` (after `start`, or at it when `include`), before `end`
    /// unless `end` is null.
    pub fn get_next(&self, range: &SearchRange) -> Option<&(Oid, Value)> {
        let i = self.entries.partition_point(|(o, _)| {
            if range.include {
                *o < range.start
            } else {
                *o <= range.start
            }
        });
        self.entries
            .get(i)
            .filter(|(o, _)| range.end.is_null() || *o < range.end)
    }
}
