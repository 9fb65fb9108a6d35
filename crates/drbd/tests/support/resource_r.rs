//! One resource `r` with a device, a connection, its peer device and path, as full events2
//! lines, and the helpers that feed lines to a state: shared by the quirk tests and the
//! cases of the original's own tests.
#![allow(dead_code)]

use drbd::update::ObjectUpdate;
use drbd::{parse_line, PluginUpdate, State};

/// Applies each line of `text` to `state`; returns the updates.
pub fn feed(state: &mut State, text: &str) -> Vec<PluginUpdate> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parsed = parse_line(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        state.apply(parsed.event, &mut out);
    }
    out
}

pub fn objects(updates: &[PluginUpdate]) -> Vec<&ObjectUpdate> {
    updates
        .iter()
        .map(|u| match u {
            PluginUpdate::Object(o) => o,
            PluginUpdate::Helper(h) => panic!("unexpected helper update {h:?}"),
        })
        .collect()
}

pub const RES: &str = "exists resource name:r role:Secondary suspended:no force-io-failures:no write-ordering:flush may_promote:no promotion_score:10101\n";
pub const DEV: &str = "exists device name:r volume:0 minor:7 backing_dev:/dev/sda disk:UpToDate client:no open:no quorum:yes size:100 read:1 written:2 al-writes:3 bm-writes:4 upper-pending:0 lower-pending:0 al-suspended:no blocked:upper\n";
pub const CONN: &str = "exists connection name:r peer-node-id:1 conn-name:peer connection:Connected role:Secondary congested:no ap-in-flight:0 rs-in-flight:0\n";
pub const PD: &str = "exists peer-device name:r peer-node-id:1 conn-name:peer volume:0 replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no received:0 sent:0 out-of-sync:0 pending:0 unacked:0\n";
pub const PATH: &str = "exists path name:r peer-node-id:1 conn-name:peer local:ipv4:10.0.0.1:7000 peer:ipv4:10.0.0.2:7000 established:yes\n";

/// A state holding resource `r` with one device, one connection, its peer device and path.
pub fn full_state() -> State {
    let mut s = State::new();
    feed(&mut s, &[RES, CONN, DEV, PD, PATH, "exists -"].concat());
    s
}
