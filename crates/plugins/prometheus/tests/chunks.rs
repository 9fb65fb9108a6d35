//! The body assembled from cached chunks is the full render, whatever changed in between; and
//! only what changed is rendered and compressed again.
use drbd::synth::{full_change_lines, initial_dump, Rng};
use drbd::{parse_line, State};
use drbd_reactor_prometheus::chunks::{Chunks, Encoding, Frame, Pieces};
use drbd_reactor_prometheus::render::{render, slots, DrbdVersions, RenderContext};
use std::io::Read;

fn state(resources: usize) -> State {
    // Pieces go to regions with size classes, as in the daemon: long ones are kept in two parts.
    drbd_reactor_plugin::memory::stand_in::register();
    let mut s = State::new();
    let mut out = Vec::new();
    for line in initial_dump(resources, 2) {
        s.apply(line.event, &mut out);
    }
    s
}

fn frame(s: &State, enums: bool, seq: u64) -> Frame {
    Frame {
        resources: s.snapshot(),
        ctx: RenderContext {
            enums,
            versions: DrbdVersions {
                kmod: Some(format!("9.2.{seq}")),
                utils: Some("9.28.0".into()),
                last_refresh_ok: true,
                probed: true,
            },
            reactor: Vec::new(),
        },
    }
}

fn full(f: &Frame) -> String {
    let mut out = String::new();
    render(f.resources.iter().map(|r| &**r), &f.ctx, &mut out);
    out
}

fn text(p: &Pieces, encoding: Encoding) -> String {
    let bytes = p.concat();
    assert_eq!(bytes.len() as u64, p.len);
    match encoding {
        Encoding::Identity => String::from_utf8(bytes).unwrap(),
        Encoding::Gzip => {
            let mut t = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut t)
                .unwrap();
            t
        }
    }
}

/// The body of `f` in `encoding`, as the endpoint gets it: added from the frame of the same
/// state when the cache does not keep that encoding.
fn body(chunks: &mut Chunks, f: &Frame, encoding: Encoding) -> Pieces {
    if !chunks.has(encoding) {
        chunks.add(f, encoding);
    }
    chunks.body(encoding).expect("added")
}

fn apply(s: &mut State, line: &str) {
    s.apply(parse_line(line).unwrap().event, &mut Vec::new());
}

#[test]
fn reassembled_bodies_equal_a_full_render_over_random_change_sequences() {
    for seed in 0..6u64 {
        let mut rng = Rng::new(seed);
        let enums = seed % 2 == 0;
        let mut s = state(60);
        let mut chunks = Chunks::with_block(enums, 2 + seed as usize);
        let mut changes = full_change_lines(60, 2, 1000, seed).into_iter();
        let mut created = Vec::new();
        let mut split = false;
        for step in 0..25u64 {
            // A batch of change lines, sometimes a resource created or destroyed.
            for _ in 0..rng.below(30) {
                if let Some(l) = changes.next() {
                    s.apply(l.event, &mut Vec::new());
                }
            }
            match rng.below(6) {
                0 => {
                    let name = format!("x{:08x}", rng.next_u64() as u32);
                    apply(&mut s, &format!("create resource name:{name} role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:{step}"));
                    created.push(name);
                }
                1 if !created.is_empty() => {
                    let name = created.remove(rng.below(created.len() as u64) as usize);
                    apply(&mut s, &format!("destroy resource name:{name}"));
                }
                _ => {}
            }
            let f = frame(&s, enums, step);
            let expected = full(&f);
            let first = if rng.below(2) == 0 {
                Encoding::Identity
            } else {
                Encoding::Gzip
            };
            chunks.update(&f, first);
            for encoding in [first, Encoding::Identity, Encoding::Gzip] {
                if rng.below(3) == 0 && encoding != first {
                    continue;
                }
                let pieces = body(&mut chunks, &f, encoding);
                split |= pieces.pieces.iter().any(|k| !k.parts()[1].is_empty());
                let got = text(&pieces, encoding);
                assert!(
                    got == expected,
                    "seed {seed} step {step} {encoding:?}: the assembled body differs from the full render"
                );
            }
        }
        assert!(split, "seed {seed}: some pieces were kept in two parts");
    }
}

#[test]
fn resources_gone_from_the_first_group_move_blocks_between_gzip_spans_and_the_body_stays_whole() {
    // 2,000 resources: about 63 blocks of 32, four groups of 16 blocks for the gzip spans.
    let mut s = state(2000);
    let mut chunks = Chunks::new(true);
    let check = |chunks: &mut Chunks, s: &State, seq: u64| {
        let f = frame(s, true, seq);
        chunks.update(&f, Encoding::Gzip);
        let got = text(&chunks.body(Encoding::Gzip).unwrap(), Encoding::Gzip);
        assert!(
            got == full(&f),
            "state {seq}: the gzip body is the full render"
        );
        chunks.work()
    };
    let names = |s: &State| -> Vec<String> { s.resources().map(|r| r.name.to_string()).collect() };
    let first = check(&mut chunks, &s, 0);
    let blocks = chunks.blocks();
    assert!(blocks > 3 * 16, "{blocks} blocks: more than three groups");
    // The first 70 resources go (a block holds at most 64): the blocks after them are kept
    // but sit at lower indices, so most groups hold other blocks than before.
    for name in names(&s).into_iter().take(70) {
        apply(&mut s, &format!("destroy resource name:{name}"));
    }
    check(&mut chunks, &s, 1);
    assert!(chunks.blocks() < blocks, "blocks went");
    let after = chunks.work();
    assert!(
        after.groups_moved > first.groups_moved,
        "groups laid out without a render of theirs"
    );
    assert!(
        after.blocks_rendered - first.blocks_rendered < 10,
        "the blocks that moved were not rendered again"
    );
    // Down to fewer blocks than one group holds: the other groups' spans go.
    for name in names(&s).into_iter().skip(300) {
        apply(&mut s, &format!("destroy resource name:{name}"));
    }
    check(&mut chunks, &s, 2);
    assert!(chunks.blocks() <= 16, "{} blocks", chunks.blocks());
}

#[test]
fn one_changed_resource_renders_one_block_and_compresses_only_its_changed_chunks() {
    let mut s = state(400);
    let mut chunks = Chunks::new(true);
    chunks.update(&frame(&s, true, 0), Encoding::Gzip);
    chunks.body(Encoding::Gzip);
    let before = chunks.work();
    assert!(chunks.blocks() > 10, "{} blocks", chunks.blocks());
    let name = s.resources().nth(200).unwrap().name.to_string();
    let c = s
        .resources()
        .nth(200)
        .unwrap()
        .connections
        .iter()
        .next()
        .unwrap()
        .clone();
    apply(&mut s, &format!("change peer-device name:{name} peer-node-id:{} conn-name:{} volume:0 received:123456 sent:654321", c.peer_node_id, c.conn_name));
    let f = frame(&s, true, 0);
    chunks.update(&f, Encoding::Gzip);
    let gz = chunks.body(Encoding::Gzip).unwrap();
    let after = chunks.work();
    assert_eq!(after.blocks_rendered - before.blocks_rendered, 1);
    // sent and received, each in the original's family and its `_total` twin.
    assert_eq!(after.members_compressed - before.members_compressed, 4);
    assert_eq!(text(&gz, Encoding::Gzip), full(&f));
}

#[test]
fn counters_moving_everywhere_recompress_only_the_counter_families() {
    let mut s = state(150);
    let mut chunks = Chunks::new(true);
    chunks.update(&frame(&s, true, 0), Encoding::Gzip);
    let before = chunks.work();
    for r in s.resources().cloned().collect::<Vec<_>>() {
        for c in &r.connections {
            apply(&mut s, &format!("change peer-device name:{} peer-node-id:{} conn-name:{} volume:0 received:7 sent:9", r.name, c.peer_node_id, c.conn_name));
        }
    }
    let f = frame(&s, true, 0);
    chunks.update(&f, Encoding::Gzip);
    let after = chunks.work();
    let blocks = chunks.blocks() as u64;
    assert_eq!(after.blocks_rendered - before.blocks_rendered, blocks);
    assert_eq!(
        after.members_compressed - before.members_compressed,
        4 * blocks
    );
    assert!(4 < slots().len());
    assert_eq!(
        text(&chunks.body(Encoding::Gzip).unwrap(), Encoding::Gzip),
        full(&f)
    );
}

#[test]
fn an_unchanged_state_renders_nothing_and_a_new_resource_renders_at_most_two_blocks() {
    let mut s = state(500);
    let mut chunks = Chunks::new(false);
    chunks.update(&frame(&s, false, 0), Encoding::Identity);
    let w0 = chunks.work();
    chunks.update(&frame(&s, false, 1), Encoding::Identity);
    assert_eq!(chunks.work().blocks_rendered, w0.blocks_rendered);
    apply(&mut s, "create resource name:mmm-new role:Secondary suspended:no force-io-failures:no may_promote:no promotion_score:1");
    let f = frame(&s, false, 2);
    chunks.update(&f, Encoding::Identity);
    assert!(chunks.work().blocks_rendered - w0.blocks_rendered <= 2);
    assert_eq!(
        text(
            &chunks.body(Encoding::Identity).unwrap(),
            Encoding::Identity
        ),
        full(&f)
    );
}

#[test]
fn an_encoding_nobody_asked_for_since_the_last_state_is_not_kept() {
    let mut s = state(200);
    let mut chunks = Chunks::new(true);
    let f0 = frame(&s, true, 0);
    chunks.update(&f0, Encoding::Identity);
    // The same state in a second encoding: added, nothing rendered again.
    let rendered = chunks.work().blocks_rendered;
    assert!(!chunks.has(Encoding::Gzip));
    assert!(
        chunks.body(Encoding::Gzip).is_none(),
        "not without its frame"
    );
    chunks.add(&f0, Encoding::Gzip);
    assert_eq!(chunks.work().blocks_rendered, rendered);
    assert_eq!(
        text(&chunks.body(Encoding::Gzip).unwrap(), Encoding::Gzip),
        full(&f0)
    );
    let (plain, gzip) = chunks.kept_bytes();
    assert!(plain > 0 && gzip > 0 && gzip < plain / 5, "{plain} {gzip}");
    // The next state: plain was asked for since the previous one, so both stay.
    apply(&mut s, "change resource name:unknown-res role:Primary");
    chunks.update(&frame(&s, true, 1), Encoding::Gzip);
    assert!(chunks.kept_bytes().0 > 0);
    assert_eq!(chunks.dropped_bytes(), 0, "nothing dropped");
    // Only gzip since then: the plain text goes, and the update says how much of it.
    let plain_before = chunks.kept_bytes().0;
    chunks.update(&frame(&s, true, 2), Encoding::Gzip);
    assert_eq!(chunks.kept_bytes().0, 0);
    assert!(chunks.kept_bytes().1 > 0);
    assert_eq!(chunks.dropped_bytes(), plain_before);
    // A plain scrape brings it back, rendered from the frame of the same state.
    let f = frame(&s, true, 2);
    assert!(!chunks.has(Encoding::Identity));
    let plain = body(&mut chunks, &f, Encoding::Identity);
    assert_eq!(text(&plain, Encoding::Identity), full(&f));
    // Both were asked for in this state: both stay through the next.
    apply(&mut s, "change resource name:unknown-res role:Secondary");
    chunks.update(&frame(&s, true, 3), Encoding::Gzip);
    assert!(chunks.kept_bytes().0 > 0 && chunks.kept_bytes().1 > 0);
    assert_eq!(chunks.dropped_bytes(), 0);
}

#[test]
fn a_cache_that_took_no_state_has_no_body_even_for_no_resources() {
    let mut chunks = Chunks::new(true);
    assert!(!chunks.has(Encoding::Identity) && chunks.body(Encoding::Gzip).is_none());
    let empty = frame(&State::new(), true, 0);
    chunks.update(&empty, Encoding::Identity);
    let plain = chunks.body(Encoding::Identity).unwrap();
    assert_eq!(text(&plain, Encoding::Identity), full(&empty));
}

#[test]
fn the_cache_holds_no_resource_so_a_change_moves_it_instead_of_copying_it() {
    let s = state(100);
    let mut chunks = Chunks::new(true);
    let f = frame(&s, true, 0);
    chunks.update(&f, Encoding::Gzip);
    drop(f);
    // The state alone holds its resources: the core's copy on write is a move.
    for r in s.resources() {
        assert_eq!(std::sync::Arc::strong_count(r), 1, "{}", r.name);
    }
}

#[test]
fn a_frame_newer_than_the_state_taken_is_added_whole_not_mixed() {
    let mut s = state(300);
    let mut chunks = Chunks::new(false);
    chunks.update(&frame(&s, false, 0), Encoding::Identity);
    let name = s.resources().nth(150).unwrap().name.to_string();
    apply(&mut s, &format!("change resource name:{name} role:Primary"));
    let f = frame(&s, false, 0);
    chunks.add(&f, Encoding::Gzip);
    for e in [Encoding::Identity, Encoding::Gzip] {
        assert_eq!(text(&chunks.body(e).unwrap(), e), full(&f), "{e:?}");
    }
}
