//! Two arbitrary events2 streams (split at the first `%%` line) build an old and a fresh
//! state: reconciling the old with the fresh one never panics and leaves exactly the fresh
//! state, and reconciling a state with an equal one emits no update at all.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run reconcile -O -s none corpus/reconcile`.
#![no_main]

use drbd::{parse_line, State};
use libfuzzer_sys::fuzz_target;

fn build(text: &str) -> State {
    let mut state = State::new();
    let mut out = Vec::new();
    for raw in text.split('\n') {
        if let Ok(line) = parse_line(raw) {
            state.apply(line.event, &mut out);
        }
    }
    state
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (old, fresh) = text.split_once("\n%%\n").unwrap_or((&text, ""));
    let mut state = build(old);
    let fresh = build(fresh);
    let mut out = Vec::new();
    state.reconcile(fresh.clone(), &mut out);
    assert!(state == fresh, "reconcile did not leave the fresh state");
    out.clear();
    state.reconcile(fresh, &mut out);
    assert!(out.is_empty(), "reconciling equal states emitted {out:?}");
});
