//! The gzip body's family columns, laid out in *spans*: blocks go in groups of [`SPAN`], and
//! the deflate segments of a group's chunks of one family are kept in one buffer, as they
//! follow each other in the body.
//!
//! Why: kept as one piece per chunk, the gzip body at 10k resources was 10,700 pieces of
//! 1.5 KB on average. Every assembly cloned and dropped 10,700 references (a cache miss
//! each: 0.5-1 ms of a scrape after one change), and every scrape copied the short ones into
//! frames (12 MB) or sent them in `writev`s of 64 parts (slower still): an unchanged gzip
//! scrape took 2-4 ms over a minimal server's. A whole column in one buffer was copied whole
//! for one changed chunk (half a megabyte on average, in fresh pages), and its segments were
//! pending (a second copy of the body) until the end of a poll's render; a span is about
//! 25 KB, laid out by the render job of its group right after the group's blocks, and the
//! body is about 700 pieces.
//!
//! How: a block keeps per chunk its segment's CRC and length and where its bytes are: pending
//! in a piece of its own (compressed since it was laid out) or at an offset in a span, which
//! it holds a reference to. Laying out a span gathers its segments' bytes from wherever each
//! is, then writes them over the old span when nobody else holds it and the size classes
//! stay (a poll), else into a new buffer; a span whose segments all sit in order in its
//! buffer is kept. A
//! resource added or removed moves the blocks after it to other groups, whose spans are laid
//! out again from the buffers their segments hold.
//!
//! Must never: read a segment from any buffer but the one it holds, or leave a segment
//! pending once its group was laid out.

use crate::block::Block;
use crate::crc_tree::{Crc, CrcTree};
use crate::gzip::Segment;
use crate::kept::{Kept, Region};

/// Blocks per group, whose chunks of a family make one span: 16 blocks of about 32
/// resources.
pub const SPAN: usize = 16;

/// Where a chunk's deflate segment is.
#[derive(Debug, Clone, Default)]
pub(crate) enum Placed {
    /// No text, no segment.
    #[default]
    Nowhere,
    /// Compressed since it was laid out: in a piece of its own.
    Pending(Kept),
    /// At this offset in the span's buffer (held).
    InSpan(Kept, u32),
}

/// A chunk's deflate segment: the CRC-32 of its text, its length, where its bytes are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seg {
    pub(crate) crc: u32,
    pub(crate) len: u32,
    pub(crate) at: Placed,
}

impl From<Segment> for Seg {
    fn from(s: Segment) -> Seg {
        let len = u32::try_from(s.deflate.len()).expect("a chunk's segment is under 4 GiB");
        Seg {
            crc: s.crc,
            len,
            at: if len == 0 {
                Placed::Nowhere
            } else {
                Placed::Pending(s.deflate)
            },
        }
    }
}

/// Per slot `present` (one with text in some block): the CRC-32 of the column's text and
/// its length, from `trees` ([`CrcTree`], by the chunks' digests).
pub(crate) fn column_crcs(blocks: &[Block], present: &[bool], trees: &mut [CrcTree]) -> Vec<Crc> {
    let mut leaves: Vec<(u128, Crc)> = Vec::with_capacity(blocks.len());
    (0..present.len())
        .map(|s| {
            if !present[s] {
                return (0, 0);
            }
            leaves.clear();
            for b in blocks.iter().filter(|b| b.lens[s] > 0) {
                let seg = &b.gzip.as_ref().expect("filled")[s];
                leaves.push((b.digests[s], (seg.crc, b.lens[s] as u64)));
            }
            trees[s].update(&leaves)
        })
        .collect()
}

/// Whether every family's span of a group of blocks holds the blocks' segments in order.
pub(crate) fn spans_laid_out(blocks: &[Block], spans: &[Kept]) -> bool {
    let slots = blocks.first().map_or(0, |b| b.lens.len());
    spans.len() == slots
        && spans.iter().enumerate().all(|(s, span)| {
            let segs = blocks.iter().filter(|b| b.lens[s] > 0);
            laid_out(span, segs.map(|b| &b.gzip.as_ref().expect("filled")[s]))
        })
}

/// Lays out the spans of a group of blocks, one per family: those whose segments moved,
/// changed or came are written anew.
pub(crate) fn lay_out_spans(blocks: &mut [&mut Block], spans: &mut Vec<Kept>) {
    let slots = blocks.first().map_or(0, |b| b.lens.len());
    spans.resize_with(slots, Kept::default);
    let mut segs: Vec<Vec<&mut Seg>> = (0..slots).map(|_| Vec::with_capacity(SPAN)).collect();
    for b in blocks.iter_mut() {
        let gzip = b.gzip.as_mut().expect("filled");
        for (s, seg) in gzip.iter_mut().enumerate() {
            if b.lens[s] > 0 {
                segs[s].push(seg);
            }
        }
    }
    for (span, mut segs) in spans.iter_mut().zip(segs) {
        if !laid_out(span, segs.iter().map(|s| &**s)) {
            *span = lay_out(std::mem::take(span), &mut segs);
        }
    }
}

/// Whether `segs` sit in order in `span`, and nothing else does.
fn laid_out<'a>(span: &Kept, segs: impl IntoIterator<Item = &'a Seg>) -> bool {
    let mut end = 0;
    segs.into_iter().all(|s| {
        let here = match &s.at {
            Placed::InSpan(k, at) => k.same(span) && *at as usize == end,
            Placed::Nowhere => s.len == 0,
            Placed::Pending(_) => false,
        };
        end += s.len as usize;
        here
    }) && end == span.len()
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's scratch (the largest span's text).
pub(crate) fn free_scratch() {
    let _ = SCRATCH.try_with(|s| s.take());
}

/// Bytes this thread's scratch holds (tests).
#[cfg(test)]
pub(crate) fn scratch_held() -> usize {
    SCRATCH.with_borrow(|s| s.capacity())
}

/// The span of `segs`, from wherever each is, written over `old` when nobody else holds it
/// and the text takes its size classes (a poll changes the counter families' segments by a
/// few bytes: without this, each poll freed and allocated half the gzip body again, and
/// about 2 MB more stayed resident); each segment then holds it.
pub(crate) fn lay_out(old: Kept, segs: &mut [&mut Seg]) -> Kept {
    SCRATCH.with_borrow_mut(|text| {
        text.clear();
        for s in segs.iter() {
            match &s.at {
                Placed::Nowhere => {}
                Placed::Pending(piece) => piece.parts().iter().for_each(|p| text.extend(*p)),
                Placed::InSpan(piece, from) => {
                    for_range(piece, *from as usize, s.len as usize, |p| text.extend(p))
                }
            }
        }
        // The segments let go of the buffers they were in, `old` among them, so that it can
        // be written over if this is the last reference.
        segs.iter_mut().for_each(|s| s.at = Placed::Nowhere);
        let span = old.renew(text, Region::Gzip);
        let mut at = 0;
        for s in segs.iter_mut().filter(|s| s.len > 0) {
            s.at = Placed::InSpan(span.clone(), at);
            at += s.len;
        }
        span
    })
}

/// Calls `f` with the slices of `len` bytes of `piece` from `from` (across its two parts).
fn for_range(piece: &Kept, mut from: usize, mut len: usize, mut f: impl FnMut(&[u8])) {
    for part in piece.parts() {
        if from >= part.len() {
            from -= part.len();
            continue;
        }
        let n = (part.len() - from).min(len);
        f(&part[from..from + n]);
        (from, len) = (0, len - n);
        if len == 0 {
            return;
        }
    }
    assert_eq!(len, 0, "a segment's range lies within its span");
}

/// The bytes of `seg` (tests).
#[cfg(test)]
pub(crate) fn bytes_of(seg: &Seg) -> Vec<u8> {
    match &seg.at {
        Placed::Nowhere => Vec::new(),
        Placed::Pending(p) => p.to_vec(),
        Placed::InSpan(piece, at) => {
            let mut v = Vec::new();
            for_range(piece, *at as usize, seg.len as usize, |p| {
                v.extend_from_slice(p)
            });
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(bytes: &[u8]) -> Seg {
        Segment {
            deflate: Kept::copy(bytes),
            crc: crc32fast::hash(bytes),
        }
        .into()
    }

    fn lay(span: &Kept, segs: &mut [Seg]) -> Kept {
        let mut refs: Vec<&mut Seg> = segs.iter_mut().collect();
        if laid_out(span, refs.iter().map(|s| &**s)) {
            return span.clone();
        }
        lay_out(span.clone(), &mut refs)
    }

    #[test]
    fn a_span_is_its_segments_in_order_and_each_segment_finds_its_bytes_in_it() {
        let texts: [&[u8]; 4] = [b"abc", b"", b"defgh", b"i"];
        let mut segs: Vec<Seg> = texts.iter().map(|t| pending(t)).collect();
        let span = lay(&Kept::default(), &mut segs);
        assert_eq!(span.to_vec(), b"abcdefghi");
        for (s, t) in segs.iter().zip(texts) {
            assert!(!matches!(s.at, Placed::Pending(_)), "nothing left pending");
            assert_eq!(bytes_of(s), t);
        }
    }

    #[test]
    fn a_laid_out_span_is_kept_and_a_changed_one_takes_the_others_from_it() {
        let mut segs: Vec<Seg> = [&b"one"[..], b"two", b"three"]
            .iter()
            .map(|t| pending(t))
            .collect();
        let span = lay(&Kept::default(), &mut segs);
        let same = lay(&span, &mut segs);
        assert!(same.same(&span), "nothing moved: the very same buffer");
        // The middle one changes, and grows; one is dropped, one added at the end.
        segs[1] = pending(b"TWO!");
        segs.remove(0);
        segs.push(pending(b"four"));
        let next = lay(&span, &mut segs);
        assert_eq!(next.to_vec(), b"TWO!threefour");
        assert_eq!(
            span.to_vec(),
            b"onetwothree",
            "a holder's bytes stay as they were"
        );
        for (s, t) in segs.iter().zip([&b"TWO!"[..], b"three", b"four"]) {
            assert_eq!(bytes_of(s), t);
        }
    }

    #[test]
    fn segments_moved_to_another_span_bring_their_bytes_from_the_one_they_held() {
        // Two spans; the first segment goes (a resource removed): the second span's first
        // segment moves into the first span, read from the second's buffer.
        let mut segs: Vec<Seg> = (0..2 * SPAN)
            .map(|i| pending(format!("seg{i};").as_bytes()))
            .collect();
        let spans: Vec<Kept> = segs
            .chunks_mut(SPAN)
            .map(|c| lay(&Kept::default(), c))
            .collect();
        segs.remove(0);
        let again: Vec<Kept> = segs
            .chunks_mut(SPAN)
            .zip(&spans)
            .map(|(c, old)| lay(old, c))
            .collect();
        let want: String = (1..2 * SPAN).map(|i| format!("seg{i};")).collect();
        let got: Vec<u8> = again.iter().flat_map(|k| k.to_vec()).collect();
        assert_eq!(String::from_utf8(got).unwrap(), want);
    }

    /// Frames of a synthetic state of `resources`, then after resource `changed`'s counters
    /// moved.
    fn one_changed(resources: usize, changed: usize) -> [crate::chunks::Frame; 2] {
        drbd_reactor_plugin::memory::stand_in::register();
        let mut s = drbd::State::new();
        for line in drbd::synth::initial_dump(resources, 2) {
            s.apply(line.event, &mut Vec::new());
        }
        let before = s.snapshot();
        for l in drbd::synth::counter_moves(&s, |i| i == changed, 5) {
            s.apply(drbd::parse_line(&l).expect("a line").event, &mut Vec::new());
        }
        [before, s.snapshot()].map(|resources| crate::chunks::Frame {
            resources,
            ctx: Default::default(),
        })
    }

    #[test]
    fn one_changed_resource_lays_out_only_its_spans_and_a_held_body_keeps_its_bytes() {
        use crate::chunks::{Chunks, Encoding};
        let _one_at_a_time = crate::test_support::exclusive();
        // 2,000 resources: 60-odd blocks, so 4 or 5 spans per family.
        let [before, after] = one_changed(2000, 1000);
        let mut chunks = Chunks::new(true);
        chunks.update(&before, Encoding::Gzip);
        let held = chunks.body(Encoding::Gzip).unwrap();
        let sent = held.concat();
        chunks.update(&after, Encoding::Gzip);
        let next = chunks.body(Encoding::Gzip).unwrap();
        assert_eq!(held.concat(), sent, "a held body's bytes stay");
        assert_eq!(held.pieces.len(), next.pieces.len(), "the same spans");
        // The gzip header, the prelude's and trailer's segments and the end are made with
        // every body; the rest are headers and spans.
        let renewed = held
            .pieces
            .iter()
            .zip(next.pieces.iter())
            .filter(|(a, b)| !a.same(b))
            .count();
        let pieces = next.pieces.len();
        assert!(
            (100..400).contains(&pieces),
            "{pieces} pieces: spans of 16 chunks (a piece per chunk: about 1,800)"
        );
        assert!(
            (4 + 1..=4 + 8).contains(&renewed),
            "{renewed} of {pieces} pieces new: one span per counter family that changed"
        );
    }

    #[test]
    fn spans_nobody_else_holds_are_written_over_even_when_a_neighbour_read_from_one_first() {
        // As the render does: spans owned by the cache alone, laid out group after group.
        drbd_reactor_plugin::memory::stand_in::register();
        let mut segs: Vec<Seg> = (0..2 * SPAN)
            .map(|i| pending(format!("seg{i};").as_bytes()))
            .collect();
        let mut spans: Vec<Kept> = segs
            .chunks_mut(SPAN)
            .map(|c| lay_out(Kept::default(), &mut c.iter_mut().collect::<Vec<_>>()))
            .collect();
        let at = |spans: &[Kept]| -> Vec<usize> {
            spans
                .iter()
                .map(|k| k.parts()[0].as_ptr() as usize)
                .collect()
        };
        let before = at(&spans);
        // The first segment goes: the first span takes the second's first segment (read from
        // the second span's buffer), then the second span is written over.
        segs.remove(0);
        for (span, c) in spans.iter_mut().zip(segs.chunks_mut(SPAN)) {
            let mut refs: Vec<&mut Seg> = c.iter_mut().collect();
            assert!(!laid_out(span, refs.iter().map(|s| &**s)));
            *span = lay_out(std::mem::take(span), &mut refs);
        }
        assert_eq!(at(&spans), before, "both written where they were");
        let want: String = (1..2 * SPAN).map(|i| format!("seg{i};")).collect();
        let got: Vec<u8> = spans.iter().flat_map(|k| k.to_vec()).collect();
        assert_eq!(String::from_utf8(got).unwrap(), want);
        for (i, s) in segs.iter().enumerate() {
            assert_eq!(bytes_of(s), format!("seg{};", i + 1).as_bytes());
        }
    }

    #[test]
    fn a_range_is_copied_across_the_two_parts_of_a_piece() {
        // 9,000 bytes in a region with size classes are kept in two parts (kept.rs).
        drbd_reactor_plugin::memory::stand_in::register();
        let text: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
        let piece = crate::kept::keep(&text, Region::Gzip);
        let first = piece.parts()[0].len();
        assert!(first < text.len(), "two parts");
        for (from, len) in [
            (0, 9000),
            (first - 10, 20),
            (first, 5),
            (3, first - 3),
            (8990, 10),
        ] {
            let mut v = Vec::new();
            for_range(&piece, from, len, |p| v.extend_from_slice(p));
            assert_eq!(v, text[from..from + len], "{from}+{len}");
        }
    }
}
