//! The tests of `chunks.rs`: how blocks are cut and walked.

use super::*;
use crate::walk::run_at;
use drbd::{parse_line, State};

fn apply(s: &mut State, line: &str) {
    s.apply(parse_line(line).expect("a line").event, &mut Vec::new());
}

#[test]
fn the_walk_by_address_cuts_every_list_where_names_alone_cut_it() {
    let _one_at_a_time = crate::test_support::exclusive();
    // Small blocks, so runs reach the most a block holds and are cut there too.
    let size = 3;
    let mut s = State::new();
    for line in drbd::synth::initial_dump(300, 1) {
        s.apply(line.event, &mut Vec::new());
    }
    let mut chunks = Chunks::with_block(false, size);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let (mut created, mut kept_blocks) = (Vec::new(), 0);
    for step in 0..60u64 {
        // Counters of a few resources move; sometimes a resource comes or goes (names
        // all over the order, some at its end).
        let moved = next(300) as usize;
        for l in drbd::synth::counter_moves(&s, |i| i % 97 == moved % 97, step + 1) {
            apply(&mut s, &l);
        }
        for _ in 0..next(3) {
            let name = match next(3) {
                0 => format!("zz{:06}", next(1_000_000)),
                _ => format!("m{:06}", next(1_000_000)),
            };
            apply(&mut s, &format!("create resource name:{name} role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:1"));
            created.push(name);
        }
        if next(2) == 0 && !created.is_empty() {
            let name = created.remove(next(created.len() as u64) as usize);
            apply(&mut s, &format!("destroy resource name:{name}"));
        }
        let frame = Frame {
            resources: s.snapshot(),
            ctx: Default::default(),
        };
        let before = chunks.work().blocks_rendered;
        chunks.update(&frame, Encoding::Identity);
        let by_names: Vec<(&str, usize)> = cut(frame.resources.as_slice(), size)
            .iter()
            .map(|run| (&*run[0].name, run.len()))
            .collect();
        let walked: Vec<(&str, usize)> =
            chunks.blocks.iter().map(|b| (&*b.first, b.len())).collect();
        assert_eq!(walked, by_names, "step {step}: the same blocks");
        kept_blocks += chunks.blocks.len() as u64 - (chunks.work().blocks_rendered - before);
        let mut full = String::new();
        crate::render::render(frame.resources.iter().map(|r| &**r), &frame.ctx, &mut full);
        let body = chunks.body(Encoding::Identity).expect("taken").concat();
        assert!(body == full.as_bytes(), "step {step}: the full render");
    }
    assert!(kept_blocks > 60 * 50, "most blocks kept: {kept_blocks}");
}

/// Splits `resources` into blocks by names alone ([`run_at`] after run); what the walk by
/// address in [`Chunks::update`] must always agree with (tests).
fn cut(resources: &[Arc<Resource>], size: usize) -> Vec<&[Arc<Resource>]> {
    let mut runs = Vec::new();
    let mut rest = resources;
    while !rest.is_empty() {
        let (len, _) = run_at(rest, size);
        let (run, after) = rest.split_at(len);
        runs.push(run);
        rest = after;
    }
    runs
}
