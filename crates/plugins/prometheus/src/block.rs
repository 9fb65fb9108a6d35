//! One block of the cached body ([`crate::chunks`] says how blocks are cut): its chunks per
//! family, plain and gzip, and how a block is rendered when its resources changed or filled
//! when an encoding is added to the same resources.
//!
//! Must never: keep a family's chunk whose digest changed, or render a family whose digest
//! stayed; copy text into the plain region when plain is not kept.

use crate::chunks::Encoding;
use crate::column::Seg;
use crate::fingerprint::{fingerprint, Fingerprint};
use crate::gzip::pending_segment;
use crate::kept::{keep, Kept, Region};
use crate::render::{collect, render_series, render_slots, slots};
use drbd::Resource;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

pub(crate) struct Block {
    /// The name of its first resource (blocks are found by it).
    pub(crate) first: Arc<str>,
    /// The resources rendered, as change markers only (see the chunks module comment).
    resources: Vec<Weak<Resource>>,
    /// Whether the block ended where a cut ends one (by its last name, or at the most
    /// resources a block holds), not at the end of the list: only then does it end in the
    /// same place when resources follow it.
    pub(crate) cut_after: bool,
    /// What its series show, for a new state's families to be compared with.
    print: Fingerprint,
    /// Per slot: the length and digest of the chunk's text.
    pub(crate) lens: Vec<usize>,
    pub(crate) digests: Vec<u128>,
    pub(crate) plain: Option<Vec<Kept>>,
    /// Per slot: the gzip segment (its bytes in the family's column, or pending).
    pub(crate) gzip: Option<Vec<Seg>>,
}

impl Block {
    /// A block of `run` with nothing rendered yet.
    pub(crate) fn new(run: &[Arc<Resource>], cut_after: bool) -> Block {
        Block {
            first: Arc::clone(&run[0].name),
            resources: run.iter().map(Arc::downgrade).collect(),
            cut_after,
            print: Fingerprint::default(),
            lens: Vec::new(),
            digests: Vec::new(),
            plain: None,
            gzip: None,
        }
    }

    /// The address of its first resource (kept allocated by the block's `Weak`, so no other
    /// resource can have it).
    pub(crate) fn first_address(&self) -> usize {
        self.resources[0].as_ptr() as usize
    }

    /// The number of resources in it.
    pub(crate) fn len(&self) -> usize {
        self.resources.len()
    }

    pub(crate) fn same_resources(&self, resources: &[Arc<Resource>]) -> bool {
        self.resources.len() == resources.len()
            && self
                .resources
                .iter()
                .zip(resources)
                .all(|(a, b)| std::ptr::eq(a.as_ptr(), Arc::as_ptr(b)))
    }

    /// Bytes of its pieces, plain and gzip, from the lengths it keeps (no piece is read).
    pub(crate) fn kept_bytes(&self) -> (u64, u64) {
        let plain = self
            .plain
            .as_ref()
            .map_or(0, |_| self.lens.iter().sum::<usize>());
        let gzip: usize = self.gzip.iter().flatten().map(|s| s.len as usize).sum();
        (plain as u64, gzip as u64)
    }

    pub(crate) fn has(&self, encoding: Encoding) -> bool {
        match encoding {
            Encoding::Identity => self.plain.is_some(),
            Encoding::Gzip => self.gzip.is_some(),
        }
    }
}

fn digest(text: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(text)
}

/// The text in `parts` as a gzip segment (none for no text), counted; pending until its
/// column is laid out ([`crate::column`]).
fn compress(parts: &[&[u8]], count: &AtomicUsize) -> Seg {
    if parts.iter().all(|p| p.is_empty()) {
        return Seg::default();
    }
    count.fetch_add(1, Ordering::Relaxed);
    pending_segment(parts).into()
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Frees this thread's scratch: what rendering and compressing grew to for the largest block
/// (about 1 MB). Called when a render pass ends (see [`crate::chunks`]), so a daemon between
/// two scrapes keeps none of it.
pub(crate) fn free_scratch() {
    let _ = SCRATCH.try_with(|s| s.take());
    crate::gzip::free_scratch();
    crate::column::free_scratch();
    crate::fingerprint::free_scratch();
}

/// Runs `f` with this thread's scratch strings, one per slot, empty: grown once per render
/// pass and reused block after block, so rendering allocates nothing but the kept copies of
/// its size.
fn with_scratch<R>(f: impl FnOnce(&mut [String]) -> R) -> R {
    SCRATCH.with_borrow_mut(|out| {
        out.resize_with(slots().len(), String::new);
        out.iter_mut().for_each(String::clear);
        f(out)
    })
}

/// Adds the encodings kept now to a block of the same resources: compressed from its plain
/// text when it has that, else rendered from `run` (the text is what it was: same resources).
pub(crate) fn fill_block(
    b: &mut Block,
    run: &[Arc<Resource>],
    enums: bool,
    keep_plain: bool,
    keep_gzip: bool,
    rendered: &AtomicUsize,
    compressed: &AtomicUsize,
) {
    let gzip_missing = keep_gzip && b.gzip.is_none();
    if let Some(plain) = &b.plain {
        if gzip_missing {
            b.gzip = Some(
                plain
                    .iter()
                    .map(|p| compress(&p.parts(), compressed))
                    .collect(),
            );
        }
        return;
    }
    rendered.fetch_add(1, Ordering::Relaxed);
    let refs: Vec<&Resource> = run.iter().map(|r| &**r).collect();
    with_scratch(|text| {
        render_series(&refs, enums, text);
        if gzip_missing {
            b.gzip = Some(
                text.iter()
                    .map(|t| compress(&[t.as_bytes()], compressed))
                    .collect(),
            );
        }
        if keep_plain {
            b.plain = Some(
                text.iter()
                    .map(|t| keep(t.as_bytes(), Region::Plain))
                    .collect(),
            );
        }
    });
}

/// Renders a block whose resources changed. With the previous version of the block at hand
/// and the same objects in it (only values moved), a family whose values are all unchanged
/// keeps its chunk without rendering; a rendered chunk whose text is unchanged keeps its gzip
/// segment.
pub(crate) fn render_block(
    b: &mut Block,
    run: &[Arc<Resource>],
    previous: Option<Block>,
    enums: bool,
    keep_plain: bool,
    keep_gzip: bool,
    compressed: &AtomicUsize,
) {
    let n = slots().len();
    let new = collect(run.iter().map(|r| &**r));
    let print = fingerprint(&new);
    // Per slot: what can be kept of the previous version.
    type Reused = (usize, u128, Option<Kept>, Option<Seg>);
    let mut kept: Vec<Option<Reused>> = vec![None; n];
    if let Some(p) = &previous {
        let complete = (!keep_plain || p.plain.is_some()) && (!keep_gzip || p.gzip.is_some());
        if complete && p.print.objects == print.objects {
            for s in 0..n {
                if p.print.series.get(s) == Some(&print.series[s]) {
                    let plain = p.plain.as_ref().map(|c| c[s].clone());
                    let gzip = p.gzip.as_ref().map(|c| c[s].clone());
                    kept[s] = Some((p.lens[s], p.digests[s], plain, gzip));
                }
            }
        }
    }
    b.print = print;
    // A re-rendered chunk takes the place of its predecessor: the same piece when the text
    // did not change, else written over it when nobody else holds it and the new text takes
    // the same size classes (a statistics poll re-renders half the body, and most chunks keep
    // their length or grow by a few bytes), else a fresh copy made after the old one is
    // freed, so it may take the blocks just freed. A gzip segment of unchanged text stays
    // where it is; a new one is pending until its column is laid out (see crate::column).
    let (old_digests, mut old_plain, mut old_gzip) = match previous {
        Some(p) => (p.digests, p.plain, p.gzip),
        None => (Vec::new(), None, None),
    };
    let mut plain = Vec::with_capacity(n);
    let mut gzip = Vec::with_capacity(n);
    b.lens = Vec::with_capacity(n);
    b.digests = Vec::with_capacity(n);
    with_scratch(|text| {
        render_slots(&new, enums, |s| kept[s].is_none(), text);
        for (s, text) in text.iter().enumerate() {
            if let Some((len, digest, p, g)) = kept[s].take() {
                b.lens.push(len);
                b.digests.push(digest);
                plain.push(p.unwrap_or_default());
                gzip.push(g.unwrap_or_default());
                continue;
            }
            let text = text.as_bytes();
            let d = digest(text);
            let same_text = old_digests.get(s) == Some(&d);
            let (old_chunk, old_member) =
                (take_slot(&mut old_plain, s), take_slot(&mut old_gzip, s));
            if keep_gzip {
                gzip.push(match old_member {
                    Some(m) if same_text => m,
                    _ => compress(&[text], compressed),
                });
            }
            b.lens.push(text.len());
            b.digests.push(d);
            if keep_plain {
                plain.push(match old_chunk {
                    Some(c) if same_text && !c.is_empty() => c,
                    c => c.unwrap_or_default().renew(text, Region::Plain),
                });
            }
        }
    });
    b.plain = keep_plain.then_some(plain);
    b.gzip = keep_gzip.then_some(gzip);
}

/// The previous version's piece of slot `s`, if it had that encoding.
fn take_slot<T: Default>(pieces: &mut Option<Vec<T>>, s: usize) -> Option<T> {
    pieces.as_mut()?.get_mut(s).map(std::mem::take)
}

/// Bytes this thread's scratch holds (tests).
#[cfg(test)]
fn scratch_held() -> usize {
    SCRATCH.with_borrow(|s| s.iter().map(String::capacity).sum::<usize>())
        + crate::gzip::scratch_held()
        + crate::column::scratch_held()
        + crate::fingerprint::scratch_held()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunks::{Chunks, Encoding};
    use crate::test_support::synth_frame as frame;

    /// Where the chunks of `body` are: its pieces in a region, but the first and the last (in
    /// gzip, the prelude's and trailer's segments, made with each body; in plain those are
    /// global copies, and two chunks go unchecked).
    fn addresses(body: &crate::chunks::Pieces) -> Vec<usize> {
        let mut v: Vec<usize> = body
            .pieces
            .iter()
            .map(|p| p.parts()[0].as_ptr() as usize)
            .filter(|&a| {
                drbd_reactor_plugin::memory::stand_in::live(a - crate::kept::HEADER).is_some()
            })
            .collect();
        v.pop();
        v.remove(0);
        v
    }

    #[test]
    fn a_poll_writes_changed_chunks_over_their_predecessors_unless_a_scrape_holds_them() {
        use drbd_reactor_plugin::memory::stand_in::made_here;
        let _one_at_a_time = crate::test_support::exclusive();
        // One block (rendered on this thread); polls that keep the counters' lengths (they
        // count KiB, shown in bytes: 2048, 3072, 4096). In gzip the pieces are spans, one
        // per family of the one block (crate::column).
        let frames = crate::test_support::synth_polls(3, &[2, 1, 1]);
        for encoding in [Encoding::Identity, Encoding::Gzip] {
            let mut chunks = Chunks::new(true);
            chunks.update(&frames[0], encoding);
            let before = addresses(&chunks.body(encoding).unwrap());
            assert!(before.len() > 20, "{encoding:?}: {} chunks", before.len());
            let made = made_here();
            chunks.update(&frames[1], encoding);
            assert_eq!(
                chunks.work().blocks_rendered,
                2,
                "{encoding:?}: rendered again"
            );
            assert_eq!(
                made_here(),
                made,
                "{encoding:?}: nothing allocated in a region"
            );
            let after = chunks.body(encoding).unwrap();
            assert_eq!(
                addresses(&after),
                before,
                "{encoding:?}: the same allocations"
            );
            // A scrape still sending that body: the next poll leaves its bytes alone.
            let sending = after.concat();
            chunks.update(&frames[2], encoding);
            assert_eq!(
                after.concat(),
                sending,
                "{encoding:?}: the held body did not change"
            );
            let next = chunks.body(encoding).unwrap();
            assert!(made_here() > made, "{encoding:?}: fresh copies");
            assert_ne!(next.concat(), sending, "{encoding:?}: the new state's body");
        }
    }

    #[test]
    fn no_thread_keeps_render_scratch_once_a_render_pass_ended() {
        let _one_at_a_time = crate::test_support::exclusive();
        // A single block renders on the calling thread; many on the render pool.
        for resources in [3, 2000] {
            let mut chunks = Chunks::new(true);
            chunks.update(&frame(resources), Encoding::Gzip);
            assert!(chunks.body(Encoding::Gzip).is_some());
            assert_eq!(scratch_held(), 0, "calling thread, {resources} resources");
            let pool = crate::background::render_pool().expect("a render pool");
            let held: usize = pool.broadcast(|_| scratch_held()).into_iter().sum();
            assert_eq!(held, 0, "render threads, {resources} resources");
        }
        // What is measured is what rendering grows.
        with_scratch(|text| text[0].push('x'));
        let _ = crate::gzip::segment(b"text");
        assert!(scratch_held() > 0);
        free_scratch();
        assert_eq!(scratch_held(), 0);
    }
}
