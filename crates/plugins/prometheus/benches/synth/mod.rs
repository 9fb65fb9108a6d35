//! The generated state the scrape bench and the examples share: a synthetic dump applied to a
//! `State`, its render frame (enums on), and counters moved the way a statistics poll moves
//! them. Included with `#[path]` (benches and examples cannot share a module otherwise).
#![allow(dead_code)]

use drbd::{parse_line, State};
use drbd_reactor_prometheus::chunks::Frame;
use drbd_reactor_prometheus::render::RenderContext;

/// `resources` resources with `peers` peers each, from the synthetic initial dump.
pub fn state(resources: usize, peers: u32) -> State {
    let mut s = State::new();
    let mut out = Vec::new();
    for line in drbd::synth::initial_dump(resources, peers) {
        s.apply(line.event, &mut out);
        out.clear();
    }
    s
}

/// What the plugin renders from: the resources in name order, enums on.
pub fn frame(s: &State) -> Frame {
    Frame {
        resources: s.snapshot(),
        ctx: RenderContext {
            enums: true,
            ..RenderContext::default()
        },
    }
}

/// Moves the sent and received counters of every peer device of the resources `which` picks
/// (by index in name order) by `by`; returns how many lines it applied.
pub fn move_counters(s: &mut State, which: impl Fn(usize) -> bool, by: u64) -> usize {
    let mut lines = Vec::new();
    for (i, r) in s.resources().enumerate() {
        if !which(i) {
            continue;
        }
        for c in &r.connections {
            for p in &c.peer_devices {
                lines.push(format!(
                    "change peer-device name:{} peer-node-id:{} conn-name:{} volume:{} received:{} sent:{}",
                    r.name,
                    c.peer_node_id,
                    c.conn_name,
                    p.volume,
                    p.received + by,
                    p.sent + by
                ));
            }
        }
    }
    let mut out = Vec::new();
    for l in &lines {
        s.apply(parse_line(l).unwrap().event, &mut out);
        out.clear();
    }
    lines.len()
}
