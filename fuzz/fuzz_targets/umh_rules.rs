//! Arbitrary text as a `[[umh]]` section (before the first `%%` line) and as events2 lines
//! (after it): parsing the rules never panics, and matching every update the stream causes
//! against rules that parsed never panics and only runs commands that the rules name.
//!
//! Run from `fuzz/`: `RUSTC_BOOTSTRAP=1 cargo fuzz run umh_rules -O -s none corpus/umh_rules`.
#![no_main]

use drbd::{parse_line, State};
use drbd_reactor_umh::matcher::invocations;
use drbd_reactor_umh::rules::UmhConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rules, stream) = text.split_once("\n%%\n").unwrap_or((&text, ""));
    let Ok(config) = toml::from_str::<UmhConfig>(rules) else {
        return;
    };
    let mut commands: Vec<&str> = Vec::new();
    commands.extend(config.resource.iter().map(|r| r.command.as_str()));
    commands.extend(config.device.iter().map(|r| r.command.as_str()));
    commands.extend(config.peerdevice.iter().map(|r| r.command.as_str()));
    commands.extend(config.connection.iter().map(|r| r.command.as_str()));
    commands.extend(config.helper.iter().map(|r| r.command.as_str()));
    let mut state = State::new();
    let mut out = Vec::new();
    for raw in stream.split('\n') {
        if let Ok(line) = parse_line(raw) {
            state.apply(line.event, &mut out);
        }
    }
    state.replay(&mut out);
    for update in &out {
        for invocation in invocations(&config, update) {
            assert!(
                commands.contains(&invocation.command.as_str()),
                "{:?} is no rule's command",
                invocation.command
            );
        }
    }
});
