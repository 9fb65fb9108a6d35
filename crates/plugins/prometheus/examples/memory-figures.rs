//! Where a scrape's memory goes, with the daemon's allocator and its options: resident memory
//! (VmRSS, and the peak VmHWM) after each step of the bench's plain-client story on a 10k x 2
//! state, beside the bytes the cache keeps. What is resident above state + kept pieces is the
//! allocator's rounding and partly used pages, and the render's temporaries.
//!
//! cargo run --release -p drbd-reactor-prometheus --example memory-figures
use drbd_reactor_prometheus::chunks::{Chunks, Encoding, Pieces};
use synth::{frame, move_counters, state};

#[path = "../benches/synth/mod.rs"]
mod synth;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// VmRSS and VmHWM in MB.
fn resident() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

/// Minor page faults of the process so far (field 10 of /proc/self/stat): pages the kernel
/// had to find and clear, which a render pays for when the pages it frees were given back.
fn faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The command may contain spaces; the fields after it do not.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(7).unwrap().parse().unwrap()
}

fn report(step: &str, chunks: Option<&Chunks>) {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let (rss, hwm) = resident();
    let (plain, gzip) = chunks.map(Chunks::kept_bytes).unwrap_or_default();
    let now = faults();
    let step_faults = now - LAST.swap(now, std::sync::atomic::Ordering::Relaxed);
    println!(
        "{step:<40} rss {rss:>7.1} MB  peak {hwm:>7.1} MB  kept plain {:>6.1} MB gzip {:>5.1} MB  \
         faults {step_faults:>6}",
        plain as f64 / 1048576.0,
        gzip as f64 / 1048576.0
    );
}

fn main() {
    synth::use_daemon_allocator_options();
    // The daemon's regions (a mimalloc heap per encoding), unless NO_REGIONS is set.
    if std::env::var_os("NO_REGIONS").is_none() {
        synth::use_daemon_regions();
    }
    report("start", None);
    let mut s = state(10_000, 2);
    report("state 10k x 2", None);
    let mut chunks = Chunks::new(true);
    let body = scrape(&mut chunks, &s, Encoding::Identity);
    report("first plain scrape (body held)", Some(&chunks));
    drop(body);
    report("body sent", Some(&chunks));
    move_counters(&mut s, |_| true, 7);
    report("statistics poll applied", Some(&chunks));
    let body = scrape(&mut chunks, &s, Encoding::Identity);
    report("plain scrape after the poll", Some(&chunks));
    drop(body);
    polls_and_scrapes(&mut chunks, &mut s, 11, Encoding::Identity);
    report("three more polls and scrapes", Some(&chunks));
    census();
    // A gzip-only client from now on: the plain pieces go at the state after next.
    polls_and_scrapes(&mut chunks, &mut s, 21, Encoding::Gzip);
    report("gzip only, three polls later", Some(&chunks));
    // What the daemon does when an encoding was dropped (server.rs, release_if_dropped).
    if let Some(pool) = drbd_reactor_prometheus::background::render_pool() {
        // SAFETY: mi_collect walks the allocator's own bookkeeping, from any thread.
        pool.broadcast(|_| collect());
    }
    collect();
    report("after collecting every thread", Some(&chunks));
    census();
    if std::env::var_os("MI_STATS").is_some() {
        // SAFETY: prints the allocator's statistics to stderr.
        unsafe { libmimalloc_sys::mi_stats_print(std::ptr::null_mut()) };
    }
}

/// With MI_AREAS set: the census of every heap's pages (see [`areas`]).
fn census() {
    if std::env::var_os("MI_AREAS").is_some() {
        extern "C" {
            // mimalloc v3: the heap every thread allocates from by default.
            fn mi_heap_main() -> *mut libmimalloc_sys::mi_heap_t;
        }
        // SAFETY: the main heap lives as long as the process.
        areas("main heap", unsafe { mi_heap_main() });
        for (i, heap) in synth::region_heaps() {
            areas(&format!("region {i}"), heap);
        }
    }
}

/// A scrape of the state `s` is now in: the cache takes it, the body is assembled.
fn scrape(chunks: &mut Chunks, s: &drbd::State, encoding: Encoding) -> Pieces {
    chunks.update(&frame(s), encoding);
    chunks.body(encoding).expect("taken")
}

/// Three statistics polls (counters moved by `from`, `from + 1`, ...), each scraped.
fn polls_and_scrapes(chunks: &mut Chunks, s: &mut drbd::State, from: u64, encoding: Encoding) {
    for round in 0..3 {
        move_counters(s, |_| true, from + round);
        scrape(chunks, s, encoding);
    }
}

/// As the daemon's release does on every render thread: the thread's part of every heap.
fn collect() {
    // SAFETY: collects the calling thread's part of live heaps.
    unsafe { libmimalloc_sys::mi_collect(true) };
    for (_, heap) in synth::region_heaps() {
        unsafe { libmimalloc_sys::mi_heap_collect(heap, true) };
    }
}

/// Per block size: the allocator's pages (areas) holding it, their committed bytes and the
/// bytes in use, the largest differences first (where partly used pages keep memory).
fn areas(name: &str, heap: *mut libmimalloc_sys::mi_heap_t) {
    use std::collections::BTreeMap;
    type Census = BTreeMap<usize, (usize, usize, usize)>;
    unsafe extern "C" fn visit(
        _: *const libmimalloc_sys::mi_heap_t,
        area: *const libmimalloc_sys::mi_heap_area_t,
        block: *mut std::ffi::c_void,
        _: usize,
        arg: *mut std::ffi::c_void,
    ) -> bool {
        if block.is_null() {
            // SAFETY: the allocator passes a valid area and our census as `arg`.
            let (area, census) = unsafe { (&*area, &mut *(arg as *mut Census)) };
            let e = census.entry(area.block_size).or_default();
            e.0 += 1;
            e.1 += area.committed;
            e.2 += area.used * area.block_size;
        }
        true
    }
    let mut census = Census::new();
    // SAFETY: visits a live heap's areas with the callback above; `census` outlives it.
    unsafe {
        libmimalloc_sys::mi_heap_visit_blocks(
            heap,
            false,
            Some(visit),
            &mut census as *mut Census as *mut std::ffi::c_void,
        );
    }
    let mut rows: Vec<_> = census.into_iter().collect();
    rows.sort_by_key(|(_, (_, committed, used))| {
        std::cmp::Reverse(committed - used.min(committed))
    });
    let (committed, used) = rows
        .iter()
        .fold((0, 0), |(c, u), (_, r)| (c + r.1, u + r.2));
    println!(
        "{name}: committed {:.1} MB, in use {:.1} MB",
        committed as f64 / 1048576.0,
        used as f64 / 1048576.0
    );
    for (size, (pages, committed, used)) in rows.iter().take(6) {
        println!(
            "  block {size:>8} B: {pages:>4} pages, committed {:>6.1} MB, in use {:>6.1} MB",
            *committed as f64 / 1048576.0,
            *used as f64 / 1048576.0
        );
    }
}
