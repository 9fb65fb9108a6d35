//! Arbitrary bytes as events2 lines: parsing never panics, whatever parses prints and parses
//! back to itself, and applying it to a state (with the updates and a replay) never panics.
//!
//! Run from `fuzz/` with the stable toolchain:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run parse_apply -O -- -max_total_time=300`
//! (seed it with `cp ../crates/drbd/tests/fixtures/events2/*.txt corpus/parse_apply/`).
#![no_main]

use drbd::{parse_line, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut state = State::new();
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let Ok(line) = parse_line(raw) else {
            continue;
        };
        let printed = line.to_string();
        match parse_line(&printed) {
            Ok(again) => assert_eq!(again, line, "{raw:?} printed as {printed:?}"),
            Err(e) => panic!("{raw:?} printed as {printed:?} does not parse: {e}"),
        }
        state.apply(line.event, &mut out);
    }
    // The dump of whatever was built rebuilds it.
    let mut rebuilt = State::new();
    for line in state.dump() {
        rebuilt.apply(line.event, &mut out);
    }
    assert!(rebuilt == state, "dump does not rebuild the state");
    state.replay(&mut out);
});
