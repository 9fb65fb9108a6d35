//! How a new state's resources fall into blocks, found by walking them against the previous
//! state's blocks ([`crate::chunks`] says why blocks end where names say).
//!
//! Why a walk of its own: it runs on every scrape after a change, and at 10k resources it
//! took 0.4-0.5 ms of a scrape after one change, most of it building two maps of the 365
//! previous blocks (by the address of their first resource and by its name: a cache miss or
//! two per block) before looking anything up. The previous blocks are visited in order, so
//! the walk first tries the block after the last one it placed; the maps are built only when
//! that fails (a resource added or removed), once.
//!
//! Must never: cut a list where names alone would not cut it (tested in `chunks_tests.rs`),
//! hand out a previous block twice, or say nothing moved when a kept block changed its index.

use crate::block::Block;
use drbd::Resource;
use std::collections::HashMap;
use std::sync::Arc;

/// A run of resources and, when it must be rendered, the previous version of its block (if
/// any; None inside: a new block). `None` outside: the block is kept as it is.
pub(crate) type Planned<'a> = (&'a [Arc<Resource>], Option<Option<Block>>);

/// The previous blocks by the address of their first resource, and by its name.
type Maps = (HashMap<usize, usize>, HashMap<Arc<str>, usize>);

/// What a walk found: the blocks of the new list, per block what it needs, whether any
/// block kept is at another index than before (or their number changed: the groups of
/// [`crate::column`] then hold other blocks), and the bytes of the previous blocks that went.
pub(crate) struct Walked<'a> {
    pub(crate) blocks: Vec<Block>,
    pub(crate) plan: Vec<Planned<'a>>,
    pub(crate) moved: bool,
    pub(crate) gone_bytes: u64,
}

/// The blocks of `list` (in name order; blocks of about `size`), reusing `previous`' blocks
/// where they hold the very same resources, and per block what it needs.
pub(crate) fn walk(list: &[Arc<Resource>], previous: Vec<Block>, size: usize) -> Walked<'_> {
    let before = previous.len();
    let mut old: Vec<Option<Block>> = previous.into_iter().map(Some).collect();
    let mut maps: Option<Maps> = None;
    let maps_of = |old: &[Option<Block>]| {
        let blocks = || {
            old.iter()
                .enumerate()
                .filter_map(|(k, b)| Some((k, b.as_ref()?)))
        };
        (
            blocks().map(|(k, b)| (b.first_address(), k)).collect(),
            blocks().map(|(k, b)| (Arc::clone(&b.first), k)).collect(),
        )
    };
    let mut blocks = Vec::with_capacity(old.len());
    let mut plan = Vec::with_capacity(old.len());
    // The previous block expected next: the one after the last placed.
    let mut next = 0;
    let mut moved = false;
    let mut at = 0;
    while at < list.len() {
        let address = Arc::as_ptr(&list[at]) as usize;
        let follows = |k: usize, old: &[Option<Block>]| {
            let b = old.get(k)?.as_ref()?;
            let end = at + b.len();
            let same = b.first_address() == address
                && end <= list.len()
                && (b.cut_after || end == list.len())
                && b.same_resources(&list[at..end]);
            same.then_some(k)
        };
        // The expected block, or (it was not: resources came or went) any.
        let kept = follows(next, &old).or_else(|| {
            let expected = old.get(next).and_then(Option::as_ref);
            // A changed resource in the expected block's place: no other block starts here.
            if expected.is_some_and(|b| *b.first == *list[at].name) {
                return None;
            }
            let (by_address, _) = maps.get_or_insert_with(|| maps_of(&old));
            by_address.get(&address).and_then(|&k| follows(k, &old))
        });
        if let Some(k) = kept {
            moved |= k != blocks.len();
            let b = old[k].take().expect("found");
            plan.push((&list[at..at + b.len()], None));
            at += b.len();
            blocks.push(b);
            next = k + 1;
            continue;
        }
        let (len, cut_after) = run_at(&list[at..], size);
        let run = &list[at..at + len];
        at += len;
        let named = |k: usize, old: &[Option<Block>]| {
            old.get(k)?
                .as_ref()
                .filter(|b| b.first == run[0].name)
                .map(|_| k)
        };
        let found = named(next, &old).or_else(|| {
            let (_, by_name) = maps.get_or_insert_with(|| maps_of(&old));
            by_name.get(&*run[0].name).and_then(|&k| named(k, &old))
        });
        if let Some(k) = found {
            next = k + 1;
        }
        match found.and_then(|k| old[k].take()) {
            Some(mut b) if b.same_resources(run) => {
                moved |= found != Some(blocks.len());
                b.cut_after = cut_after;
                plan.push((run, None));
                blocks.push(b);
            }
            previous => {
                plan.push((run, Some(previous)));
                blocks.push(Block::new(run, cut_after));
            }
        }
    }
    // A block that went took its pieces with it (a block replaced by a new version of its
    // resources is not counted: its pieces are replaced by others of about their size).
    let gone = old.iter().flatten().map(Block::kept_bytes);
    let gone_bytes = gone.map(|(plain, gzip)| plain + gzip).sum();
    Walked {
        moved: moved || blocks.len() != before,
        blocks,
        plan,
        gone_bytes,
    }
}

/// The most resources a block holds, in average block sizes. Each render thread's scratch
/// grows to the text of the largest block it rendered (and, strings growing by doubling, up
/// to twice that): at four times the average (128 resources, 1.25 MB of text at 10k x 2) a
/// render thread held 2.1 MB of scratch at the end of a cold render, at its peak. About one
/// run in eight between two boundaries by name reaches twice the average and is cut there.
const MAX_BLOCK: usize = 2;

/// The first block of `resources` (blocks of about `size`): it ends after a resource whose
/// name hashes to 0 modulo `size`, or when it holds [`MAX_BLOCK`]` * size` resources (then
/// true: "cut after"), else at the end of `resources`. Returns its length.
pub(crate) fn run_at(resources: &[Arc<Resource>], size: usize) -> (usize, bool) {
    for (i, r) in resources.iter().enumerate() {
        let ends = xxhash_rust::xxh3::xxh3_64(r.name.as_bytes()) % size as u64 == 0;
        if ends || i + 1 >= MAX_BLOCK * size {
            return (i + 1, true);
        }
    }
    (resources.len(), false)
}
