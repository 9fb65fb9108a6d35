//! The generated state the scrape bench and the examples share: a synthetic dump applied to a
//! `State`, its render frame (enums on), and counters moved the way a statistics poll moves
//! them. Included with `#[path]` (benches and examples cannot share a module otherwise).
#![allow(dead_code)]

use drbd::{parse_line, State};
use drbd_reactor_prometheus::chunks::Frame;
use drbd_reactor_prometheus::render::RenderContext;

/// `resources` resources with `peers` peers each, from the synthetic initial dump.
pub fn state(resources: usize, peers: u32) -> State {
    let mut s = State::new();
    let mut out = Vec::new();
    for line in drbd::synth::initial_dump(resources, peers) {
        s.apply(line.event, &mut out);
        out.clear();
    }
    s
}

/// What the plugin renders from: the resources in name order, enums on.
pub fn frame(s: &State) -> Frame {
    Frame {
        resources: s.snapshot(),
        ctx: RenderContext {
            enums: true,
            ..RenderContext::default()
        },
    }
}

/// Moves the sent and received counters of every peer device of the resources `which` picks
/// (by index in name order) by `by`; returns how many lines it applied.
pub fn move_counters(s: &mut State, which: impl Fn(usize) -> bool, by: u64) -> usize {
    let lines = drbd::synth::counter_moves(s, which, by);
    let mut out = Vec::new();
    for l in &lines {
        s.apply(parse_line(l).unwrap().event, &mut out);
        out.clear();
    }
    lines.len()
}

/// The daemon's allocator options (crates/drbd-reactor/src/bin/drbd-reactor.rs): no
/// transparent huge pages, freed pages given back at once. Only for binaries whose global
/// allocator is mimalloc, before they allocate much.
pub fn use_daemon_allocator_options() {
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    // SAFETY: sets one of the allocator's options (mi_option_purge_delay = 15).
    unsafe { libmimalloc_sys::mi_option_set(15, 0) };
}

/// The daemon's regions (crates/drbd-reactor/src/bin/drbd-reactor.rs): a mimalloc heap per
/// region, created on first use, with mimalloc's size classes (`NO_SPLIT=1`: none, so pieces
/// are never kept in two parts). Only for binaries whose global allocator is mimalloc.
pub fn use_daemon_regions() {
    drbd_reactor_plugin::memory::set_regions(drbd_reactor_plugin::memory::Regions {
        alloc: region_alloc,
        // SAFETY: `p` came from mi_heap_malloc; mi_free takes it from any thread.
        free: |p| unsafe { libmimalloc_sys::mi_free(p.as_ptr().cast()) },
        good_size: if std::env::var_os("NO_SPLIT").is_some() {
            |n| n
        } else {
            // SAFETY: a pure computation on the size classes.
            |n| unsafe { libmimalloc_sys::mi_good_size(n) }
        },
    });
}

/// The regions' heaps created so far.
pub fn region_heaps() -> impl Iterator<Item = (usize, *mut libmimalloc_sys::mi_heap_t)> {
    HEAPS
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.get().map(|h| (i, *h as *mut _)))
}

static HEAPS: [std::sync::OnceLock<usize>; 2] =
    [std::sync::OnceLock::new(), std::sync::OnceLock::new()];

fn region_alloc(region: usize, len: usize) -> Option<std::ptr::NonNull<u8>> {
    // SAFETY: creates a heap for the process's life, then allocates in it.
    let heap = *HEAPS[region].get_or_init(|| unsafe { libmimalloc_sys::mi_heap_new() } as usize);
    if heap == 0 {
        return None;
    }
    // SAFETY: allocates `len` bytes in a live heap (v3 heaps take allocations from any thread).
    std::ptr::NonNull::new(unsafe { libmimalloc_sys::mi_heap_malloc(heap as *mut _, len) }.cast())
}
