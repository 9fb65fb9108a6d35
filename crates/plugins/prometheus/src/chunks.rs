//! The scrape body as cached pieces, so a scrape after a change renders (and compresses) only
//! what changed and the rest is reused.
//!
//! How the reuse is cut: the resources, in name order, fall into *blocks* of about
//! [`BLOCK`] consecutive resources. A block ends after a resource whose name hashes to a
//! multiple of the block size, so where blocks end depends on names alone: adding or removing
//! a resource changes only its own block. (A run between two such names is also cut at twice
//! the size, [`MAX_BLOCK`]; in such a run an added resource moves the cuts up to the run's end.) A
//! new state is cut by walking it against the previous blocks: a block whose resources follow
//! as the very same `Arc`s keeps its bounds, which are where names alone would cut (tested),
//! and only the names of the other resources are read. For every block and every
//! family (a [`crate::render::Slot`]) there is one *chunk*: that family's series lines for the block's
//! resources. The body is the prelude, then per family its header and its chunks in block
//! order, then the trailer; since series of consecutive resources concatenate, this is byte for
//! byte the full render.
//!
//! A block is kept while it holds the very same resources: the core changes a resource copy on
//! write (`Arc::make_mut`), which gives a changed resource a new allocation (a copy while
//! others share it, a move when only weak references remain), and the block holds a `Weak`
//! reference to each of its resources, which keeps the old allocation (not its contents), so
//! pointer equality is an exact change marker with no address reuse possible. Weak, not
//! strong: with strong references the core copied every resource it changed (a statistics
//! poll: all of them) while the cache kept the previous versions. In a block with a changed
//! resource, a family whose values all stayed (with the same objects and labels, by the
//! block's [`Fingerprint`]) keeps its chunk: when a statistics poll moves the counters of
//! every resource, the enum and info families (half the body) are not rendered again. The
//! other families of the block are rendered, blocks on every core when many changed.
//!
//! gzip is one member (RFC 1952) whose deflate stream is the concatenation of *segments*,
//! one per chunk, each compressed on its own and ended by a sync flush (byte-aligned, no final
//! block), then an empty final block; the CRC-32 of the whole is combined from the segments'
//! (the technique of pigz). Every gzip reader reads it (curl reads only the first member of a
//! multi-member stream, so members per chunk would not do). A re-rendered chunk whose text did
//! not change keeps its segment; the text is recognised by a 128-bit digest, so the plain text
//! need not be kept to compare; the CRC of a family's column of chunks is kept as a tree over
//! those digests ([`crate::crc_tree`]), and the segments in spans of 16 blocks
//! ([`crate::column`]).
//!
//! Each encoding is kept only while clients ask for it: one not asked for since the previous
//! state is dropped when the next state is taken. An encoding asked for later in the same
//! state is added from that state's frame ([`Chunks::add`]): the blocks do not keep their
//! resources to render from.
//!
//! A block and its rendering live in [`crate::block`]; this module keeps the blocks of the
//! latest state, decides what each needs and assembles the body.
//!
//! Must never: do I/O or block on anything but its own rendering; serve pieces of two states.

use crate::block::{fill_block, free_scratch, render_block, Block};
use crate::render::{render_header, render_prelude, render_trailer, slots, RenderContext};
use drbd_reactor_plugin::memory::Scope;
// Public here too: benches, examples and tests reach them as `chunks::...`.
use crate::column::{column_crcs, lay_out_spans, spans_laid_out, SPAN};
use crate::crc_tree::{combine, Crc, CrcTree};
use crate::gzip::{gzip_end, GZIP_HEADER};
pub use crate::gzip::{gzip_member, segment, segment_of, Segment};
pub use crate::kept::Kept;
use crate::walk::walk;
use drbd::{Resource, ResourceList};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The average number of resources in a block.
pub const BLOCK: usize = 32;

/// What is rendered: the resources (in name order) and everything else the body shows.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// In name order (a snapshot's list, shared).
    pub resources: ResourceList,
    pub ctx: RenderContext,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// An assembled body: pieces to be sent one after the other, shared by every scrape of it.
#[derive(Debug, Clone, Default)]
pub struct Pieces {
    pub pieces: Arc<[Kept]>,
    pub len: u64,
}

impl Pieces {
    fn new(pieces: Vec<Kept>) -> Self {
        let len = pieces.iter().map(|p| p.len() as u64).sum();
        Pieces {
            pieces: pieces.into(),
            len,
        }
    }

    /// The body in one buffer (tests and small bodies).
    pub fn concat(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len as usize);
        for part in self.pieces.iter().flat_map(|p| p.parts()) {
            v.extend_from_slice(part);
        }
        v
    }
}

/// How much work the cache did; tests and benchmarks read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// States taken ([`Chunks::update`] and [`Chunks::add`] calls).
    pub updates: u64,
    /// Blocks whose series were rendered.
    pub blocks_rendered: u64,
    /// Chunks compressed into a gzip member.
    pub members_compressed: u64,
    /// Bodies handed out ([`Chunks::body`] calls), plain and gzip.
    pub bodies: [u64; 2],
    /// Groups of blocks whose gzip spans were laid out with nothing of theirs rendered
    /// (blocks moved into them from other groups).
    pub groups_moved: u64,
}

/// What a block of the new state needs.
enum Job<'a> {
    /// Its resources changed: render what changed (the previous version, if any, tells).
    Render(&'a [Arc<Resource>], Option<Block>),
    /// The same resources, without an encoding that is kept now.
    Fill(&'a [Arc<Resource>]),
}

/// Work for the render pool: a block's job, or the layout of a group's spans.
enum Item<'a> {
    Block(usize, Box<Job<'a>>),
    Group(usize),
}

/// The value behind `m` (a panic in a render elsewhere does not make it unusable here).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cached pieces of the latest state.
pub struct Chunks {
    block: usize,
    blocks: Vec<Block>,
    enums: bool,
    prelude: Kept,
    trailer: Kept,
    /// Per slot: the header, plain and as a deflate segment (built once).
    headers: Vec<(Kept, Segment)>,
    /// Encodings asked for since the last update.
    asked: [bool; 2],
    /// Encodings the blocks keep until the next update.
    keep: [bool; 2],
    assembled: [Option<Pieces>; 2],
    /// Whether a state was taken at all (before, there is no body in any encoding).
    taken: bool,
    /// Per slot: the CRC-32 of the column's chunks, as a tree over their digests and CRCs.
    columns: Vec<CrcTree>,
    /// Per group of [`SPAN`] blocks, per slot: the deflate segments of the group's chunks
    /// of that family, in one span ([`crate::column`]).
    spans: Vec<Vec<Kept>>,
    /// See [`Chunks::dropped_bytes`].
    dropped: u64,
    work: Work,
}

fn index(e: Encoding) -> usize {
    match e {
        Encoding::Identity => 0,
        Encoding::Gzip => 1,
    }
}

impl Chunks {
    pub fn new(enums: bool) -> Self {
        Chunks::with_block(enums, BLOCK)
    }

    /// With another average block size (tests and benchmarks).
    pub fn with_block(enums: bool, block: usize) -> Self {
        let headers = slots()
            .iter()
            .map(|s| {
                let mut h = String::new();
                render_header(s.meta(), &mut h);
                let segment = segment(h.as_bytes());
                (Kept::copy(h.as_bytes()), segment)
            })
            .collect();
        free_scratch();
        Chunks {
            block: block.max(1),
            blocks: Vec::new(),
            enums,
            prelude: Kept::default(),
            trailer: Kept::default(),
            headers,
            asked: [false; 2],
            keep: [false; 2],
            assembled: [None, None],
            taken: false,
            columns: vec![CrcTree::default(); slots().len()],
            spans: Vec::new(),
            dropped: 0,
            work: Work::default(),
        }
    }

    pub fn work(&self) -> Work {
        self.work
    }

    /// Bytes of chunks kept, plain and gzip (headers, prelude and trailer aside), from the
    /// lengths the blocks keep (no piece is read).
    pub fn kept_bytes(&self) -> (u64, u64) {
        let kept = self.blocks.iter().map(Block::kept_bytes);
        kept.fold((0, 0), |(p, g), (bp, bg)| (p + bp, g + bg))
    }

    /// Bytes of chunks the last state taken dropped: with an encoding nobody asked for since
    /// the state before, and with the blocks of resources that went (chunks replaced by new
    /// text aside).
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped
    }

    /// The number of blocks the resources fall into.
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Takes a new state; `wanted` is the encoding the scrape that brought it asks for.
    pub fn update(&mut self, frame: &Frame, wanted: Encoding) {
        self.take(frame, wanted, true);
    }

    /// Adds `encoding` to the state taken last, whose `frame` this is (a client asked for an
    /// encoding that is not kept): blocks that lack it render or compress it. Should `frame`
    /// be newer after all, its changed blocks are rendered as by [`Chunks::update`], so the
    /// body is never made of two states.
    pub fn add(&mut self, frame: &Frame, encoding: Encoding) {
        self.take(frame, encoding, false);
    }

    /// Whether [`Chunks::body`] has `encoding` without an [`Chunks::add`].
    pub fn has(&self, encoding: Encoding) -> bool {
        self.taken
            && (self.assembled[index(encoding)].is_some()
                || self.blocks.iter().all(|b| b.has(encoding)))
    }

    fn take(&mut self, frame: &Frame, wanted: Encoding, new_state: bool) {
        self.work.updates += 1;
        self.taken = true;
        self.asked[index(wanted)] = true;
        let was_kept = self.keep;
        if new_state {
            // What was asked for since the previous state is kept until the next one.
            self.keep = self.asked;
            self.asked = [false; 2];
        } else {
            self.keep = [self.keep[0] || self.asked[0], self.keep[1] || self.asked[1]];
        }
        // An encoding kept until now and not any more: its bytes.
        let lost = [was_kept[0] && !self.keep[0], was_kept[1] && !self.keep[1]];
        self.dropped = if lost.contains(&true) {
            let (plain, gzip) = self.kept_bytes();
            u64::from(lost[0]) * plain + u64::from(lost[1]) * gzip
        } else {
            0
        };
        let [keep_plain, keep_gzip] = self.keep;
        self.assembled = [None, None];

        // The blocks of the new list, and per block its previous version when it changed
        // (None: kept). Walked by address (the block after the last placed tried first, see
        // crate::walk): where a previous block's resources follow
        // as the very same `Arc`s, it is kept with its bounds, and only the names of changed
        // or new resources are read and hashed (the snapshot touched every resource's
        // reference count, not its name: 10k names read here were 10k cache misses). The cut
        // is the same as `cut` by names alone: a kept block started where the previous run
        // ended and holds the same names, so a cut from there ends where it ended.
        let previous = std::mem::take(&mut self.blocks);
        let walked = walk(frame.resources.as_slice(), previous, self.block);
        let (mut blocks, plan) = (walked.blocks, walked.plan);
        self.dropped += walked.gone_bytes;
        let rendered = AtomicUsize::new(0);
        let compressed = AtomicUsize::new(0);
        let moved_groups = AtomicUsize::new(0);
        let enums = self.enums;
        let lacks = |b: &Block| {
            (keep_plain && !b.has(Encoding::Identity)) || (keep_gzip && !b.has(Encoding::Gzip))
        };
        // Per block its job; None: kept as it is.
        let jobs: Vec<Option<Job>> = blocks
            .iter()
            .zip(plan)
            .map(|(b, (run, changed))| match changed {
                Some(previous) => Some(Job::Render(run, previous)),
                None if lacks(b) => Some(Job::Fill(run)),
                None => None,
            })
            .collect();
        // Blocks render one by one on the pool (a thread preempted holds up one block, not a
        // group); the last of a group's blocks to be done lays out the group's gzip spans, so
        // that their segments are pending only that long. A group with nothing to render
        // whose spans are out of date (blocks moved to it) is laid out on its own.
        let groups = blocks.len().div_ceil(SPAN);
        self.spans.resize_with(groups, Vec::new);
        let busy = |jobs: &[Option<Job>]| jobs.iter().flatten().count();
        let left: Vec<AtomicUsize> =
            (jobs.chunks(SPAN).map(|j| AtomicUsize::new(busy(j)))).collect();
        // Spans of a group without jobs are out of date only when blocks moved between
        // groups (or the group is new): looked at only then, since it reads every segment.
        let slots = slots().len();
        let stale: Vec<bool> = (blocks.chunks(SPAN).zip(&self.spans).zip(&left))
            .map(|((blocks, spans), left)| {
                keep_gzip
                    && left.load(Ordering::Relaxed) == 0
                    && (spans.len() != slots || (walked.moved && !spans_laid_out(blocks, spans)))
            })
            .collect();
        let mut items: Vec<Item> = (jobs.into_iter().enumerate())
            .filter_map(|(i, job)| Some(Item::Block(i, Box::new(job?))))
            .collect();
        items.extend((0..groups).filter(|&g| stale[g]).map(Item::Group));
        let cells: Vec<Mutex<&mut Block>> = blocks.iter_mut().map(Mutex::new).collect();
        let spans: Vec<Mutex<&mut Vec<Kept>>> = self.spans.iter_mut().map(Mutex::new).collect();
        let lay_out_group = |g: usize| {
            let cells = &cells[g * SPAN..((g + 1) * SPAN).min(cells.len())];
            let mut guards: Vec<_> = cells.iter().map(lock).collect();
            let mut group: Vec<&mut Block> = guards.iter_mut().map(|b| &mut ***b).collect();
            lay_out_spans(&mut group, &mut lock(&spans[g]));
        };
        parallel(items, |item| match item {
            Item::Block(i, job) => {
                let mut b = lock(&cells[i]);
                match *job {
                    Job::Render(run, previous) => {
                        render_block(
                            &mut b,
                            run,
                            previous,
                            enums,
                            keep_plain,
                            keep_gzip,
                            &compressed,
                        );
                        rendered.fetch_add(1, Ordering::Relaxed);
                    }
                    Job::Fill(run) => fill_block(
                        &mut b,
                        run,
                        enums,
                        keep_plain,
                        keep_gzip,
                        &rendered,
                        &compressed,
                    ),
                }
                drop(b);
                if keep_gzip && left[i / SPAN].fetch_sub(1, Ordering::AcqRel) == 1 {
                    lay_out_group(i / SPAN);
                }
            }
            Item::Group(g) => {
                lay_out_group(g);
                moved_groups.fetch_add(1, Ordering::Relaxed);
            }
        });
        drop((cells, spans));
        // Kept blocks: drop what is not kept.
        for b in &mut blocks {
            if !keep_plain {
                b.plain = None;
            }
            if !keep_gzip {
                b.gzip = None;
            }
        }
        if !keep_gzip {
            self.spans.iter_mut().for_each(Vec::clear);
        }
        self.blocks = blocks;
        self.work.blocks_rendered += rendered.into_inner() as u64;
        self.work.members_compressed += compressed.into_inner() as u64;
        self.work.groups_moved += moved_groups.into_inner() as u64;
        let mut text = String::new();
        render_prelude(frame.resources.len(), &frame.ctx, &mut text);
        self.prelude = Kept::copy(text.as_bytes());
        let mut text = String::new();
        render_trailer(&frame.ctx, &mut text);
        self.trailer = Kept::copy(text.as_bytes());
        // The encoding asked for now stays asked for until the next state.
        self.asked[index(wanted)] = true;
    }

    /// The body of the last state taken, in `encoding`; None when that encoding is not kept
    /// (see [`Chunks::has`]: [`Chunks::add`] it first).
    pub fn body(&mut self, encoding: Encoding) -> Option<Pieces> {
        if !self.has(encoding) {
            return None;
        }
        self.asked[index(encoding)] = true;
        self.work.bodies[index(encoding)] += 1;
        if let Some(p) = &self.assembled[index(encoding)] {
            return Some(p.clone());
        }
        let pieces = self.assemble(encoding);
        self.assembled[index(encoding)] = Some(pieces.clone());
        // The scrape's rendering on this thread ends here (the render threads' at each pass).
        free_scratch();
        Some(pieces)
    }

    fn assemble(&mut self, encoding: Encoding) -> Pieces {
        let present: Vec<bool> = (0..self.headers.len())
            .map(|s| self.blocks.iter().any(|b| b.lens[s] > 0))
            .collect();
        if encoding == Encoding::Identity {
            let mut pieces = vec![self.prelude.clone()];
            for (s, (header, _)) in self.headers.iter().enumerate() {
                if present[s] {
                    pieces.push(header.clone());
                    let chunks = self.blocks.iter().filter(|b| b.lens[s] > 0);
                    pieces.extend(chunks.map(|b| b.plain.as_ref().expect("filled")[s].clone()));
                }
            }
            pieces.push(self.trailer.clone());
            return Pieces::new(pieces);
        }
        // The CRC-32 of the text: combined per family column (a tree per column recombines
        // only the paths of changed chunks: combining is the costly part), then over the whole.
        let mut crc: Crc = (0, 0);
        let mut add = |c: u32, len: u64| crc = combine(crc, (c, len));
        let (prelude, trailer) = (
            segment_of(&self.prelude.parts()),
            segment_of(&self.trailer.parts()),
        );
        let mut pieces = vec![Kept::copy(&GZIP_HEADER), prelude.deflate];
        add(prelude.crc, self.prelude.len() as u64);
        let columns = column_crcs(&self.blocks, &present, &mut self.columns);
        for (s, (header, header_seg)) in self.headers.iter().enumerate() {
            if present[s] {
                pieces.push(header_seg.deflate.clone());
                add(header_seg.crc, header.len() as u64);
                add(columns[s].0, columns[s].1);
                let spans = self.spans.iter().map(|group| &group[s]);
                pieces.extend(spans.filter(|k| !k.is_empty()).cloned());
            }
        }
        pieces.push(trailer.deflate);
        add(trailer.crc, self.trailer.len() as u64);
        let len = text_len(
            &self.blocks,
            &self.headers,
            self.prelude.len() + self.trailer.len(),
        );
        pieces.push(gzip_end(crc.0, len));
        Pieces::new(pieces)
    }
}

/// The length of the whole text: prelude and trailer, the headers of the families present,
/// every chunk.
fn text_len(blocks: &[Block], headers: &[(Kept, Segment)], edges: usize) -> u64 {
    let mut len = edges as u64;
    for (s, (header, _)) in headers.iter().enumerate() {
        let chunks: usize = blocks.iter().map(|b| b.lens[s]).sum();
        if chunks > 0 {
            len += (header.len() + chunks) as u64;
        }
    }
    len
}

/// Up to this many jobs (blocks to render, groups to lay out) run on the calling thread: a
/// change in a few resources renders a few chunks (tens of microseconds), and handing them to
/// the pool and collecting its threads' scratch afterwards took a millisecond or more of a
/// scrape after one change.
const INLINE_JOBS: usize = 4;

/// Runs `job` over `items` on every core, on the render pool's long-lived background threads
/// (see [`crate::background`]); on the calling thread for up to [`INLINE_JOBS`] items.
fn parallel<T: Send>(items: Vec<T>, job: impl Fn(T) + Sync + Send) {
    if items.is_empty() {
        return;
    }
    use rayon::prelude::*;
    match crate::background::render_pool() {
        Some(pool) if items.len() > INLINE_JOBS => {
            pool.install(|| items.into_par_iter().with_max_len(1).for_each(job));
            // Their scratch is freed now, and what they freed goes back to the system (the
            // calling thread's once the body is assembled: see crate::server).
            pool.broadcast(|_| {
                free_scratch();
                drbd_reactor_plugin::memory::release_unused(Scope::Thread);
            });
        }
        _ => items.into_iter().for_each(job),
    }
}

#[cfg(test)]
#[path = "chunks_tests.rs"]
mod tests;
