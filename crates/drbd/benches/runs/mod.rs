//! The ways of ingesting a generated stream that the `ingest` benchmark times and the
//! `ingest-once` example counts instructions of, shared so both measure the same code.

#![allow(dead_code)] // each includer uses some of them

use drbd::{parse_line, parse_line_into, Event, Line, State};

/// The lines of `text`, found with a vectorised newline search as the daemon's reader finds
/// them (`str::lines` costs a tenth of the parse time of a dump).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes()).map(move |end| {
        let line = &text[start..end];
        start = end + 1;
        line
    })
}

/// One thread parsing into the same line over and over (its name buffers reused) and
/// applying it in place; the updates of each line are dropped after it. `keep` > 1 keeps
/// them for that many lines, as the daemon's core keeps a batch's updates until the batch is
/// applied: then each further line on a resource finds it shared and copies it.
#[inline(never)] // a frame of its own, for callgrind's --toggle-collect
pub fn parse_apply_keeping(text: &str, mut state: State, keep: usize) -> State {
    let mut out = Vec::new();
    let mut line = Line::new(None, Event::EndOfDump);
    for (i, text) in lines(text).enumerate() {
        parse_line_into(text, &mut line).unwrap();
        state.apply_in_place(&mut line.event, &mut out);
        if (i + 1) % keep == 0 {
            out.clear();
        }
    }
    state
}

/// A fresh line per line of text, applied by value.
#[inline(never)]
pub fn parse_apply_owned(text: &str, mut state: State) -> State {
    let mut out = Vec::new();
    for line in lines(text) {
        state.apply(parse_line(line).unwrap().event, &mut out);
        out.clear();
    }
    state
}
