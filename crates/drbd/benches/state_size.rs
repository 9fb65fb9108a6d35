//! Bytes held by the state of a 10k-resource, 2-peer initial dump, measured with a counting
//! global allocator (target: at most 20 MB). Run: `cargo bench -p drbd --bench state_size`.

use drbd::{parse_line, synth, State};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    // `cargo bench` passes `--bench`; filters and other flags are ignored.
    let text = synth::render(&synth::initial_dump(10_000, 2));
    let before = HELD.load(Ordering::Relaxed);
    let mut state = State::new();
    let mut out = Vec::new();
    for line in text.lines() {
        state.apply(parse_line(line).unwrap().event, &mut out);
        out.clear();
    }
    drop(out);
    let held = HELD.load(Ordering::Relaxed) - before;
    println!(
        "state of {} resources (2 peers each): {} bytes = {:.2} MB ({} bytes per resource)",
        state.len(),
        held,
        held as f64 / 1e6,
        held / state.len() as isize
    );
    assert!(held < 20_000_000, "state too large: {held} bytes");
}
